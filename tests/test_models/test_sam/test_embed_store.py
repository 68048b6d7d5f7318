# Copyright (c) s4m-mm authors. All rights reserved.
"""SAMEmbeddingStore: the LRU bounded in bytes, the disk round trip, corrupt
and stale entries, and two processes writing the same entries."""
import multiprocessing as mp
import os
import os.path as osp

import pytest
import torch

from s4m_mm.models.sam import SAMEmbeddingStore, StoreKey

SAM = dict(adapter='SAMAdapter', sam_type='vit_b', img_size=64,
           weights='w0')


def key(name, sam=SAM, hw=(30, 40)):
    return StoreKey(f'images/{name}.png', sam, hw)


def outputs(seed, shapes=((8, 4, 4), (2, 8, 8))):
    g = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, generator=g) for s in shapes)


def test_memory_lru_is_bounded_in_bytes():
    # one entry: (8*4*4 + 2*8*8) float16 values = 256 * 2 = 512 bytes
    store = SAMEmbeddingStore(memory_bytes=1100)
    for i in range(3):
        store.put(key(i), outputs(i))
    assert store.memory_used == 1024 and len(store) == 2
    assert key(0) not in store and store.stats['evictions'] == 1
    assert store.get(key(1)) is not None  # 1 is now the most recent
    store.put(key(3), outputs(3))
    assert key(1) in store and key(2) not in store
    assert store.get(key(2)) is None and store.stats['misses'] == 1
    # an entry larger than the bound is not kept in memory at all
    small = SAMEmbeddingStore(memory_bytes=500)
    small.put(key(0), outputs(0))
    assert len(small) == 0 and small.memory_used == 0


def test_values_are_kept_in_half_precision_and_on_the_cpu():
    out = outputs(0)
    for dtype, torch_dtype in (('float16', torch.float16),
                               ('bfloat16', torch.bfloat16)):
        store = SAMEmbeddingStore(dtype=dtype)
        stored = store.put(key(0), out)
        assert all(t.dtype == torch_dtype for t in stored)
        for got, ref in zip(store.get(key(0)), out):
            assert torch.equal(got, ref.to(torch_dtype))


def test_disk_round_trip_in_a_new_store(tmp_path):
    first = SAMEmbeddingStore(memory_bytes=0, disk_dir=str(tmp_path))
    out = outputs(1)
    first.put(key('a'), out)
    path = first.path_of(key('a'))
    assert osp.isfile(path) and path.endswith('.s4me')
    assert [f for f in os.listdir(osp.dirname(path))
            if f.startswith('.tmp')] == []
    second = SAMEmbeddingStore(disk_dir=str(tmp_path), memory_bytes=2**20)
    got = second.get(key('a'))
    for g, ref in zip(got, out):
        assert g.shape == ref.shape
        assert torch.equal(g, ref.to(torch.float16))
    assert second.stats['disk_hits'] == 1
    # now in memory too
    assert second.get(key('a')) is not None
    assert second.stats['memory_hits'] == 1


@pytest.mark.parametrize('damage', ['flip_byte', 'truncate', 'magic'])
def test_corrupt_file_is_detected_and_recomputed(tmp_path, damage):
    store = SAMEmbeddingStore(memory_bytes=0, disk_dir=str(tmp_path))
    store.put(key('a'), outputs(2))
    path = store.path_of(key('a'))
    data = bytearray(open(path, 'rb').read())
    if damage == 'flip_byte':
        data[-3] ^= 0xFF
    elif damage == 'truncate':
        data = data[:-10]
    else:
        data[:4] = b'XXXX'
    with open(path, 'wb') as f:
        f.write(bytes(data))
    assert store.get(key('a')) is None
    assert store.stats['corrupt'] == 1 and store.stats['misses'] == 1
    store.put(key('a'), outputs(2))  # the caller recomputes
    got = store.get(key('a'))
    assert torch.equal(got[0], outputs(2)[0].half())


def test_stale_entry_other_weights_or_size_is_not_used(tmp_path):
    store = SAMEmbeddingStore(memory_bytes=0, disk_dir=str(tmp_path))
    store.put(key('a'), outputs(3))
    other_weights = key('a', sam=dict(SAM, weights='w1'))
    other_size = key('a', hw=(31, 40))
    # same file name on disk (file, variant, input size), another key
    assert store.path_of(other_weights) == store.path_of(key('a'))
    assert store.get(other_weights) is None
    assert store.get(other_size) is None
    assert store.stats['stale'] == 2
    store.put(other_weights, outputs(4))
    assert torch.equal(store.get(other_weights)[0], outputs(4)[0].half())
    assert store.get(key('a')) is None  # overwritten: now stale
    # another variant is another file
    assert store.path_of(key('a', sam=dict(SAM, sam_type='vit_l'))) != \
        store.path_of(key('a'))


def test_bad_options_are_named(tmp_path):
    with pytest.raises(ValueError, match='memory_bytes'):
        SAMEmbeddingStore(memory_bytes=-1)
    with pytest.raises(ValueError, match="'float32'"):
        SAMEmbeddingStore(dtype='float32')
    blocker = tmp_path / 'file'
    blocker.write_text('x')
    with pytest.raises(OSError, match='disk_dir'):
        SAMEmbeddingStore(disk_dir=str(blocker / 'sub'))


def _writer(disk_dir, seed, names, queue):
    """Write the entries ``names`` in an order drawn from ``seed``."""
    store = SAMEmbeddingStore(memory_bytes=0, disk_dir=disk_dir)
    order = torch.randperm(len(names),
                           generator=torch.Generator().manual_seed(seed))
    for _ in range(3):
        for i in order.tolist():
            store.put(key(names[i]), outputs(names[i]))
    queue.put(store.stats['writes'])


def test_two_processes_writing_the_same_entries(tmp_path):
    names = list(range(6))
    ctx = mp.get_context('fork')
    queue = ctx.Queue()
    procs = [
        ctx.Process(target=_writer, args=(str(tmp_path), seed, names, queue))
        for seed in (0, 1)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert sorted(queue.get(timeout=5) for _ in procs) == [18, 18]
    reader = SAMEmbeddingStore(memory_bytes=0, disk_dir=str(tmp_path))
    for name in names:
        got = reader.get(key(name))
        assert got is not None
        for g, ref in zip(got, outputs(name)):
            assert torch.equal(g, ref.half())
    assert reader.stats['corrupt'] == 0
    leftovers = [f for _, _, files in os.walk(tmp_path) for f in files
                 if not f.endswith('.s4me')]
    assert leftovers == []
