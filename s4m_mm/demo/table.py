# Copyright (c) s4m-mm authors. All rights reserved.
"""The table the demo prints at its end, from its ``summary.json``."""
from typing import Dict

#: the val-tile metrics of each model, in the table's order
REPORTED = ('bbox_mAP', 'bbox_mAP_50', 'segm_mAP', 'segm_mAP_50')


def print_table(summary: Dict) -> None:
    """Print the demo's table: each stage's val metrics and train seconds,
    the SD teacher's pseudo-labels before and after SAM refinement, and
    the pseudo-label quality logged while the S4M student trained (each
    part when the summary has it)."""
    stages = summary.get('stages', {})
    header = f'{"model":<14}' + ''.join(f'{k:>13}' for k in REPORTED) + \
        f'{"train (s)":>11}'
    print('\n' + header + '\n' + '-' * len(header))
    for name, res in stages.items():
        row = ''.join(f'{res["metrics"].get(k, float("nan")):>13.3f}'
                      for k in REPORTED)
        print(f'{name:<14}{row}{res["train_seconds"]:>11.0f}')
    quality = summary.get('pseudo_labels')
    if quality:
        print(f'\n{"pseudo-labels (unlabeled tiles vs hidden GT)":<46}'
              f'{"mean IoU":>9}{"precision":>10}{"recall":>8}{"count":>7}')
        for key in ('teacher', 'refined'):
            q = quality[key]
            print(f'{key:<46}{q["mean_iou"]:>9.3f}{q["precision"]:>10.3f}'
                  f'{q["recall"]:>8.3f}{q["num_pseudo"]:>7d}')
    logged = stages.get('s4m_student', {}).get('pseudo_labels_in_training')
    if logged:
        title = ('pseudo-labels in student training (mean, '
                 f'{logged["measured_iterations"]} batches)')
        print(f'\n{title:<46}{"mean IoU":>9}{"precision":>10}'
              f'{"recall":>8}')
        for key in ('teacher', 'refined', 'arp'):
            q = logged.get(key, {})
            print(f'{key:<46}' + ''.join(
                f'{q.get(m, float("nan")):>{w}.3f}'
                for m, w in (('iou', 9), ('precision', 10), ('recall', 8))))
