# Copyright (c) s4m-mm authors. All rights reserved.
"""tools/fill_sam_embeddings.py fills a store, skips what is there and
rewrites a corrupt entry."""
import glob
import json
import os.path as osp
import subprocess
import sys

from s4m_mm.testing import cfg_option_args, tiny_sam_cfg

STUDENT = 'configs/s4m/demo/s4m-student_effl0_nuclei.py'
TINY_SAM1 = cfg_option_args(tiny_sam_cfg(), 'model.refiner.sam')


def fill(repo_root, root, store, out):
    result = subprocess.run(
        [sys.executable, 'tools/fill_sam_embeddings.py', STUDENT, '--out',
         out, '--cfg-options',
         f'train_dataloader.dataset.datasets.0.data_root={root}/',
         f'train_dataloader.dataset.datasets.1.data_root={root}/',
         'model.refiner.frame=source',
         f'model.refiner.store.disk_dir={store}'] + TINY_SAM1,
        cwd=repo_root, capture_output=True, text=True)
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]
    with open(out) as f:
        return json.load(f)


def test_fill_skip_and_rewrite(semi_data, tmp_path, repo_root):
    root, _ = semi_data
    store = str(tmp_path / 'store')
    out = str(tmp_path / 'fill.json')
    first = fill(repo_root, root, store, out)
    # 6 unlabeled images; a 64 px ViT-B embeds 256 x 4 x 4 in fp16
    assert first['images'] == first['written'] == 6
    assert first['bytes_per_image'] == 256 * 4 * 4 * 2
    assert first['bytes_written'] == 6 * 256 * 4 * 4 * 2
    files = sorted(glob.glob(osp.join(store, '*', '*.s4me')))
    assert len(files) == 6
    second = fill(repo_root, root, store, out)
    assert second['written'] == 0 and second['already_present'] == 6
    assert second['bytes_per_image'] == 256 * 4 * 4 * 2
    with open(files[0], 'r+b') as f:
        f.seek(-1, 2)
        last = f.read(1)
        f.seek(-1, 2)
        f.write(bytes([last[0] ^ 0xFF]))  # the same size, a flipped byte
    third = fill(repo_root, root, store, out)
    assert third['written'] == 1 and third['already_present'] == 5
    assert third['corrupt_or_stale_rewritten'] == 1
