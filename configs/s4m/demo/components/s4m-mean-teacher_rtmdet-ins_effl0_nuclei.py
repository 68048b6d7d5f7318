# Component study on the demo, RTMDet-Ins student
# (s4m-student_rtmdet-ins_effl0_nuclei.py): that student as a plain mean
# teacher. No SAM (no refiner, no refinement hook) and no ARP; the strong
# photometric augmentation of the unlabeled batch is kept. Teacher, data,
# schedule, seed and pseudo-label quality as the RTMDet-Ins demo student.
_base_ = '../s4m-student_rtmdet-ins_effl0_nuclei.py'

model = dict(refiner=None, unsup_batch_augments=dict(arp=None))
default_hooks = dict(refine=None)
