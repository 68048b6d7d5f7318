# S4M stage 2 around a detector that is not a Mask2Former (Mask R-CNN,
# RTMDet-Ins), put around the model of a model base by a student config:
#     model = dict(_base_.prediction_s4m, _delete_=True,
#                  detector=_base_.model,
#                  semi_train_cfg=dict(_base_.prediction_s4m.semi_train_cfg,
#                                      score_thr=...))
# The paper's wrapper (s4m.py: SAM 2 Hiera-L refinement with one prompt of 3
# points, ARP, the strong photometric augmentation), but the pseudo-labels
# are the teacher's own predictions (PredictionPseudoLabeler: its test_cfg,
# then score > score_thr and more than min_mask_area mask pixels) and SAM's
# points are drawn in their binary masks (the teacher has no mask logits).
# - unsup_weight 2.0: the S4M paper's (config/add_cfg.py UNSUP_WEIGHT);
#   sup_weight 1.0: S4M's and mmdet's soft teacher's;
# - min_mask_area 80: the paper's sigmoid-sum > 5 at stride 4 is about 80
#   pixels at the input (PredictionPseudoLabeler's default);
# - score_thr: each student config states its own (the scores of a box
#   classifier and of a quality-focal head differ; unset, the labeler's
#   0.7).
_base_ = './s4m.py'

prediction_s4m = dict(
    _base_.s4m,
    pseudo_labeler=dict(type='PredictionPseudoLabeler'),
    semi_train_cfg=dict(
        sup_weight=1.0, unsup_weight=2.0, min_mask_area=80),
    refiner=dict(_base_.s4m.refiner, point_sampling='in_mask'))
