# Runtime of S4M's stage 2, for every student config: the teacher's
# schedule, SAM refinement of the pseudo-labels from the first iteration,
# and validation of the teacher and the student at each evaluation
# (metrics named teacher/... and student/..., as the S4M code's
# SSL.EVAL_WHO BOTH). The hooks sit in named slots of default_hooks: a
# leaf sets default_hooks = dict(teacher_schedule=dict(teacher_checkpoint=
# ...)), a config without SAM sets default_hooks = dict(refine=None).
_base_ = './default_runtime.py'

default_hooks = dict(
    # stage-1 teacher frozen for burn_in iterations (guided burn-in), then
    # a copy of the student, then its EMA; leaves name teacher_checkpoint
    # (config/add_cfg.py: BURNIN_ITER 15000, EMA_DECAY 0.9996)
    teacher_schedule=dict(
        type='TeacherScheduleHook',
        teacher_checkpoint=None,
        burn_in=15000,
        decay=0.9996),
    refine=dict(type='PseudoLabelRefineHook', enabled=True, start_iter=0))
# Opt-in replica check of distributed runs (teacher and student identical
# in every process, SAM outside DDP):
#     default_hooks = dict(replica_check=dict(
#         type='ReplicaCheckHook', interval=5000,
#         modules=('teacher', 'student')))
# (external_digests=True also compares SAM's weights).
# Opt-in pseudo-label quality: when the unlabeled json of the split keeps
# its GT (COCO's train2017 and Cityscapes' train do; loading it takes memory
# in every process),
#     default_hooks = dict(pseudo_label_quality=dict(
#         type='PseudoLabelQualityHook', interval=500))
# logs the mask IoU / precision / recall of the teacher's, the SAM-refined
# and the ARP-mixed pseudo-labels against it (plq_* in the log and
# vis_data/scalars.json; the GT never enters training).

val_cfg = dict(type='TeacherStudentValLoop')
