"""Coupling blocks (Eq. 5), subnets and the fixed rotations between blocks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from evgen.errors import ConfigError
from evgen.nn import MLP, RandomRotation, SplineCoupling, random_orthogonal

SPLINES = ("cubic", "rational-quadratic")


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _perturbed(module: nn.Module, scale: float = 0.3, seed: int = 0) -> nn.Module:
    """Move every parameter away from its (identity) initialisation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _block_jacobian(fn, x: torch.Tensor) -> torch.Tensor:
    """Per-event Jacobians (B, d, d) of a row-wise map."""
    full = torch.autograd.functional.jacobian(fn, x)  # (B, d, B, d)
    return torch.stack([full[i, :, i, :] for i in range(x.shape[0])])


@pytest.mark.parametrize("spline", SPLINES)
@pytest.mark.parametrize(("dim", "cond_dim"), [(4, 3), (5, 0), (1, 2), (1, 0)])
def test_coupling_inverts_and_log_det_matches_autograd(spline, dim, cond_dim):
    torch.manual_seed(0)
    block = _perturbed(SplineCoupling(dim, cond_dim, spline=spline, bins=8, hidden=16, layers=2)).double()
    x = 4 * torch.randn(6, dim, dtype=torch.float64)
    x[0, -1], x[1, 0] = 10.0, -12.0  # at the bound and outside
    c = torch.randn(6, cond_dim, dtype=torch.float64) if cond_dim else None
    y, log_det = block(x, c)
    assert torch.equal(y[:, : dim // 2], x[:, : dim // 2])  # u passes unchanged
    assert not torch.allclose(y, x)  # the perturbed block does something
    x_back, log_det_back = block.inverse(y, c)
    torch.testing.assert_close(x_back, x, rtol=0, atol=1e-10)
    torch.testing.assert_close(log_det_back, -log_det, rtol=0, atol=1e-8)
    jacobian = _block_jacobian(lambda v: block(v, c)[0], x)
    torch.testing.assert_close(log_det, torch.linalg.slogdet(jacobian)[1], rtol=0, atol=1e-8)


@pytest.mark.parametrize("spline", SPLINES)
def test_coupling_starts_as_identity(spline):
    block = SplineCoupling(4, 2, spline=spline, bins=8, hidden=16)
    x, c = 3 * torch.randn(50, 4), torch.randn(50, 2)
    y, log_det = block(x, c)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-5)
    torch.testing.assert_close(log_det, torch.zeros(50), rtol=0, atol=1e-5)


def test_parameter_counts_follow_the_paper():
    """2 n_bins + 2 subnet outputs per transformed dimension for the cubic spline (Sec. 2.2)."""
    cubic = SplineCoupling(9, 3, bins=60, hidden=32, layers=3)
    assert cubic.subnet[-1].out_features == (9 - 4) * (2 * 60 + 2)
    assert cubic.subnet[0].in_features == 4 + 3
    rqs = SplineCoupling(9, 3, spline="rational-quadratic", bins=60, hidden=32)
    assert rqs.subnet[-1].out_features == 5 * (3 * 60 - 1)
    with pytest.raises(ConfigError, match="spline"):
        SplineCoupling(4, 0, spline="affine")


def test_mlp_uses_the_linear_factory_for_every_layer():
    built = []

    def factory(n_in: int, n_out: int) -> nn.Module:
        built.append((n_in, n_out))
        return nn.Linear(n_in, n_out)

    mlp = MLP(5, 7, hidden=11, layers=3, dropout=0.1, linear_factory=factory, zero_last=True)
    assert built == [(5, 11), (11, 11), (11, 11), (11, 7)]
    assert sum(isinstance(m, nn.ReLU) for m in mlp) == 3 and sum(isinstance(m, nn.Dropout) for m in mlp) == 3
    assert torch.count_nonzero(mlp[-1].weight) == 0 and torch.count_nonzero(mlp[-1].bias) == 0
    built.clear()
    SplineCoupling(4, 1, bins=4, hidden=8, layers=2, linear_factory=factory)
    assert built == [(3, 8), (8, 8), (8, 2 * 10)]


@pytest.mark.parametrize("dim", [1, 2, 17])
def test_rotations_are_orthogonal_and_fixed_by_the_seed(dim):
    q = random_orthogonal(dim, generator=torch.Generator().manual_seed(4))
    torch.testing.assert_close(q @ q.T, torch.eye(dim, dtype=torch.float64), rtol=0, atol=1e-13)
    again = random_orthogonal(dim, generator=torch.Generator().manual_seed(4))
    assert torch.equal(q, again)
    rotation = RandomRotation(dim, generator=torch.Generator().manual_seed(4))
    x = torch.randn(20, dim, dtype=torch.float64)
    torch.testing.assert_close(rotation.inverse(rotation(x)), x, rtol=0, atol=1e-13)
    torch.testing.assert_close(rotation(x).norm(dim=1), x.norm(dim=1), rtol=1e-13, atol=0)
    # float32 and back never rounds Q: float64 use stays exact
    rotation.float().double()
    torch.testing.assert_close(rotation.matrix, q, rtol=0, atol=0)


def test_rotation_is_restored_from_the_state_dict(tmp_path):
    from safetensors.torch import load_file, save_file

    a = RandomRotation(6, generator=torch.Generator().manual_seed(1))
    b = RandomRotation(6, generator=torch.Generator().manual_seed(2))
    x = torch.randn(10, 6)
    assert not torch.allclose(a(x), b(x))
    save_file(a.state_dict(), tmp_path / "rotation.safetensors")
    b.load_state_dict(load_file(tmp_path / "rotation.safetensors"))
    assert torch.equal(a(x), b(x))
