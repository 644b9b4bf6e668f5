"""torchvision's VGG16 convolutional part, with ImageNet, local-file or no pretrained weights.

Only ``features`` (conv1_1 .. pool5) is built: VGG16's fully connected layers are not used, since
the seed's fc6 is a 2x2 convolution that cannot take their 7x7 weights (fc6/fc7 start fresh).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import torch
from torch import nn
from torchvision.models import VGG16_Weights
from torchvision.models.vgg import cfgs, make_layers

from ..errors import WeightsError

IMAGENET = "imagenet"
IMAGENET_WEIGHTS = VGG16_Weights.IMAGENET1K_V1
SCRATCH = "none"
FEATURES = "features."


def canonical_weights(weights: str | None) -> str:
    """Canonical spelling of a weights argument: ``imagenet``, ``none`` or a file path."""
    if weights is None or str(weights).lower() in ("none", "scratch", ""):
        return SCRATCH
    if str(weights).lower() == IMAGENET:
        return IMAGENET
    return str(weights)


def _fresh_features() -> nn.Sequential:
    """VGG16's conv layers with torchvision's own initialisation (Kaiming, fan_out)."""
    features = make_layers(cfgs["D"], batch_norm=False)
    for m in features.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(m.bias)
    return features


def imagenet_cache_file() -> Path:
    """Where torchvision looks for VGG16's ImageNet weights before downloading them."""
    return Path(torch.hub.get_dir()) / "checkpoints" / IMAGENET_WEIGHTS.url.rsplit("/", 1)[1]


def _imagenet_state() -> dict[str, torch.Tensor]:
    cache = imagenet_cache_file()
    try:
        return IMAGENET_WEIGHTS.get_state_dict(progress=True, check_hash=True)
    except Exception as e:  # no network, proxy, corrupt cache...
        raise WeightsError(
            f"ImageNet VGG16 weights: {cache} is not there and could not be downloaded ({type(e).__name__}: "
            f"{str(e)[:200]}). Put the file from {IMAGENET_WEIGHTS.url} at that path ($TORCH_HOME/hub/checkpoints/), "
            "or pass the path of a VGG16 state_dict (weights=...), or train from scratch: weights='none' "
            "(PRESET=course-scratch for the course settings)."
        ) from None


def sha256_prefix(path: Path, chars: int = 12) -> str:
    """The first ``chars`` hex digits of a file's sha256, read in blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:chars]


def _file_state(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(f"{path}: weights file does not exist (expected a torchvision VGG16 state_dict)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise WeightsError(f"{path}: cannot read it as a PyTorch state_dict ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    return state if isinstance(state, dict) else {}


def _load_features(features: nn.Sequential, state: dict[str, torch.Tensor], source: str) -> None:
    found = {k[len(FEATURES):]: v for k, v in state.items() if k.startswith(FEATURES)}
    expected = set(features.state_dict())
    if set(found) != expected:
        missing = sorted(expected - set(found))[:3]
        named = ", ".join(FEATURES + m for m in missing) or "nothing"
        raise WeightsError(f"{source}: not a VGG16 state_dict (missing {named}; "
                           f"{len(found)} of {len(expected)} {FEATURES}* tensors found)")
    try:
        features.load_state_dict(found)
    except RuntimeError as e:
        raise WeightsError(f"{source}: tensor shapes do not match VGG16 ({str(e).splitlines()[-1].strip()})") from None


def vgg16_features(weights: str | None = None) -> tuple[nn.Sequential, str]:
    """VGG16's ``features`` and a sentence saying which weights they hold.

    ``weights``: ``"imagenet"`` (torchvision's weights API: its cache, else a download), the path
    of a local VGG16 state_dict, or ``None``/``"none"`` (from scratch, torchvision's init).
    """
    features = _fresh_features()
    choice = canonical_weights(weights)
    if choice == SCRATCH:
        return features, "none: VGG16 trained from scratch (no pretrained weights)"
    if choice == IMAGENET:
        _load_features(features, _imagenet_state(), "ImageNet VGG16 weights")
        cache = imagenet_cache_file()
        digest = sha256_prefix(cache)
        return features, f"imagenet: torchvision VGG16_Weights.IMAGENET1K_V1 ({cache.name}, sha256 {digest}...)"
    path = Path(choice).expanduser()
    _load_features(features, _file_state(path), str(path))
    return features, f"file: {path} (sha256 {sha256_prefix(path)}...)"
