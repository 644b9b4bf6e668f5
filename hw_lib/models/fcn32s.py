"""VGG16-FCN32s: class scores at stride 32, upsampled 32x in one bilinear-initialised step."""
from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from ..colors import NUM_CLASSES
from .base import FCN, STRIDE, classifier_head


class FCN32s(FCN):
    """``features`` (VGG16 conv1_1..pool5) -> ``classifier`` (fc6 2x2, fc7, scores, 64x64/32 deconv).

    For a side ``s = 32k`` (k >= 2): pool5 is ``k``, fc6 gives ``k - 1``, the deconv gives
    ``(k - 2) * 32 + 64 = s``, so the output has the input's size without cropping.
    """

    def __init__(self, num_classes: int = NUM_CLASSES, weights: str | None = None) -> None:
        super().__init__(weights)
        self.classifier = classifier_head(
            num_classes, nn.ConvTranspose2d(num_classes, num_classes, kernel_size=64, stride=32, bias=False)
        )
        self.init_head()

    @classmethod
    def score_map_side(cls, side: int) -> int:
        """pool5's side less one: the seed's 2x2 fc6 takes one off (1 at 64 px, 15 at 512)."""
        return side // STRIDE - 1

    def forward(self, x: torch.Tensor, drop: Collection[str] = ()) -> torch.Tensor:
        self.check_input(x, drop)
        return self.classifier(self.features(x))
