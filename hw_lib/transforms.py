"""Batch transforms that run on the tensors' own device (CPU or GPU), no host sync.

Images travel as uint8 ``(N, 3, H, W)`` and labels as uint8 ``(N, H, W)`` until the last step,
so a whole split fits on the GPU and augmentation costs no host round trip.
"""
from __future__ import annotations

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def normalize(images: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` -> ImageNet-normalised float of ``dtype``."""
    mean = torch.tensor(IMAGENET_MEAN, device=images.device, dtype=dtype).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=images.device, dtype=dtype).view(1, 3, 1, 1) * 255
    return (images.to(dtype) - mean) / std


def random_crop(
    images: torch.Tensor, labels: torch.Tensor, size: int, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """A ``size`` x ``size`` window of each sample, at an offset drawn per sample, from images and labels alike.

    Training on crops of a larger resize keeps the step's cost of ``size`` pixels while the model
    learns at the finer resolution it is scored at. The draws come from ``generator`` (CPU).
    """
    n, height, width = labels.shape
    if size > min(height, width):
        raise ValueError(f"crop of {size} px is larger than the {width}x{height} images")
    top = torch.randint(0, height - size + 1, (n, 1), generator=generator).to(images.device, non_blocking=True)
    left = torch.randint(0, width - size + 1, (n, 1), generator=generator).to(images.device, non_blocking=True)
    span = torch.arange(size, device=images.device)
    rows, cols = (top + span)[:, :, None], (left + span)[:, None, :]  # (N, size, 1), (N, 1, size)
    batch = torch.arange(n, device=images.device)[:, None, None]
    return images.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2), labels[batch, rows, cols]


def random_dihedral(
    images: torch.Tensor, labels: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one of the 8 flips/90-degree rotations, drawn per sample, to images and labels alike.

    Aerial images have no preferred orientation, so all 8 symmetries of the square are valid.
    The draws come from ``generator`` (a CPU generator keeps runs reproducible on any device).
    Rotations need square images; non-square batches get flips only.
    """
    n = images.shape[0]
    draws = torch.randint(0, 2, (3, n), generator=generator).bool().to(images.device, non_blocking=True)
    square = images.shape[-1] == images.shape[-2]

    def where(mask: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(mask.view(-1, *([1] * (a.dim() - 1))), a, b)

    images = where(draws[0], images.flip(-1), images)
    labels = where(draws[0], labels.flip(-1), labels)
    images = where(draws[1], images.flip(-2), images)
    labels = where(draws[1], labels.flip(-2), labels)
    if square:  # transpose + flips generate the rotations
        images = where(draws[2], images.transpose(-1, -2), images)
        labels = where(draws[2], labels.transpose(-1, -2), labels)
    return images, labels
