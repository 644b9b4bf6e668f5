"""The bonus question: dG/dw of the sigmoid cross-entropy, checked three ways.

``G(w) = -sum_n [t_n log x_n + (1 - t_n) log(1 - x_n)]`` with ``x_n = sigmoid(w . z_n)`` has the
closed-form gradient ``dG/dw = -sum_n (t_n - x_n) z_n`` (prediction error times feature).
:func:`check` compares it with torch autograd and with central finite differences in float64.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F


def objective(w: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``G(w)`` for features ``z (N, D)``, targets ``t (N,)`` in [0, 1]; log-sigmoid keeps it stable."""
    s = z @ w
    return -(t * F.logsigmoid(s) + (1 - t) * F.logsigmoid(-s)).sum()


def closed_form_gradient(w: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """``-sum_n (t_n - x_n) z_n``."""
    x = torch.sigmoid(z @ w)
    return -((t - x)[:, None] * z).sum(0)


def autograd_gradient(w: torch.Tensor, z: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    w = w.detach().clone().requires_grad_(True)
    objective(w, z, t).backward()
    return w.grad


def finite_difference_gradient(w: torch.Tensor, z: torch.Tensor, t: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Central differences ``(G(w + eps e_i) - G(w - eps e_i)) / 2 eps``, one coordinate at a time."""
    grad = torch.empty_like(w)
    for i in range(len(w)):
        step = torch.zeros_like(w)
        step[i] = eps
        grad[i] = (objective(w + step, z, t) - objective(w - step, z, t)) / (2 * eps)
    return grad


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / max(float(a.norm()), float(b.norm()), 1e-300))


@dataclass(frozen=True)
class GradientCheck:
    closed_form: torch.Tensor
    autograd: torch.Tensor
    finite_differences: torch.Tensor
    error_vs_autograd: float
    error_vs_finite_differences: float

    def passed(self, tolerance: float = 1e-6) -> bool:
        return max(self.error_vs_autograd, self.error_vs_finite_differences) < tolerance


Gradient = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def check(n: int = 64, d: int = 5, seed: int = 0, gradient: Gradient = closed_form_gradient) -> GradientCheck:
    """Random ``z (n, d)``, soft targets ``t`` and weights ``w`` in float64; ``gradient(w, z, t)`` (the
    closed form by default) compared with autograd and with finite differences."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, d, generator=gen, dtype=torch.float64)
    t = torch.rand(n, generator=gen, dtype=torch.float64)
    w = torch.randn(d, generator=gen, dtype=torch.float64)
    closed, auto, fd = gradient(w, z, t), autograd_gradient(w, z, t), finite_difference_gradient(w, z, t)
    return GradientCheck(closed, auto, fd, relative_error(closed, auto), relative_error(closed, fd))
