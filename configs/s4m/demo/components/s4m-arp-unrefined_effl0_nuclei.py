# Component study on the demo: the mean teacher + ARP on the teacher's
# unrefined pseudo-labels (no SAM, so no PseudoLabelRefineHook), then the
# strong photometric augmentation, as in the demo student.
_base_ = '../s4m-student_effl0_nuclei.py'

model = dict(refiner=None)
custom_hooks = [
    h for h in _base_.custom_hooks if h.type != 'PseudoLabelRefineHook'
]
