# Copyright (c) s4m-mm authors. All rights reserved.
"""tools/analysis/check_dataset.py on data as a user has it."""
import json
import os.path as osp
import shutil
import subprocess
import sys
from collections import Counter

STUDENT = 'configs/s4m/custom/s4m-student_effl0_custom.py'


def run_check(repo_root, settings, out):
    options = [f'custom_settings.{k}={v!r}' if isinstance(v, tuple) else
               f'custom_settings.{k}={v}' for k, v in settings.items()
               if k not in ('sam_options', )]
    return subprocess.run(
        [sys.executable, 'tools/analysis/check_dataset.py', STUDENT, '--out',
         out, '--cfg-options'] + options +
        ['custom_settings.teacher_checkpoint=t.pth'],
        cwd=repo_root, capture_output=True, text=True)


def test_report_counts_what_the_files_hold_and_names_problems(
        own_data, tmp_path, repo_root):
    root = str(tmp_path / 'data')
    shutil.copytree(own_data['data_root'], root)
    settings = dict(own_data, data_root=root + '/')
    with open(osp.join(root, 'annotations', 'labeled.json')) as f:
        labeled = json.load(f)
    names = {c['id']: c['name'] for c in labeled['categories']}
    expected = Counter(names[a['category_id']] for a in labeled['annotations'])

    out = str(tmp_path / 'report.json')
    result = run_check(repo_root, settings, out)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    with open(out) as f:
        report = json.load(f)
    parts = report['parts']
    assert parts['labeled']['images'] == len(labeled['images']) == 4
    assert parts['labeled']['instances_per_class'] == {
        c: expected[c]
        for c in ('disk', 'blob')
    }
    assert parts['unlabeled']['images'] == 4
    assert parts['val']['images'] == 2
    assert parts['labeled']['image_height'] == dict(
        min=64, median=64, max=64)
    assert report['problems'] == [] and report['warnings'] == []

    # a labeled image copied into the unlabeled folder, and a broken file
    leak = osp.join(root, 'unlabeled', 'copy.png')
    shutil.copy(osp.join(root, 'images', labeled['images'][0]['file_name']),
                leak)
    broken = osp.join(root, 'unlabeled', 'broken.png')
    with open(broken, 'wb') as f:
        f.write(b'\x89PNG cut')
    result = run_check(repo_root, settings, out)
    assert result.returncode == 1
    with open(out) as f:
        report = json.load(f)
    assert report['problems'] == [
        'unlabeled: 1 unreadable images (training stops on them unless '
        'skip_invalid=True)'
    ]
    assert report['parts']['unlabeled']['invalid_files'][0].startswith(
        f'{broken}: not a readable image')
    assert report['warnings'] == [
        'unlabeled: 1 images are also labeled or val images (same bytes): '
        f"['{leak}']"
    ]
    assert 'problems: 1' in result.stdout
