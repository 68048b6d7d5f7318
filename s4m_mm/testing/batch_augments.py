# Copyright (c) s4m-mm authors. All rights reserved.
"""What every batch augment (a ``BaseBatchAugment``) must refuse.

:data:`BAD_BATCH_AUGMENT_INPUTS` pairs a change of a good call's
``(inputs, data_samples)`` with the words the ``ValueError`` must contain:
an input that is not a ``(B, 3, H, W)`` float tensor, and data samples
that are missing or fewer than the images. A test parametrises over it and
checks its own augment.
"""

#: ``(make, message)``: ``make(inputs, samples) -> (inputs, samples)``
BAD_BATCH_AUGMENT_INPUTS = [
    (lambda x, s: (x[:, 0], s), r'\(B, 3, H, W\) tensor'),
    (lambda x, s: (x[:, :1], s), r'\(B, 3, H, W\) tensor'),
    (lambda x, s: (x.long(), s), 'float tensor'),
    (lambda x, s: (x, None), r'len\(data_samples\)=None'),
    (lambda x, s: (x, s[:2]), r'len\(data_samples\)=2 must equal'),
]
