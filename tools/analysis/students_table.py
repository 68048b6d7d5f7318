# Copyright (c) s4m-mm authors. All rights reserved.
"""Write the students table: mask AP of every component row for each
student architecture on the demo, their paired differences, and the cost
of an S4M iteration over a mean teacher's for each student.

    python tools/analysis/benchmark_iteration.py \\
        configs/s4m/demo/s4m-student_effl0_nuclei.py \\
        configs/s4m/demo/s4m-student_mask-rcnn_effl0_nuclei.py \\
        configs/s4m/demo/s4m-student_rtmdet-ins_effl0_nuclei.py \\
        --out work_dirs/students_benchmark.json
    python tools/analysis/students_table.py \\
        --study docs/results/component_study \\
        --study docs/results/component_study_mask_rcnn \\
        --study docs/results/component_study_rtmdet_ins \\
        --benchmark work_dirs/students_benchmark.json \\
        --out docs/results/students/README.md

Each ``--study`` is a folder published by ``component_study.py
--publish`` (its ``summary.json``); ``--benchmark`` is the ``--out`` of one
``benchmark_iteration.py`` run over the students' configs; the benchmark
report is copied beside the README.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import sys

from s4m_mm.analysis.students import render, study_student


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--study', action='append', required=True,
                        help='a published component study folder')
    parser.add_argument('--benchmark', required=True,
                        help='the JSON of one benchmark_iteration.py run')
    parser.add_argument('--out', required=True, help='the README to write')
    return parser.parse_args(argv)


def load(path: str, what: str) -> dict:
    """The json object at ``path``; a missing file names ``what``."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: {path} does not exist')
    with open(path) as f:
        return json.load(f)


def main(argv=None):
    args = parse_args(argv)
    typed = sys.argv[1:] if argv is None else list(argv)
    studies, paths = {}, {}
    for folder in args.study:
        summary = load(osp.join(folder, 'summary.json'), f'--study {folder}')
        student = study_student(summary)
        if student in studies:
            raise ValueError(f'--study {folder}: a second study of '
                             f'{student} (the first: {paths[student]})')
        studies[student], paths[student] = summary, folder
    benchmark = load(args.benchmark, '--benchmark')
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    copy = osp.join(osp.dirname(args.out), 'benchmark.json')
    with open(copy, 'w') as f:
        json.dump(benchmark, f, indent=2)
    text = render(studies, paths, benchmark,
                  'python tools/analysis/benchmark_iteration.py ' + ' '.join(
                      r['config'] for r in benchmark.get('runs',
                                                         [benchmark])),
                  ['python tools/analysis/students_table.py'] +
                  [shlex.quote(a) for a in typed])
    with open(args.out, 'w') as f:
        f.write(text)
    print(text)
    print(args.out)
    print(copy)


if __name__ == '__main__':
    main()
