"""Bayesian linear layers: closed-form KL, weight-draw modes, and the deterministic limit of a BINN."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from evgen.errors import ConfigError, InputError
from evgen.nn import ConditionalINN
from evgen.nn.bayesian import (
    BayesianLinear,
    bayesian_factory,
    bayesian_layers,
    fix_weights,
    kl_divergence,
    kl_loss,
    sample_weights,
    set_widths,
    use_map,
    weight_draw,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _layer(seed: int = 0, **kwargs) -> BayesianLinear:
    torch.manual_seed(seed)
    layer = BayesianLinear(5, 3, **kwargs)
    with torch.no_grad():
        layer.log_sigma2.uniform_(-3.0, 0.5)
        if layer.bias_log_sigma2 is not None:
            layer.bias_log_sigma2.uniform_(-3.0, 0.5)
    return layer


@pytest.mark.parametrize("prior_std", [1.0, 0.3])
def test_kl_matches_closed_form_and_torch(prior_std):
    layer = _layer(prior_std=prior_std)
    q_w = torch.distributions.Normal(layer.weight, (0.5 * layer.log_sigma2).exp())
    q_b = torch.distributions.Normal(layer.bias, (0.5 * layer.bias_log_sigma2).exp())
    p = torch.distributions.Normal(0.0, prior_std)
    expected = (
        torch.distributions.kl_divergence(q_w, p).sum() + torch.distributions.kl_divergence(q_b, p).sum()
    )
    torch.testing.assert_close(layer.kl(), expected, rtol=1e-5, atol=1e-5)


def test_kl_matches_a_monte_carlo_estimate():
    torch.manual_seed(1)
    mean = torch.randn(40) * 0.7
    log_sigma2 = torch.empty(40).uniform_(-2.0, 1.0)
    q = torch.distributions.Normal(mean, (0.5 * log_sigma2).exp())
    p = torch.distributions.Normal(0.0, 1.3)
    w = q.sample((100_000,))
    terms = (q.log_prob(w) - p.log_prob(w)).sum(-1)
    mc, mc_error = terms.mean(), terms.std() / math.sqrt(len(terms))
    exact = kl_divergence(mean, log_sigma2, 1.3)
    assert abs(float(mc - exact)) < 4 * float(mc_error)


def test_kl_loss_sums_all_layers_and_divides_by_n_train():
    flow = ConditionalINN(2, 1, blocks=2, bins=4, hidden=8, linear_factory=bayesian_factory(0.5))
    layers = bayesian_layers(flow)
    assert len(layers) == 2 * 4  # two blocks, 3 hidden layers + output layer each
    total = sum(float(layer.kl().detach()) for layer in layers)
    assert float(kl_loss(flow, 250).detach()) == pytest.approx(total / 250, rel=1e-6)
    assert float(kl_loss(nn.Linear(2, 2), 10)) == 0.0
    with pytest.raises(ConfigError):
        kl_loss(flow, 0)


def test_local_reparameterisation_has_the_weight_distribution():
    layer = _layer(2)
    x = torch.randn(1, 5)
    with torch.no_grad():
        h = layer(x.expand(200_000, 5))
        mean = x @ layer.weight.T + layer.bias
        var = x.square() @ layer.log_sigma2.exp().T + layer.bias_log_sigma2.exp()
    torch.testing.assert_close(h.mean(0), mean[0], atol=4 * float(var.max().sqrt()) / math.sqrt(2e5), rtol=0)
    torch.testing.assert_close(h.var(0), var[0], rtol=0.02, atol=0)


def test_fixed_draw_is_one_coherent_network_and_map_uses_the_means():
    layer = _layer(3)
    x = torch.randn(1, 5).expand(4, 5)
    with torch.no_grad():
        per_event = layer(x)
        assert not torch.allclose(per_event[0], per_event[1])  # a fresh draw per event
        layer.resample(torch.Generator().manual_seed(7))
        a = layer(x)
        assert torch.equal(a[0], a[1]) and torch.equal(a, layer(x))  # one draw for all events and calls
        layer.resample(torch.Generator().manual_seed(7))
        assert torch.equal(a, layer(x))  # reproducible from the generator
        layer.resample(torch.Generator().manual_seed(8))
        assert not torch.allclose(a, layer(x))
        layer.set_mode("map")
        torch.testing.assert_close(layer(x), x @ layer.weight.T + layer.bias)
    with pytest.raises(ConfigError):
        layer.set_mode("median")
    with pytest.raises(InputError):
        BayesianLinear(2, 2).set_mode("fixed")


def test_weight_draw_context_restores_the_modes():
    flow = ConditionalINN(2, 0, blocks=2, bins=4, hidden=8, linear_factory=bayesian_factory())
    use_map(flow)
    with weight_draw(flow, torch.Generator().manual_seed(0)):
        assert {layer.mode for layer in bayesian_layers(flow)} == {"fixed"}
    assert {layer.mode for layer in bayesian_layers(flow)} == {"map"}
    sample_weights(flow)
    assert {layer.mode for layer in bayesian_layers(flow)} == {"sample"}


def _trained_like(flow: ConditionalINN) -> None:
    """Give the zero-initialised last layers non-trivial values, so the flow is not the identity."""
    with torch.no_grad():
        for module in flow.modules():
            if isinstance(module, (nn.Linear, BayesianLinear)):
                module.weight.normal_(0.0, 0.3)
                module.bias.normal_(0.0, 0.3)


def test_zero_widths_reproduce_the_deterministic_flow_exactly():
    torch.manual_seed(0)
    deterministic = ConditionalINN(3, 2, blocks=3, bins=6, hidden=16, permutation_seed=4)
    _trained_like(deterministic)
    bayesian = ConditionalINN(
        3, 2, blocks=3, bins=6, hidden=16, permutation_seed=4, linear_factory=bayesian_factory()
    )
    missing, unexpected = bayesian.load_state_dict(deterministic.state_dict(), strict=False)
    assert not unexpected and all("log_sigma2" in key for key in missing)
    set_widths(bayesian, -math.inf)
    x, c = torch.randn(64, 3), torch.randn(64, 2)
    z = torch.randn(64, 3)
    with torch.no_grad():
        z_ref, logdet_ref = deterministic(x, c)
        x_ref = deterministic.inverse(z, c)
        for mode in ("sample", "fixed", "map"):
            with weight_draw(bayesian, torch.Generator().manual_seed(1), mode=mode):
                z_b, logdet_b = bayesian(x, c)
                assert torch.equal(z_b, z_ref) and torch.equal(logdet_b, logdet_ref), mode
                assert torch.equal(bayesian.inverse(z, c), x_ref), mode


def test_bayesian_flow_inverts_for_a_fixed_draw_and_trains_with_finite_gradients():
    torch.manual_seed(1)
    flow = ConditionalINN(
        2, 1, blocks=3, bins=6, hidden=16, linear_factory=bayesian_factory(log_sigma2_init=-5)
    )
    _trained_like(flow)
    x, c = torch.randn(32, 2), torch.randn(32, 1)
    with torch.no_grad():
        fix_weights(flow, torch.Generator().manual_seed(5))
        z, _ = flow(x, c)
        torch.testing.assert_close(flow.inverse(z, c), x, atol=1e-4, rtol=0)
        sample_weights(flow)
    loss = flow.loss(x, c) + kl_loss(flow, 1000)
    loss.backward()
    grads = [p.grad for p in flow.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    layer = bayesian_layers(flow)[0]
    assert layer.log_sigma2.grad.abs().sum() > 0


def test_zero_inputs_give_finite_gradients():
    layer = BayesianLinear(4, 2, bias="deterministic")
    out = layer(torch.zeros(8, 4))  # variance exactly zero
    out.sum().backward()
    assert torch.isfinite(layer.log_sigma2.grad).all() and torch.isfinite(layer.weight.grad).all()


def test_bad_options_fail_clearly():
    with pytest.raises(ConfigError, match="prior_std"):
        BayesianLinear(2, 2, prior_std=0.0)
    with pytest.raises(ConfigError, match="bias"):
        BayesianLinear(2, 2, bias="maybe")
    with pytest.raises(ConfigError, match="prior_std"):
        bayesian_factory(-1.0)


def test_empirical_prior_kl_is_the_minimum_over_the_prior_width():
    """Empirical Bayes: the KL at the ELBO-optimal width s² = <σ² + μ²>, and no other width gives less."""
    from evgen.nn.bayesian import empirical_kl_divergence, kl_divergence

    g = torch.Generator().manual_seed(3)
    mean = 0.3 * torch.randn(40, 7, generator=g, dtype=torch.float64)
    log_sigma2 = -4.0 + torch.randn(40, 7, generator=g, dtype=torch.float64)
    best = float((log_sigma2.exp() + mean.square()).mean().sqrt())
    kl = empirical_kl_divergence(mean, log_sigma2)
    assert float(kl) == pytest.approx(float(kl_divergence(mean, log_sigma2, best)), rel=1e-12)
    for s in (0.5 * best, 0.9 * best, 1.1 * best, 3.0 * best):
        assert float(kl) < float(kl_divergence(mean, log_sigma2, s))
    layer = BayesianLinear(5, 3, prior="empirical", log_sigma2_init=-6.0)
    with torch.no_grad():
        manual = empirical_kl_divergence(layer.weight, layer.log_sigma2) + empirical_kl_divergence(
            layer.bias, layer.bias_log_sigma2
        )
        assert float(layer.kl()) == pytest.approx(float(manual))
        assert layer.empirical_prior_std() == pytest.approx(
            float((layer.sigma2() + layer.weight.square()).mean().sqrt())
        )
    with pytest.raises(ConfigError):
        BayesianLinear(5, 3, prior="hierarchical")
