# S4M stage 1 on your own data: the paper's Mask2Former R-50 teacher with
# SAM structural distillation, on the labeled json of custom_settings.
# Inherit it and give custom_settings (docs/custom_data.md); every '${...}'
# value (class counts, input size, SAM) is filled in from them by
# S4MRunner.
_base_ = [
    '../_base_/models/mask2former_r50.py', '../_base_/models/sd_teacher.py',
    '../_base_/datasets/custom_instance.py',
    '../_base_/schedules/adamw_20k.py', '../_base_/default_runtime.py'
]

# the base's Mask2Former with SD, your classes, input size and SAM
model = _base_.model
model.update(_base_.sd_teacher)
model.update(
    _base_.custom_heads,
    sam='${sam}',
    data_preprocessor=dict(
        batch_augments=[dict(_base_.input_pad, size='${input_hw}')]))
default_hooks = dict(checkpoint=dict(interval=2000))
