# Copyright (c) s4m-mm authors. All rights reserved.
"""Export the student (or teacher) of an S4M checkpoint as a plain mmdet
Mask2Former checkpoint, for deployment with stock mmdet configs.

    python tools/model_converters/s4m_to_mask2former.py \
        work_dirs/s4m-student_r50_4xb6-368750iter_coco-1pct/iter_368750.pth \
        mask2former_s4m_coco1pct.pth [--which teacher]

The output holds only the chosen model's weights (no optimizer, no SAM).
"""
import argparse
import os
import os.path as osp

import torch

from s4m_mm.utils.checkpoint_compat import load_local_checkpoint


def extract(state_dict: dict, which: str, source: str) -> dict:
    """The weights under ``{which}.`` with the prefix removed."""
    prefix = f'{which}.'
    out = {k[len(prefix):]: v for k, v in state_dict.items()
           if k.startswith(prefix)}
    if not out:
        roots = sorted({k.split('.')[0] for k in state_dict})
        raise KeyError(f'{source} has no {which!r} weights (top-level keys: '
                       f'{roots}); is it an S4M stage-2 checkpoint?')
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('src', help='S4M checkpoint')
    parser.add_argument('dst', help='output .pth')
    parser.add_argument(
        '--which', choices=['student', 'teacher'], default='student')
    args = parser.parse_args()
    checkpoint = load_local_checkpoint(args.src, map_location='cpu')
    state = extract(checkpoint.get('state_dict', checkpoint), args.which,
                    args.src)
    meta = dict(checkpoint.get('meta', {}), exported_from=args.src,
                exported_model=args.which)
    meta.pop('hook_msgs', None)
    os.makedirs(osp.dirname(osp.abspath(args.dst)), exist_ok=True)
    torch.save({'state_dict': state, 'meta': meta}, args.dst)
    print(f'wrote {len(state)} tensors of the {args.which} to {args.dst}')


if __name__ == '__main__':
    main()
