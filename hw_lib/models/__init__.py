"""FCN32s, FCN16s and FCN8s on torchvision's VGG16, by name."""
from __future__ import annotations


from .backbone import IMAGENET, SCRATCH, describe_weights, vgg16_features
from .base import MIN_SIDE, NUM_CLASSES, STRIDE, FCN, check_input_size, score_map_side
from .bilinear import bilinear_kernel, init_bilinear_
from .fcn8s import FCN8s
from .fcn16s import FCN16s
from .fcn32s import FCN32s

MODELS: dict[str, type[FCN]] = {"fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s}


def build_model(name: str, weights: str | None = None, num_classes: int = NUM_CLASSES) -> FCN:
    """The model called ``name`` (``fcn32s``, ``fcn16s``, ``fcn8s``); see :func:`vgg16_features`."""
    try:
        cls = MODELS[name.lower()]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODELS)}") from None
    return cls(num_classes=num_classes, weights=weights)


__all__ = [
    "FCN", "FCN8s", "FCN16s", "FCN32s", "IMAGENET", "MIN_SIDE", "MODELS", "NUM_CLASSES", "SCRATCH", "STRIDE",
    "bilinear_kernel", "build_model", "check_input_size", "describe_weights", "init_bilinear_", "score_map_side",
    "vgg16_features",
]
