# Copyright (c) s4m-mm authors. All rights reserved.
"""The README's main job: the nuclei demo, end to end, on the CPU.

    python tools/run_demo.py                      # or: make demo
    python tools/run_demo.py --stages supervised sd_teacher \\
        --cfg-options train_cfg.max_iters=4

Builds the demo data once, trains and tests the supervised baseline, the SD
teacher (S4M stage 1), a plain mean teacher and the S4M student from that
teacher, measures the teacher's pseudo-labels, prints one table and writes
it to ``<work-dir>/summary.json``; ``--stages`` runs a subset, the results
of earlier stages are kept in the summary. The stages are
:mod:`s4m_mm.demo.stages`.
"""
import argparse

from s4m_mm.demo import STAGES, run_demo


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/demo')
    parser.add_argument('--data-root', default='data/nuclei')
    parser.add_argument(
        '--stages', nargs='+', choices=STAGES, default=list(STAGES))
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        default=[],
        help='passed to every tools/train.py call, e.g. train_cfg.max_iters=4')
    return parser.parse_args()


def main():
    args = parse_args()
    run_demo(args, args.stages)


if __name__ == '__main__':
    main()
