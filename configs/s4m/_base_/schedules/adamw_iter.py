# Mask2Former's optimisation, by iterations: AdamW 1e-4 (betas 0.9 / 0.999,
# eps 1e-8), weight decay 0.05, backbone lr x0.1, no weight decay on the
# query / level embeddings and on normalisation layers, gradients clipped to
# a global L2 norm of 0.01 over the whole model. Leaves set the lr schedule.
max_iters = 90000
val_interval = 5000

embed_multi = dict(lr_mult=1.0, decay_mult=0.0)
# detectron2 exempts every normalisation layer from weight decay, the
# backbone's too. mmengine applies norm_decay_mult only to parameters that no
# custom key matches, so the BatchNorm layers of a ResNet-50 backbone get
# keys of their own (longer keys take precedence over 'backbone'); they
# matter where BatchNorm trains (Cityscapes).
resnet50_norms = ['backbone.bn1'] + [
    f'backbone.layer{stage + 1}.{block}.{norm}'
    for stage, blocks in enumerate((3, 4, 6, 3)) for block in range(blocks)
    for norm in ('bn1', 'bn2', 'bn3')
] + [f'backbone.layer{stage}.0.downsample.1' for stage in range(1, 5)]
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(
        type='AdamW', lr=0.0001, weight_decay=0.05, eps=1e-8,
        betas=(0.9, 0.999)),
    paramwise_cfg=dict(
        custom_keys={
            'backbone': dict(lr_mult=0.1, decay_mult=1.0),
            **{
                name: dict(lr_mult=0.1, decay_mult=0.0)
                for name in resnet50_norms
            },
            'query_embed': embed_multi,
            'query_feat': embed_multi,
            'level_embed': embed_multi,
        },
        norm_decay_mult=0.0),
    clip_grad=dict(max_norm=0.01, norm_type=2))

param_scheduler = dict(
    type='MultiStepLR',
    begin=0,
    end=max_iters,
    by_epoch=False,
    milestones=[int(max_iters * 0.889), int(max_iters * 0.963)],
    gamma=0.1)

train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)

auto_scale_lr = dict(enable=False, base_batch_size=16)
