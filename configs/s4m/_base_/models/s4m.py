# S4M stage 2 without its detector: the semi-supervised wrapper, put around
# the Mask2Former of a model base by a student config:
#     model = dict(_base_.s4m, _delete_=True, detector=_base_.model)
# (its data preprocessor is the detector's, for the three branches).
# Pseudo-labels: argmax not "no object", confidence > 0.7, sigmoid sum > 5
# at 1/4 resolution, binarised at 0.5 (mask2former/maskformer_model.py
# prepare_ssl_outputs); refined by SAM with one prompt of 3 points drawn
# from softmax(mask logits), multimask, best predicted IoU
# (config/add_cfg.py NUM_POINTS 3); the unlabeled student batch goes through
# the named batch augments in order: `arp` pastes instances of >= 3000 px
# at a 1024 x 1024 input (modules/augmentation.py) with scale jitter
# 0.8-1.2, then `strong_aug`, the strong photometric augmentation (colour
# jitter 0.4/0.4/0.4/0.1 p 0.8, grayscale p 0.2, blur sigma 0.1-2 p 0.5);
# unsupervised losses x2. A child switches a component off by name:
#     model = dict(unsup_batch_augments=dict(arp=None))   # no ARP
#     model = dict(refiner=None)                         # no SAM, with
#     default_hooks = dict(refine=None)
_base_ = './s4m_sam.py'

arp = dict(
    type='AdaptiveRandomPaste',
    min_area=3000,
    reference_area=1024 * 1024,
    scale_jitter=(0.8, 1.2))
strong_aug = dict(type='StrongPhotometricAug')
s4m = dict(
    type='S4M',
    semi_train_cfg=dict(
        sup_weight=1.0, unsup_weight=2.0, score_thr=0.7, min_mask_sum=5.0),
    semi_test_cfg=dict(predict_on='student'),
    refiner=dict(
        type='SAMPseudoLabelRefiner',
        sam=_base_.sam,
        prompt='points',
        num_points=3,
        point_sampling='logits',
        # SAM on each teacher view, as the paper. frame='source' with
        # store=dict(disk_dir=...) encodes each image once (docs/sam.md,
        # "The source frame and the embedding store"); the paper configs keep 'view': at LSJ scales
        # > 1 (COCO up to 2.0, Cityscapes up to 2x) the source embedding
        # is coarser than the view's, and SAM 2 Hiera-L's store is 8 MiB
        # an image (about 0.9 TiB for COCO's unlabeled train2017)
        frame='view'),
    unsup_batch_augments=dict(arp=arp, strong_aug=strong_aug))
