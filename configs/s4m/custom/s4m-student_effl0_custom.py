# S4M stage 2 on your own data with the light Mask2Former of
# s4m-teacher_effl0_custom.py. Otherwise as s4m-student_r50_custom.py.
_base_ = ['./s4m-student_r50_custom.py', '../_base_/models/effl0_light.py']

model = dict(detector=_base_.effl0_light)
