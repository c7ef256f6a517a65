r"""Conditional spline coupling block, Eq. (5) of arXiv:2110.13632."""

from __future__ import annotations

__all__ = ["SPLINES", "SplineCoupling"]

import torch
from torch import Tensor, nn

from evgen.errors import ConfigError
from evgen.nn.mlp import MLP, LinearFactory
from evgen.nn.splines import (
    cubic_spline,
    cubic_spline_inverse,
    rational_quadratic_spline,
    spline_parameter_count,
)

SPLINES = ("cubic", "rational-quadratic")
"""Spline families a coupling block can use."""


class SplineCoupling(nn.Module):
    r"""One coupling block: :math:`(u, v) \mapsto (u, s(v; \chi(u, c)))`, Eq. (5).

    The input splits into :math:`u` (the first ``dim // 2`` components) and
    :math:`v` (the rest). The subnet :math:`\chi` (an :class:`~evgen.nn.mlp.MLP`
    with ReLU) reads :math:`u` concatenated with the condition :math:`c` and emits,
    per component of :math:`v`, the parameters of an elementwise monotone spline on
    :math:`[-B, B]` (identity outside):

    * ``"cubic"`` (the paper's): :math:`2K + 2` numbers, bin widths, bin heights
      and the two boundary slopes (:func:`~evgen.nn.splines.cubic_knots`);
    * ``"rational-quadratic"``: :math:`3K - 1` numbers for zuko's
      :class:`~zuko.transforms.MonotonicRQSTransform`.

    The last subnet layer starts at zero, so the block starts as the identity.

    Parameters
    ----------
    dim:
        Dimension of the input.
    cond_dim:
        Dimension of the condition (0 for none).
    spline:
        ``"cubic"`` or ``"rational-quadratic"``.
    bins:
        Number of spline bins :math:`K`.
    hidden, layers, dropout, linear_factory:
        Subnet shape, see :class:`~evgen.nn.mlp.MLP`.
    bound:
        Half-width :math:`B` of the spline range.
    """

    def __init__(
        self,
        dim: int,
        cond_dim: int = 0,
        *,
        spline: str = "cubic",
        bins: int = 60,
        hidden: int = 256,
        layers: int = 3,
        bound: float = 10.0,
        dropout: float = 0.0,
        linear_factory: LinearFactory | None = None,
    ) -> None:
        super().__init__()
        if spline not in SPLINES:
            raise ConfigError(f"unknown spline {spline!r}; expected one of {', '.join(SPLINES)}")
        if dim < 1 or cond_dim < 0 or bins < 2:
            raise ConfigError(f"need dim >= 1, cond_dim >= 0, bins >= 2; got {dim}, {cond_dim}, {bins}")
        self.dim, self.cond_dim, self.spline, self.bins, self.bound = dim, cond_dim, spline, bins, bound
        self.split = dim // 2
        self.parameters_per_dim = spline_parameter_count(spline, bins)
        in_features = self.split + cond_dim
        # a subnet with nothing to read (dim 1, no condition) gets a constant input
        self.constant_input = in_features == 0
        self.subnet = MLP(
            max(in_features, 1),
            (dim - self.split) * self.parameters_per_dim,
            hidden,
            layers,
            dropout=dropout,
            linear_factory=linear_factory,
            zero_last=True,
        )

    def _spline_parameters(self, u: Tensor, c: Tensor | None) -> Tensor:
        if self.constant_input:
            h = u.new_ones(u.shape[0], 1)
        elif c is None or self.cond_dim == 0:
            h = u
        else:
            h = torch.cat((u, c.to(u.dtype)), dim=-1)
        return self.subnet(h).unflatten(-1, (self.dim - self.split, self.parameters_per_dim))

    def _spline(self, v: Tensor, params: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
        if self.spline == "rational-quadratic":
            return rational_quadratic_spline(v, params, bound=self.bound, inverse=inverse)
        k = self.bins
        widths, heights, slopes = params[..., :k], params[..., k : 2 * k], params[..., 2 * k :]
        function = cubic_spline_inverse if inverse else cubic_spline
        return function(v, widths, heights, slopes, bound=self.bound)

    def forward(self, x: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""Apply the block.

        Parameters
        ----------
        x:
            Inputs, shape ``(B, dim)``.
        c:
            Conditions, shape ``(B, cond_dim)``, or ``None`` when ``cond_dim == 0``.

        Returns
        -------
        tuple of Tensor
            Outputs ``(B, dim)`` and :math:`\log|\det \partial y/\partial x|`, ``(B,)``.
        """
        u, v = x[:, : self.split], x[:, self.split :]
        v, log_det = self._spline(v, self._spline_parameters(u, c), inverse=False)
        return torch.cat((u, v), dim=-1), log_det.sum(-1)

    def inverse(self, y: Tensor, c: Tensor | None = None) -> tuple[Tensor, Tensor]:
        r"""Invert the block exactly; returns ``x`` and :math:`\log|\det \partial x/\partial y|`."""
        u, v = y[:, : self.split], y[:, self.split :]
        v, log_det = self._spline(v, self._spline_parameters(u, c), inverse=True)
        return torch.cat((u, v), dim=-1), log_det.sum(-1)

    def extra_repr(self) -> str:
        return f"dim={self.dim}, cond_dim={self.cond_dim}, spline={self.spline!r}, bins={self.bins}, bound={self.bound}"
