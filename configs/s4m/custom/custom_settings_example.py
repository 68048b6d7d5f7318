# An example of the settings the custom configs read: the demo's nuclei
# tiles as a user would have them (s4m_mm/demo/nuclei_data.py), written by
#     python tools/dataset_converters/prepare_nuclei_demo.py \
#         --out-dir data/my_nuclei --layout own-data
# Your config inherits a custom config and this file (or a copy of it),
#     _base_ = ['s4m_mm::s4m/custom/s4m-teacher_effl0_custom.py',
#               './my_settings.py']
# and a student config also names its teacher:
#     custom_settings = dict(teacher_checkpoint='work_dirs/.../iter_N.pth')
custom_settings = dict(
    # class names, as the categories of the labeled and val jsons
    classes=('nucleus', ),
    data_root='data/my_nuclei/',
    # COCO-format instance annotations and their images (under data_root)
    labeled_ann='annotations/labeled.json',
    labeled_img='images/',
    # unlabeled images: a folder (scanned recursively), or a text file of
    # paths (unlabeled_list), no annotation file
    unlabeled_img='unlabeled/',
    val_ann='annotations/val.json',
    val_img='images/',
    # (h, w) training crop and padded batch, multiples of 32
    input_size=(256, 256),
    # the frozen SAM (any sam_type of docs/sam.md) and its weights
    sam_type='lite_medsam',
    sam_checkpoint=None,
)
