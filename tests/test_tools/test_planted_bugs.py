# Copyright (c) s4m-mm authors. All rights reserved.
"""``tools/dev/planted_bugs.json`` stays runnable: every planted bug's
``old`` text is still in its file (``mutation_test.py --planted`` refuses
the whole list otherwise) and names tests that exist, so that a refactor
which moves or rewrites the planted line is told to move the plant too."""
import json
import os.path as osp
import re

import pytest

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
with open(osp.join(REPO, 'tools', 'dev', 'planted_bugs.json')) as f:
    PLANTED = json.load(f)


@pytest.mark.parametrize('bug', PLANTED, ids=[b['name'] for b in PLANTED])
def test_planted_bug_still_applies(bug):
    path = osp.join(REPO, bug['file'])
    assert osp.isfile(path), f'{bug["name"]}: {bug["file"]} does not exist'
    with open(path) as f:
        source = f.read()
    assert bug['old'] in source, (
        f'{bug["name"]}: its old text is no longer in {bug["file"]}')
    assert bug['new'] != bug['old']
    for test in bug['tests']:
        file, name = test.split('::')
        with open(osp.join(REPO, file)) as f:
            tests = f.read()
        assert re.search(rf'^def {re.escape(name.split("[")[0])}\(', tests,
                         re.M), f'{bug["name"]}: no test {test}'
