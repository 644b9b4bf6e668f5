"""VGG16-FCN8s exactly as the seed prints it: pool3 and pool4 fused with the scores at stride 8.

- ``features``: VGG16 conv1_1..pool5; ``to_pool3`` (features[0:17]), ``to_pool4`` (features[17:24])
  and ``to_pool5`` (features[24:31]) are the same modules, sliced;
- ``classifier``: fc6 (2x2), fc7, class scores, then ``ConvTranspose2d(7, 256, 8, stride=4)`` from
  stride 32 to pool3's grid (stride 8) and its 256 channels;
- ``pool4_upsample``: ``ConvTranspose2d(512, 256, 2, stride=2)``, pool4 to stride 8;
- ``upsample8``: ``ConvTranspose2d(256, 7, 8, stride=8)``, the fused map to the image.

forward: ``upsample8(classifier(pool5) + pool4_upsample(pool4) + pool3)``; ``drop=("pool3",)`` leaves
that term out (an inference-time ablation: the layers after it were trained with it).
Initialisation: as the FCN paper does for skip scores, ``pool4_upsample`` starts at zero; pool3
has no layer of its own to initialise (the seed adds it unweighted), so the first scores already
mix the stride-32 path with pool3's features.
"""
from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from ..colors import NUM_CLASSES
from .base import FCN, classifier_head


class FCN8s(FCN):
    """FCN32s head fused with pool4 and pool3 at stride 8, then upsampled 8x."""

    SCORE_STRIDE = 8
    SKIPS = ("pool4", "pool3")

    def __init__(self, num_classes: int = NUM_CLASSES, weights: str | None = None) -> None:
        super().__init__(weights)
        self.classifier = classifier_head(
            num_classes, nn.ConvTranspose2d(num_classes, 256, kernel_size=8, stride=4, bias=False)
        )
        self.to_pool3 = nn.Sequential(*self.features[:17])
        self.to_pool4 = nn.Sequential(*self.features[17:24])
        self.to_pool5 = nn.Sequential(*self.features[24:])
        self.pool4_upsample = nn.ConvTranspose2d(512, 256, kernel_size=2, stride=2, bias=False)
        self.upsample8 = nn.ConvTranspose2d(256, num_classes, kernel_size=8, stride=8, bias=False)
        self.init_head()
        nn.init.zeros_(self.pool4_upsample.weight)

    def forward(self, x: torch.Tensor, drop: Collection[str] = ()) -> torch.Tensor:
        self.check_input(x, drop)
        pool3 = self.to_pool3(x)
        pool4 = self.to_pool4(pool3)
        fused = self.classifier(self.to_pool5(pool4))
        if "pool4" not in drop:
            fused = fused + self.pool4_upsample(pool4)
        if "pool3" not in drop:
            fused = fused + pool3
        return self.upsample8(fused)
