# Copyright (c) s4m-mm authors. All rights reserved.
"""A reusable store of SAM encoder outputs, keyed by image file.

SAM is frozen and every training image comes back many times: its encoder
outputs in the image's source frame (the decoded file, before any geometric
augmentation) are computed once and served from memory (an LRU bounded in
bytes) or from disk (one file per image) afterwards.

Disk format, one file ``<disk_dir>/<aa>/<sha1>.s4me`` per entry, the name
the SHA-1 of ``file | sam_type | img_size``::

    b'S4MEMB01'                     magic and format version (8 bytes)
    uint32 little endian            length L of the header
    L bytes of JSON                 key, tensor shapes, dtype, payload crc32
    payload                         the tensors' bytes, one after the other

A file is written to a temporary name in its directory and renamed with
``os.replace`` (atomic on POSIX and Windows), so readers in other processes
(dataloader workers, DDP ranks, the fill tool) see a whole entry or none,
and concurrent writers of one key leave one whole entry. A file whose magic,
header, size or crc32 is wrong is *corrupt*; one whose header names another
key (the same file and SAM variant with other weights or another source
size) is *stale*; both are reported as misses, counted, and overwritten
by the caller's :meth:`put`, never used.
"""
import hashlib
import json
import os
import os.path as osp
import struct
import tempfile
import zlib
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor

from mmdet.registry import TASK_UTILS

MAGIC = b'S4MEMB01'
SUFFIX = '.s4me'
STORE_DTYPES = {'float16': torch.float16, 'bfloat16': torch.bfloat16}
#: an entry: one image's encoder outputs, no batch dim
EncoderOutputs = Tuple[Tensor, ...]


def entry_nbytes(outputs: Sequence[Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in outputs)


class StoreKey:
    """What an entry is the encoder output of.

    Args:
        file (str): the image file (its path or URI as the dataset gives
            it).
        sam (dict): the SAM identity (:meth:`BaseSAMAdapter.store_identity`
            : adapter, ``sam_type``, ``img_size``, weights digest).
        source_hw (tuple[int, int]): ``(H, W)`` of the decoded image.
    """

    def __init__(self, file: str, sam: dict,
                 source_hw: Sequence[int]) -> None:
        self.file = str(file)
        self.sam = dict(sam)
        self.source_hw = (int(source_hw[0]), int(source_hw[1]))

    def as_dict(self) -> dict:
        return dict(file=self.file, sam=self.sam,
                    source_hw=list(self.source_hw))

    @property
    def name(self) -> str:
        """The entry's file name: a digest of file, SAM variant and input
        size (not of the weights: other weights make it stale)."""
        text = f'{self.file}|{self.sam["sam_type"]}|{self.sam["img_size"]}'
        return hashlib.sha1(text.encode()).hexdigest()

    @property
    def id(self) -> str:
        return json.dumps(self.as_dict(), sort_keys=True)


@TASK_UTILS.register_module()
class SAMEmbeddingStore:
    """Encoder outputs of source images, in memory and (optionally) on
    disk.

    Values are kept in ``dtype`` (half precision) in both tiers, and
    :meth:`quantize` gives a freshly computed output the same rounding, so
    that refinement does not depend on whether an image was a hit.

    Args:
        memory_bytes (int): bound of the in-memory LRU (least recently used
            out first); 0 keeps nothing in memory.
        disk_dir (str, optional): directory of the disk tier (created); one
            file per image. ``None``: memory only.
        dtype (str): ``'float16'`` or ``'bfloat16'``.

    Attributes:
        stats (dict): ``memory_hits``, ``disk_hits``, ``misses``,
            ``corrupt``, ``stale``, ``writes``, ``evictions``.
    """

    def __init__(self,
                 memory_bytes: int = 2**30,
                 disk_dir: Optional[str] = None,
                 dtype: str = 'float16') -> None:
        if not isinstance(memory_bytes, int) or memory_bytes < 0:
            raise ValueError('SAMEmbeddingStore: memory_bytes must be an int '
                             f'>= 0, got {memory_bytes!r}')
        if dtype not in STORE_DTYPES:
            raise ValueError(f'SAMEmbeddingStore: dtype must be one of '
                             f'{sorted(STORE_DTYPES)}, got {dtype!r}')
        self.memory_bytes = memory_bytes
        self.dtype = dtype
        self.disk_dir = disk_dir
        if disk_dir is not None:
            try:
                os.makedirs(disk_dir, exist_ok=True)
            except OSError as err:
                raise OSError(f'SAMEmbeddingStore: cannot create disk_dir '
                              f'{disk_dir!r}: {err}') from None
        self._memory: 'OrderedDict[str, EncoderOutputs]' = OrderedDict()
        self._memory_used = 0
        self.stats: Dict[str, int] = dict(
            memory_hits=0, disk_hits=0, misses=0, corrupt=0, stale=0,
            writes=0, evictions=0)

    # ------------------------------------------------------------ memory
    @property
    def memory_used(self) -> int:
        """Bytes of the entries held in memory."""
        return self._memory_used

    def __len__(self) -> int:
        return len(self._memory)

    def __contains__(self, key: StoreKey) -> bool:
        return key.id in self._memory

    def _remember(self, key: StoreKey, outputs: EncoderOutputs) -> None:
        nbytes = entry_nbytes(outputs)
        if nbytes > self.memory_bytes:
            return
        old = self._memory.pop(key.id, None)
        if old is not None:
            self._memory_used -= entry_nbytes(old)
        self._memory[key.id] = outputs
        self._memory_used += nbytes
        while self._memory_used > self.memory_bytes:
            _, evicted = self._memory.popitem(last=False)
            self._memory_used -= entry_nbytes(evicted)
            self.stats['evictions'] += 1

    # -------------------------------------------------------------- disk
    def path_of(self, key: StoreKey) -> str:
        """The disk file of ``key`` (whether it exists or not)."""
        if self.disk_dir is None:
            raise ValueError('SAMEmbeddingStore: no disk_dir')
        name = key.name
        return osp.join(self.disk_dir, name[:2], name + SUFFIX)

    def _read(self, key: StoreKey) -> Optional[EncoderOutputs]:
        path = self.path_of(key)
        try:
            with open(path, 'rb') as f:
                data = f.read()
        except FileNotFoundError:
            return None
        header, payload = self._parse(data)
        if header is None:
            self.stats['corrupt'] += 1
            return None
        if header['key'] != key.as_dict() or header['dtype'] != self.dtype:
            self.stats['stale'] += 1
            return None
        outputs, offset = [], 0
        dtype = STORE_DTYPES[self.dtype]
        for shape in header['shapes']:
            nbytes = 2 * _numel(shape)
            flat = torch.frombuffer(
                bytearray(payload[offset:offset + nbytes]), dtype=torch.int16)
            outputs.append(flat.view(dtype).reshape(shape))
            offset += nbytes
        return tuple(outputs)

    @staticmethod
    def _parse(data: bytes):
        """``(header, payload)`` of a file's bytes, ``(None, None)`` when
        they are not a whole, intact entry."""
        if len(data) < len(MAGIC) + 4 or data[:len(MAGIC)] != MAGIC:
            return None, None
        (length, ) = struct.unpack('<I', data[len(MAGIC):len(MAGIC) + 4])
        start = len(MAGIC) + 4 + length
        try:
            header = json.loads(data[len(MAGIC) + 4:start].decode())
            expected = sum(2 * _numel(s) for s in header['shapes'])
            crc = int(header['crc32'])
        except (ValueError, KeyError, TypeError, UnicodeDecodeError):
            return None, None
        payload = data[start:]
        if len(payload) != expected or zlib.crc32(payload) != crc:
            return None, None
        return header, payload

    def _write(self, key: StoreKey, outputs: EncoderOutputs) -> None:
        path = self.path_of(key)
        folder = osp.dirname(path)
        os.makedirs(folder, exist_ok=True)
        payload = b''.join(
            t.contiguous().view(torch.int16).numpy().tobytes()
            for t in outputs)
        header = json.dumps(
            dict(key=key.as_dict(), dtype=self.dtype,
                 shapes=[list(t.shape) for t in outputs],
                 crc32=zlib.crc32(payload))).encode()
        fd, tmp = tempfile.mkstemp(dir=folder, prefix='.tmp-',
                                   suffix=SUFFIX)
        try:
            with os.fdopen(fd, 'wb') as f:
                f.write(MAGIC)
                f.write(struct.pack('<I', len(header)))
                f.write(header)
                f.write(payload)
            os.replace(tmp, path)
        except BaseException:
            if osp.exists(tmp):
                os.remove(tmp)
            raise
        self.stats['writes'] += 1

    # ------------------------------------------------------------ public
    def quantize(self, outputs: Sequence[Tensor]) -> EncoderOutputs:
        """One image's outputs ``(C_l, H_l, W_l)`` as stored: on the CPU, in
        the store's dtype."""
        dtype = STORE_DTYPES[self.dtype]
        return tuple(t.detach().to('cpu', dtype).contiguous()
                     for t in outputs)

    def get(self, key: StoreKey) -> Optional[EncoderOutputs]:
        """The stored outputs of ``key`` (store dtype, CPU), or ``None``
        (a miss: absent, corrupt or stale)."""
        outputs = self._memory.get(key.id)
        if outputs is not None:
            self._memory.move_to_end(key.id)
            self.stats['memory_hits'] += 1
            return outputs
        if self.disk_dir is not None:
            outputs = self._read(key)
            if outputs is not None:
                self.stats['disk_hits'] += 1
                self._remember(key, outputs)
                return outputs
        self.stats['misses'] += 1
        return None

    def put(self, key: StoreKey, outputs: Sequence[Tensor]
            ) -> EncoderOutputs:
        """Store one image's outputs (quantized); returns them as
        stored."""
        outputs = self.quantize(outputs)
        self._remember(key, outputs)
        if self.disk_dir is not None:
            self._write(key, outputs)
        return outputs

    def has_on_disk(self, key: StoreKey) -> bool:
        """Whether the disk holds an intact, current entry of ``key``."""
        return self.disk_dir is not None and self._read(key) is not None


def _numel(shape) -> int:
    numel = 1
    for s in shape:
        numel *= int(s)
    return numel
