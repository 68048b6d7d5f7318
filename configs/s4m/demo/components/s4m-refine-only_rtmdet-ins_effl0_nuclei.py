# Component study on the demo, RTMDet-Ins student
# (s4m-student_rtmdet-ins_effl0_nuclei.py): the mean teacher + SAM
# refinement of the pseudo-labels (the RTMDet-Ins demo student's LiteMedSAM,
# box prompt and agreement gate), without ARP; the strong photometric
# augmentation is kept.
_base_ = '../s4m-student_rtmdet-ins_effl0_nuclei.py'

model = dict(unsup_batch_augments=dict(arp=None))
