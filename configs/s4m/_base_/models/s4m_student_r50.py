# S4M stage 2 with R-50 Mask2Formers: a fresh student (ImageNet backbone)
# and the stage-1 teacher, in the S4M wrapper.
_base_ = ['./mask2former_r50.py', './s4m.py']

detector = _base_.model
model = dict(
    _delete_=True,
    **_base_.s4m,
    detector=detector,
    data_preprocessor=dict(
        type='MultiBranchDataPreprocessor',
        data_preprocessor=detector.data_preprocessor))
