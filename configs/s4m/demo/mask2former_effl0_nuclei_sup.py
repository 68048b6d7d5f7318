# Supervised baseline of the demo: Mask2Former trained on the labeled tiles
# only. The S4M teacher and student of the demo start from the same data.
_base_ = [
    '../_base_/models/mask2former_effl0_nuclei.py',
    '../_base_/datasets/nuclei_instance.py',
    '../_base_/schedules/demo_cpu.py', '../_base_/default_runtime.py'
]

default_hooks = dict(
    logger=dict(interval=20),
    checkpoint=dict(interval=250, max_keep_ckpts=1))
log_processor = dict(window_size=20)
randomness = dict(seed=0, deterministic=False)
