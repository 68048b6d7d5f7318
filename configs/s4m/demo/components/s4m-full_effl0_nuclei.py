# Component study on the demo: full S4M (SAM refinement, ARP on the refined
# pseudo-labels, strong photometric augmentation), i.e. the demo student
# itself, named here so that the study lists its four students side by
# side.
_base_ = '../s4m-student_effl0_nuclei.py'
