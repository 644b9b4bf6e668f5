"""What the three FCNs share: the fc6-fc7 head of the seed, initialisation and the input-size check."""
from __future__ import annotations

import torch
from torch import nn

from ..errors import ImageSizeError
from .backbone import vgg16_features
from .bilinear import init_bilinear_

NUM_CLASSES = 7
STRIDE = 32
MIN_SIDE = 64


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


def score_map_side(side: int) -> int:
    """Side of the stride-32 class-score map for an input side: pool5's side, less one for the 2x2 fc6."""
    return side // STRIDE - 1


def check_input_size(model: nn.Module, x: torch.Tensor) -> None:
    """Refuse sides the FCN cannot map back to the input's size."""
    h, w = x.shape[-2:]
    if h % STRIDE or w % STRIDE or h < MIN_SIDE or w < MIN_SIDE:
        raise ImageSizeError(
            f"{type(model).__name__} cannot take a {w}x{h} image: each side must be a multiple of "
            f"{STRIDE} and at least {MIN_SIDE} (64, 96, 128, ..., 512, ...); resize it, e.g. image_size=512"
        )


class FCN(nn.Module):
    """Base class: ``features`` from VGG16 and a ``classifier`` head; subclasses add skips."""

    features: nn.Sequential
    classifier: nn.Sequential

    def __init__(self, weights: str | None = None) -> None:
        super().__init__()
        features, self.backbone_weights = vgg16_features(weights)
        self.features = features

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
