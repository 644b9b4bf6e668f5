"""VGG16-FCN16s, in the style of the seed's FCN8s with the pool4 skip only.

Layers (printed by ``print(FCN16s())``):

- ``features``: VGG16 conv1_1..pool5; ``to_pool4`` (features[0:24]) and ``to_pool5``
  (features[24:31]) are the same modules, sliced;
- ``classifier``: fc6 (2x2), fc7, class scores, then ``ConvTranspose2d(7, 512, 4, stride=2)``
  that lifts the stride-32 scores to pool4's grid (stride 16) and its 512 channels;
- ``upsample16``: ``ConvTranspose2d(512, 7, 16, stride=16)`` from the fused map to the image.

forward: ``upsample16(classifier(pool5) + pool4)``.
"""
from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from ..colors import NUM_CLASSES
from .base import FCN, classifier_head


class FCN16s(FCN):
    """FCN32s head fused with pool4 at stride 16, then upsampled 16x."""

    SCORE_STRIDE = 16
    SKIPS = ("pool4",)

    def __init__(self, num_classes: int = NUM_CLASSES, weights: str | None = None) -> None:
        super().__init__(weights)
        self.classifier = classifier_head(
            num_classes, nn.ConvTranspose2d(num_classes, 512, kernel_size=4, stride=2, bias=False)
        )
        self.to_pool4 = nn.Sequential(*self.features[:24])
        self.to_pool5 = nn.Sequential(*self.features[24:])
        self.upsample16 = nn.ConvTranspose2d(512, num_classes, kernel_size=16, stride=16, bias=False)
        self.init_head()

    def forward(self, x: torch.Tensor, drop: Collection[str] = ()) -> torch.Tensor:
        self.check_input(x, drop)
        pool4 = self.to_pool4(x)
        fused = self.classifier(self.to_pool5(pool4))
        if "pool4" not in drop:
            fused = fused + pool4
        return self.upsample16(fused)
