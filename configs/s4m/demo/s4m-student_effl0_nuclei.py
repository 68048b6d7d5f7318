# S4M stage 2 on the demo: the demo's Mask2Former (EfficientNet-Lite0, one
# class, 256 px) taught by the demo's SD teacher on the unlabeled tiles,
# with LiteMedSAM refinement of the pseudo-labels, ARP, guided burn-in and
# EMA. What the demo changes from the paper's settings, for 2 CPU cores:
# ../_base_/s4m_demo_student.py.
_base_ = [
    '../_base_/models/mask2former_effl0_nuclei.py',
    '../_base_/s4m_demo_student.py'
]

model = dict(
    _base_.s4m,
    _delete_=True,
    detector=_base_.model,
    refiner=_base_.demo_refiner)
default_hooks = dict(
    teacher_schedule=dict(
        teacher_checkpoint='work_dirs/demo/sd_teacher/iter_250.pth'))
