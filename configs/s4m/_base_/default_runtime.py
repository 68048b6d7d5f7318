# Runtime shared by every s4m config: mmdet's runtime, iteration-based, with
# this package's modules registered into mmdet's registries.
_base_ = 'mmdet::_base_/default_runtime.py'

custom_imports = dict(imports=['s4m_mm'], allow_failed_imports=False)
default_scope = 'mmdet'
# mmengine's Runner that also fills custom_settings placeholders and lets a
# config switch any named hook of default_hooks off with None
# (s4m_mm/engine/runner/s4m_runner.py); mmdet's tools/train.py honours it
runner_type = 'S4MRunner'

default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        by_epoch=False,
        interval=5000,
        max_keep_ckpts=3,
        save_last=True),
    # stop at the first NaN / inf loss, before the checkpoint of that
    # iteration is written (s4m_mm/engine/hooks/finite_loss_hook.py)
    finite_loss=dict(type='FiniteLossHook'),
    # random generator states in checkpoints: --resume continues exactly
    # (s4m_mm/engine/hooks/rng_state_hook.py)
    rng_state=dict(type='RNGStateHook'))
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=False)

val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
