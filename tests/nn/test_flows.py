"""The conditional INN (Sec. 2.2): invertibility, Jacobians, normalisation, loss, training."""

from __future__ import annotations

import math

import pytest
import torch

from evgen.errors import ConfigError, InputError
from evgen.nn import ConditionalINN

SPLINES = ("cubic", "rational-quadratic")
SMALL = dict(blocks=3, bins=8, hidden=16, layers=2)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _perturbed(flow: ConditionalINN, scale: float = 0.1, seed: int = 0) -> ConditionalINN:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in flow.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return flow


def _flow(
    dim: int = 4, cond_dim: int = 3, spline: str = "cubic", dtype=torch.float64, **kwargs
) -> ConditionalINN:
    torch.manual_seed(0)
    return _perturbed(ConditionalINN(dim, cond_dim, spline=spline, **(SMALL | kwargs))).to(dtype)


@pytest.mark.parametrize("spline", SPLINES)
@pytest.mark.parametrize(("dtype", "tolerance"), [(torch.float32, 1e-5), (torch.float64, 1e-10)])
def test_inverse_inverts(spline, dtype, tolerance):
    flow = _flow(spline=spline, dtype=dtype)
    x, c = 2 * torch.randn(500, 4, dtype=dtype), torch.randn(500, 3, dtype=dtype)
    z, log_det = flow(x, c)
    x_back, log_det_back = flow.inverse_and_log_det(z, c)
    torch.testing.assert_close(x_back, x, rtol=tolerance, atol=tolerance)
    torch.testing.assert_close(flow.inverse(z, c), x_back, rtol=0, atol=0)
    torch.testing.assert_close(log_det_back, -log_det, rtol=0, atol=100 * tolerance)


@pytest.mark.parametrize("spline", SPLINES)
def test_log_det_matches_autograd_jacobian(spline):
    flow = _flow(spline=spline)
    x, c = 3 * torch.randn(8, 4, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    x[0] = torch.tensor([10.0, -10.0, 12.0, 0.5])  # on and outside the spline range
    z, log_det = flow(x, c)
    full = torch.autograd.functional.jacobian(lambda v: flow(v, c)[0], x)
    jacobian = torch.stack([full[i, :, i, :] for i in range(len(x))])
    torch.testing.assert_close(log_det, torch.linalg.slogdet(jacobian)[1], rtol=0, atol=1e-8)
    assert log_det.abs().min() > 1e-3  # a non-trivial flow


@pytest.mark.parametrize("spline", SPLINES)
def test_extreme_inputs_stay_finite(spline):
    flow = _flow(spline=spline, dtype=torch.float32)
    x = torch.tensor([[1e6, -1e6, 0.0, 10.0], [-10.0, 10.0, 1e6, -3.0], [0.1, 0.2, 0.3, 0.4]]).requires_grad_(
        True
    )
    c = torch.randn(3, 3)
    loss = flow.loss(x, c)
    loss.backward()
    z, log_det = flow(x, c)
    assert torch.isfinite(z).all() and torch.isfinite(log_det).all() and torch.isfinite(x.grad).all()
    assert all(torch.isfinite(p.grad).all() for p in flow.parameters())
    assert torch.isfinite(flow.inverse(z, c)).all()


def test_density_normalises_in_two_dimensions():
    flow = _flow(2, 0, blocks=3, bins=8, hidden=16)
    edge, n = 14.0, 700
    grid = torch.linspace(-edge, edge, n, dtype=torch.float64)
    xx, yy = torch.meshgrid(grid, grid, indexing="ij")
    with torch.no_grad():
        density = flow.log_prob(torch.stack((xx.flatten(), yy.flatten()), 1)).exp().reshape(n, n)
    total = torch.trapezoid(torch.trapezoid(density, grid), grid).item()
    assert abs(total - 1) < 1e-3
    assert density.max() > 1.5 / (2 * math.pi)  # not the untrained Gaussian


def test_conditional_density_normalises_in_one_dimension():
    flow = _flow(1, 2, blocks=3, bins=8, hidden=16)
    grid = torch.linspace(-14, 14, 40_001, dtype=torch.float64)
    for c in torch.randn(3, 2, dtype=torch.float64):
        with torch.no_grad():
            density = flow.log_prob(grid[:, None], c.expand(len(grid), 2)).exp()
        assert abs(torch.trapezoid(density, grid).item() - 1) < 1e-3


def test_sampling_loss_and_log_prob_agree():
    flow = _flow()
    c = torch.randn(64, 3, dtype=torch.float64)
    x = flow.sample(c, generator=torch.Generator().manual_seed(5))
    assert x.shape == (64, 4) and x.dtype == torch.float64
    assert torch.equal(x, flow.sample(c, generator=torch.Generator().manual_seed(5)))
    x2, log_prob = flow.sample_and_log_prob(c, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(x2, x, rtol=0, atol=0)
    torch.testing.assert_close(log_prob, flow.log_prob(x, c), rtol=0, atol=1e-9)
    # Eq. (6) is the mean negative log-likelihood without the constant d/2 log 2pi
    loss = flow.loss(x, c)
    torch.testing.assert_close(loss, -flow.log_prob(x, c).mean() - 2 * math.log(2 * math.pi))
    # Eq. (10): w / sum w; integer weights act like repeated events, equal weights change nothing
    w = torch.randint(1, 4, (64,)).double()
    repeated = flow.loss(x.repeat_interleave(w.long(), 0), c.repeat_interleave(w.long(), 0))
    torch.testing.assert_close(flow.loss(x, c, weights=w), repeated)
    torch.testing.assert_close(flow.loss(x, c, weights=torch.full((64,), 3.0)), loss)


def test_unconditional_sampling_needs_n():
    flow = ConditionalINN(2, 0, **SMALL)
    assert flow.sample(n=7).shape == (7, 2)
    with pytest.raises(InputError):
        flow.sample()
    conditional = ConditionalINN(2, 3, **SMALL)
    with pytest.raises(InputError, match="condition"):
        conditional.log_prob(torch.zeros(5, 2))
    with pytest.raises(InputError, match="shape"):
        conditional.log_prob(torch.zeros(5, 2), torch.zeros(5, 4))


def test_bad_configuration_is_refused():
    with pytest.raises(ConfigError, match="spline"):
        ConditionalINN(3, 1, spline="affine")
    with pytest.raises(ConfigError, match="blocks"):
        ConditionalINN(3, 1, blocks=0)


def test_starts_as_the_identity_up_to_rotations():
    flow = ConditionalINN(5, 2, **SMALL)
    x, c = torch.randn(100, 5), torch.randn(100, 2)
    z, log_det = flow(x, c)
    torch.testing.assert_close(z.norm(dim=1), x.norm(dim=1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(log_det, torch.zeros(100), rtol=0, atol=1e-5)


def test_state_dict_restores_the_model(tmp_path):
    a = _flow(dtype=torch.float32, permutation_seed=0)
    torch.manual_seed(1)
    b = ConditionalINN(4, 3, **SMALL, permutation_seed=1)
    x, c = torch.randn(32, 4), torch.randn(32, 3)
    assert not torch.allclose(a(x, c)[0], b(x, c)[0])
    torch.save(a.state_dict(), tmp_path / "flow.pt")
    b.load_state_dict(torch.load(tmp_path / "flow.pt", weights_only=True))
    assert torch.equal(a(x, c)[0], b(x, c)[0])
    assert torch.equal(a.inverse(x, c), b.inverse(x, c))


def _ring(n: int, generator: torch.Generator) -> torch.Tensor:
    angle = 2 * math.pi * torch.rand(n, generator=generator)
    radius = 1.0 + 0.1 * torch.randn(n, generator=generator)
    return torch.stack((radius * angle.cos(), radius * angle.sin()), 1)


@pytest.mark.parametrize("spline", SPLINES)
def test_trained_flow_beats_a_gaussian_on_a_ring(spline):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    train, test = _ring(20_000, g), _ring(5_000, g)
    flow = ConditionalINN(2, 0, blocks=4, bins=16, hidden=64, layers=2, bound=3.0, spline=spline)
    optimizer = torch.optim.Adam(flow.parameters(), lr=3e-3)
    for _ in range(300):
        batch = train[torch.randint(len(train), (256,), generator=g)]
        optimizer.zero_grad()
        flow.loss(batch).backward()
        optimizer.step()
    with torch.no_grad():
        flow_ll = flow.log_prob(test).mean().item()
    gaussian = torch.distributions.MultivariateNormal(train.mean(0), torch.cov(train.T))
    gaussian_ll = gaussian.log_prob(test).mean().item()
    # the truth has log-likelihood ~ -log(2 pi) - 0.5 log(2 pi e 0.01) = -0.95, the Gaussian ~ -2.2
    assert flow_ll > gaussian_ll + 0.5, (flow_ll, gaussian_ll)


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside inductor
def test_forward_and_inverse_compile_without_graph_breaks():
    flow = ConditionalINN(3, 2, blocks=1, bins=4, hidden=8, layers=1)
    x, c = torch.randn(16, 3), torch.randn(16, 2)
    z, log_det = torch.compile(flow, fullgraph=True)(x, c)
    torch.testing.assert_close(z, flow(x, c)[0])
    x_back = torch.compile(flow.inverse, fullgraph=True)(z.detach(), c)
    torch.testing.assert_close(x_back, x, rtol=1e-5, atol=1e-5)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_round_trip_and_sampling():
    flow = _flow(dtype=torch.float32).cuda()
    c = torch.randn(4096, 3, device="cuda")
    x = flow.sample(c, generator=torch.Generator("cuda").manual_seed(0))
    z, _ = flow(x, c)
    torch.testing.assert_close(flow.inverse(z, c), x, rtol=1e-4, atol=1e-4)
    with torch.autocast("cuda", dtype=torch.bfloat16):
        loss = flow.loss(x, c)
    assert torch.isfinite(loss)
