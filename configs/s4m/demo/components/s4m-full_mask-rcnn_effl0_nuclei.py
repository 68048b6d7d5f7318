# Component study on the demo, Mask R-CNN student
# (s4m-student_mask-rcnn_effl0_nuclei.py): full S4M (SAM refinement, ARP on the
# refined pseudo-labels, strong photometric augmentation), i.e. that student
# itself, named here so that the study lists its four students side by side.
_base_ = '../s4m-student_mask-rcnn_effl0_nuclei.py'
