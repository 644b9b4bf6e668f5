"""What the three FCNs share: the fc6-fc7 head of the seed, initialisation, the input-size rule."""
from __future__ import annotations

from collections.abc import Collection

import torch
from torch import nn

from ..errors import ImageSizeError
from .backbone import vgg16_features
from .bilinear import init_bilinear_

STRIDE = 32
MIN_SIDE = 64
#: the input sides every model maps back to the input's size
SIDE_RULE = f"a multiple of {STRIDE} and at least {MIN_SIDE} (64, 96, 128, ..., 512)"


def valid_side(side: int) -> bool:
    """True for an input side the FCNs take (see ``SIDE_RULE``)."""
    return side % STRIDE == 0 and side >= MIN_SIDE


def classifier_head(num_classes: int, upsample: nn.ConvTranspose2d) -> nn.Sequential:
    """fc6 (a 2x2 conv, as in the seed) -> fc7 -> class scores -> ``upsample``."""
    return nn.Sequential(
        nn.Conv2d(512, 4096, kernel_size=2),
        nn.ReLU(inplace=True),
        nn.Dropout2d(p=0.5),
        nn.Conv2d(4096, 4096, kernel_size=1),
        nn.ReLU(inplace=True),
        nn.Dropout2d(p=0.5),
        nn.Conv2d(4096, num_classes, kernel_size=1),
        upsample,
    )


class FCN(nn.Module):
    """Base class: ``features`` from VGG16 and a ``classifier`` head; subclasses add skips.

    ``SCORE_STRIDE`` is the stride of the finest grid on which a model has class scores (32, 16 or
    8 input pixels per cell); ``SKIPS`` names the skip connections ``forward(x, drop=...)`` can leave
    out, to measure at inference what each one adds.
    """

    SCORE_STRIDE = STRIDE
    SKIPS: tuple[str, ...] = ()
    features: nn.Sequential
    classifier: nn.Sequential

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        self.features, self.backbone_weights = vgg16_features(weights)

    @classmethod
    def score_map_side(cls, side: int) -> int:
        """Cells per side of the finest class-score map for an input side."""
        return side // cls.SCORE_STRIDE

    def check_input(self, x: torch.Tensor, drop: Collection[str]) -> None:
        """Refuse sides the FCN cannot map back to the input's size, and unknown skips."""
        h, w = x.shape[-2:]
        if not (valid_side(h) and valid_side(w)):
            raise ImageSizeError(f"{type(self).__name__} cannot take a {w}x{h} image: each side must be "
                                 f"{SIDE_RULE}; resize it, e.g. image_size=512")
        unknown = set(drop) - set(self.SKIPS)
        if unknown:
            raise ValueError(f"{type(self).__name__} has no skip {', '.join(sorted(unknown))} "
                             f"(its skips: {', '.join(self.SKIPS) or 'none'})")

    def init_head(self) -> None:
        """Kaiming init for fc6/fc7, zero class scores (as in the FCN paper), bilinear upsampling."""
        for layer in self.classifier[:6]:
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(layer.bias)
        nn.init.zeros_(self.classifier[6].weight)
        nn.init.zeros_(self.classifier[6].bias)
        for layer in self.modules():
            if isinstance(layer, nn.ConvTranspose2d):
                init_bilinear_(layer)
