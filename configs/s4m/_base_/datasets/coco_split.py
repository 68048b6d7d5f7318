# How to make COCO 2017's semi-supervised splits (mmdet's names:
# semi_anns/instances_train2017.{fold}@{percent}[-unlabeled].json) when a
# file is missing: for every COCO dataset base, and for configs that
# inherit one of mmdet's COCO recipes (the RTMDet-Ins teachers).
split_hint = (
    'COCO 2017 goes in data/coco (https://cocodataset.org); create the split '
    'with `python tools/dataset_converters/split_coco_semi.py '
    'data/coco/annotations/instances_train2017.json --out-dir '
    'data/coco/semi_anns`')
