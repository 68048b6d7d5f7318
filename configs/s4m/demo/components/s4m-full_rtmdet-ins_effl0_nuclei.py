# Component study on the demo, RTMDet-Ins student
# (s4m-student_rtmdet-ins_effl0_nuclei.py): full S4M (SAM refinement, ARP on
# the refined pseudo-labels, strong photometric augmentation), i.e. that
# student itself, named here so that the study lists its four students side
# by side.
_base_ = '../s4m-student_rtmdet-ins_effl0_nuclei.py'
