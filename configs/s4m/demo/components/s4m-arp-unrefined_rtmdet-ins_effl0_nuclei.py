# Component study on the demo, RTMDet-Ins student
# (s4m-student_rtmdet-ins_effl0_nuclei.py): the mean teacher + ARP on the
# teacher's unrefined pseudo-labels (no SAM: no refiner, no refinement hook),
# then the strong photometric augmentation, as in the RTMDet-Ins demo student.
_base_ = '../s4m-student_rtmdet-ins_effl0_nuclei.py'

model = dict(refiner=None)
default_hooks = dict(refine=None)
