"""Random but fixed rotations between coupling blocks (Sec. 2.2 of arXiv:2110.13632)."""

from __future__ import annotations

__all__ = ["RandomRotation", "random_orthogonal"]

import torch
from torch import Tensor, nn


def random_orthogonal(dim: int, *, generator: torch.Generator | None = None) -> Tensor:
    r"""A Haar-random orthogonal matrix in float64.

    :math:`Q` from the QR decomposition of a standard-normal matrix, with column
    signs fixed by :math:`\operatorname{sign}(\operatorname{diag} R)` so that
    :math:`Q` is uniformly distributed (Mezzadri 2007).

    Parameters
    ----------
    dim:
        Size of the matrix.
    generator:
        Source of randomness (seed it for a reproducible matrix).
    """
    gaussian = torch.randn(dim, dim, generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(gaussian)
    return (q * torch.where(torch.diagonal(r) < 0, -1.0, 1.0)).contiguous()  # safetensors needs contiguous


class RandomRotation(nn.Module):
    r"""The fixed linear map :math:`x \mapsto Q x` with orthogonal :math:`Q`; log-det 0.

    :math:`Q` is a buffer, so it is saved in ``state_dict`` and loading a state
    dict restores the exact rotation whatever seed built the receiving model. It
    stays float64 (``.to(dtype)`` moves it between devices but never rounds it) and
    is cast to the input's dtype on use, so a model used in float64 is orthogonal
    to float64 precision; autocast is disabled for the
    product so a bfloat16 run does not round the rotation.

    Parameters
    ----------
    dim:
        Dimension rotated.
    generator:
        Source of randomness for :func:`random_orthogonal`.
    """

    matrix: Tensor

    def __init__(self, dim: int, *, generator: torch.Generator | None = None) -> None:
        super().__init__()
        self.register_buffer("matrix", random_orthogonal(dim, generator=generator))

    def _apply(self, fn, recurse=True):  # noqa: ANN001, ANN202 (torch's signature)
        # follow device moves but never round Q: ``.float()`` then ``.double()`` stays exact
        original = self.matrix
        result = super()._apply(fn, recurse)
        self.matrix = original.to(device=self.matrix.device)
        return result

    def _apply_matrix(self, x: Tensor, matrix: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            return x @ matrix.to(x.dtype)

    def forward(self, x: Tensor) -> Tensor:
        """``x @ Q.T`` for rows ``x`` of shape ``(*, dim)``."""
        return self._apply_matrix(x, self.matrix.T)

    def inverse(self, y: Tensor) -> Tensor:
        """``y @ Q``, the exact inverse since :math:`Q^{-1} = Q^T`."""
        return self._apply_matrix(y, self.matrix)

    def extra_repr(self) -> str:
        return f"dim={self.matrix.shape[0]}"
