# Copyright (c) s4m-mm authors. All rights reserved.
"""Publishing a component study's results out of its work dir:
``--publish DIR`` writes ``DIR/README.md``, ``DIR/summary.json`` (the
small part of the summary that the README cites: no prediction paths, no
dev curves, no per-iteration logs) and the figures of
:data:`~s4m_mm.analysis.component_study.figures.FIGURES`; and what a
summary records of where it came from (date, commit)."""
import datetime
import os
import os.path as osp
import subprocess
from typing import Dict, List, Optional

from .figures import FIGURES, plot
from .readme import write_readme
from .runs import write_json

#: the files ``--publish DIR`` writes, in DIR
PUBLISHED = ('README.md', 'summary.json') + FIGURES
#: what the published summary keeps of each run
RUN_KEYS = ('row', 'fold', 'seed', 'student', 'metrics', 'best_iter',
            'stopped_iter', 'max_iters', 'settings', 'machine')
#: what it keeps of the call's settings
SETTING_KEYS = ('student', 'folds', 'num_labeled', 'num_dev', 'monitor',
                'early_stopping_on')


def git_commit(repo: str) -> Optional[str]:
    """HEAD of the checkout ``repo``, ``+dirty`` when its tracked files
    differ from it; None outside a git checkout."""
    def git(*cmd):
        return subprocess.run(['git', '-C', repo, *cmd], check=True,
                              capture_output=True, text=True).stdout.strip()

    try:
        head = git('rev-parse', 'HEAD')
        dirty = git('status', '--porcelain', '--untracked-files=no')
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ('+dirty' if dirty else '')


def utc_now() -> str:
    """The time now, UTC, to the second (ISO 8601)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.replace(microsecond=0).isoformat()


def publishable(summary: Dict) -> Dict:
    """The part of ``summary`` the README cites: the aggregate per row,
    the pooled evaluations, the paired differences, each run's metrics,
    iterations, settings and machine, a few settings of the call, and its
    command, date and commit when recorded."""
    runs = []
    for x in summary['runs']:
        run = {k: x[k] for k in RUN_KEYS if k in x}
        run['split'] = {'seed': x.get('split', {}).get('seed')}
        runs.append(run)
    settings = summary.get('settings', {})
    out = dict(
        aggregate=summary['aggregate'], pooled=summary['pooled'],
        paired=summary.get('paired', {}), runs=runs,
        settings={k: settings[k] for k in SETTING_KEYS if k in settings})
    out.update({k: summary[k] for k in ('command', 'date', 'commit')
                if k in summary})
    return out


def publish(summary: Dict, out_dir: str) -> List[str]:
    """Write :data:`PUBLISHED` into ``out_dir`` (made if missing) from the
    full ``summary`` (the figures need the runs' dev curves): their paths,
    in that order. The README is rendered from the published summary, so
    that it cites nothing the published summary lacks."""
    os.makedirs(out_dir, exist_ok=True)
    small = publishable(summary)
    readme = write_readme(small, osp.join(out_dir, 'README.md'))
    path = osp.join(out_dir, 'summary.json')
    write_json(path, small)
    return [readme, path] + plot(summary, out_dir)
