"""FCN32s, FCN16s and FCN8s on torchvision's VGG16, by name."""
from __future__ import annotations

from ..errors import ConfigError
from .backbone import IMAGENET, SCRATCH, canonical_weights, imagenet_cache_file, vgg16_features
from .base import FCN, SIDE_RULE, valid_side
from .fcn8s import FCN8s
from .fcn16s import FCN16s
from .fcn32s import FCN32s

#: the models by name, in the report's order (baseline first)
MODELS: dict[str, type[FCN]] = {"fcn32s": FCN32s, "fcn16s": FCN16s, "fcn8s": FCN8s}
#: how the report and the logs spell them
DISPLAY_NAMES = {name: cls.__name__ for name, cls in MODELS.items()}


def model_class(name: str) -> type[FCN]:
    """The class of the model called ``name``; a clear error for any other name."""
    if name not in MODELS:
        raise ConfigError(f"model: unknown value {name!r}; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def build_model(name: str, weights: str | None = None) -> FCN:
    """The model called ``name`` (``fcn32s``, ``fcn16s``, ``fcn8s``); ``weights`` as :func:`vgg16_features`
    takes them."""
    return model_class(name)(weights=weights)


__all__ = ["DISPLAY_NAMES", "FCN", "FCN8s", "FCN16s", "FCN32s", "IMAGENET", "MODELS", "SCRATCH", "SIDE_RULE",
           "build_model", "canonical_weights", "imagenet_cache_file", "model_class", "valid_side", "vgg16_features"]
