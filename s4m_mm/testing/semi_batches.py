# Copyright (c) s4m-mm authors. All rights reserved.
"""Batches of S4M's stage 2 for in-process tests: 64 px uint8 images of
nuclei-like blobs, a labeled batch with its masks and two views (identity
and horizontal flip) of an unlabeled batch, through a model's own data
preprocessor."""
import numpy as np
import torch
from mmengine.structures import InstanceData

from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks

#: the side of every test image (px)
SIZE = 64
#: the homography of a horizontal flip of a ``SIZE`` px image
FLIP = np.array([[-1., 0., SIZE], [0., 1., 0.], [0., 0., 1.]],
                dtype=np.float32)


def raw_batch(seed, n=3):
    """``n`` uint8 BGR images of nuclei-like blobs with their masks."""
    g = torch.Generator().manual_seed(seed)
    images, masks = [], []
    for _ in range(n):
        image = torch.randint(0, 60, (3, SIZE, SIZE), generator=g,
                              dtype=torch.uint8)
        mask = torch.zeros(2, SIZE, SIZE, dtype=torch.bool)
        for k in range(2):
            y, x = torch.randint(4, SIZE - 24, (2, ), generator=g).tolist()
            mask[k, y:y + 18, x:x + 16] = True
            image[:, mask[k]] = 200 + 20 * k
        images.append(image)
        masks.append(mask)
    return images, masks


def sample(homography=None, gt=None):
    meta = dict(img_shape=(SIZE, SIZE), ori_shape=(SIZE, SIZE),
                scale_factor=(1., 1.))
    if homography is not None:
        meta['homography_matrix'] = homography
    s = DetDataSample(metainfo=meta)
    if gt is None:
        s.gt_instances = InstanceData()
    else:
        s.gt_instances = InstanceData(
            masks=BitmapMasks(gt.numpy().astype(np.uint8), SIZE, SIZE),
            labels=torch.zeros(len(gt), dtype=torch.long),
            bboxes=torch.zeros(len(gt), 4))
    return s


def multi_batch(model):
    """A labeled batch and two views (identity, horizontal flip) of an
    unlabeled batch, through the model's own data preprocessor."""
    sup_images, sup_masks = raw_batch(1)
    unsup_images, _ = raw_batch(2)
    data = dict(
        inputs=dict(
            sup=sup_images,
            unsup_teacher=[im.clone() for im in unsup_images],
            unsup_student=[im.flip(-1) for im in unsup_images]),
        data_samples=dict(
            sup=[sample(gt=m) for m in sup_masks],
            unsup_teacher=[sample(np.eye(3, dtype=np.float32))
                           for _ in unsup_images],
            unsup_student=[sample(FLIP) for _ in unsup_images]))
    out = model.data_preprocessor(data, True)
    return out['inputs'], out['data_samples'], unsup_images
