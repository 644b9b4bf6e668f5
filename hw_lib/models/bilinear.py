"""Bilinear upsampling kernels for ConvTranspose2d (as in the FCN paper and wkentaro/pytorch-fcn)."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> torch.Tensor:
    """``(in, out, k, k)`` weights that upsample channel ``c`` into channel ``c`` bilinearly.

    Channels beyond ``min(in, out)`` get zeros. With stride ``k // 2`` (k even) the transposed
    convolution then interpolates bilinearly; with stride ``k`` it is nearest-neighbour-like.
    """
    factor = (kernel_size + 1) // 2
    centre = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - centre) / factor) * (1 - abs(og[1] - centre) / factor)
    weight = np.zeros((in_channels, out_channels, kernel_size, kernel_size), dtype=np.float32)
    channels = np.arange(min(in_channels, out_channels))
    weight[channels, channels] = filt
    return torch.from_numpy(weight)


def init_bilinear_(layer: nn.ConvTranspose2d) -> None:
    """Make ``layer`` a bilinear (or, when kernel == stride, nearest) channel-wise upsampler."""
    k = layer.kernel_size[0]
    if layer.stride[0] == k:  # non-overlapping: every output pixel copies one input pixel
        weight = torch.zeros_like(layer.weight)
        channels = torch.arange(min(layer.in_channels, layer.out_channels))
        weight[channels, channels] = 1.0
    else:
        weight = bilinear_kernel(layer.in_channels, layer.out_channels, k)
    with torch.no_grad():
        layer.weight.copy_(weight)
        if layer.bias is not None:
            layer.bias.zero_()
