# Stage 2 of S4M: Mask2Former R-50 student and teacher in the S4M wrapper.
# Pseudo-labels: not "no object", confidence > 0.7, sigmoid sum > 5 at 1/4
# resolution, binarised at 0.5; refined by SAM ViT-H with one prompt of 3
# points drawn from softmax(mask logits), multimask, best predicted IoU;
# ARP with a 3000 px minimum area at 1024 x 1024; unsupervised weight 2.
_base_ = './mask2former_r50.py'

sam_checkpoint = 'data/pretrained/sam_vit_h_4b8939.pth'

detector = _base_.model
model = dict(
    _delete_=True,
    type='S4M',
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor),
    semi_train_cfg=dict(
        sup_weight=1.0, unsup_weight=2.0, score_thr=0.7, min_mask_sum=5.0),
    semi_test_cfg=dict(predict_on='student'),
    refiner=dict(
        type='SAMPseudoLabelRefiner',
        sam=dict(
            type='SAMAdapter', sam_type='vit_h', checkpoint=sam_checkpoint),
        prompt='points',
        num_points=3,
        point_sampling='logits'),
    pseudo_label_mix=dict(
        type='PseudoLabelMix',
        min_area=3000,
        reference_area=1024 * 1024,
        scale_jitter=(0.8, 1.2)))
