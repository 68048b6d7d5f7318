# RTMDet-Ins on the demo, supervised on the labeled tiles only: the
# baseline, and the stage-1 teacher of the RTMDet-Ins student. Data,
# schedule and runtime as the Mask2Former baseline
# (mask2former_effl0_nuclei_sup.py).
_base_ = [
    '../_base_/models/rtmdet-ins_effl0_nuclei.py',
    '../_base_/datasets/nuclei_instance.py',
    '../_base_/schedules/demo_cpu.py', '../_base_/default_runtime.py'
]

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=250, max_keep_ckpts=1))
log_processor = dict(window_size=20)
randomness = dict(seed=0, deterministic=False)
# RTMDetInsSepBNHead shares its convolutions between levels (share_conv):
# the optimizer skips the repeated parameters, as mmdet's RTMDet configs do
# (without it the optimizer refuses them: "some parameters appear in more
# than one parameter group")
optim_wrapper = dict(paramwise_cfg=dict(bypass_duplicate=True))
