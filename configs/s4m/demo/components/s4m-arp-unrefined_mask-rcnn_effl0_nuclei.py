# Component study on the demo, Mask R-CNN student
# (s4m-student_mask-rcnn_effl0_nuclei.py): the mean teacher + ARP on the
# teacher's unrefined pseudo-labels (no SAM: no refiner, no refinement hook),
# then the strong photometric augmentation, as in the Mask R-CNN demo student.
_base_ = '../s4m-student_mask-rcnn_effl0_nuclei.py'

model = dict(refiner=None)
default_hooks = dict(refine=None)
