r"""Bayesian linear layers for Bayesian INNs (BINN), Sec. 4.1 of arXiv:2110.13632.

Every weight :math:`\theta` of a :class:`BayesianLinear` layer has a Gaussian
variational distribution :math:`q(\theta) = \mathcal{N}(\mu, \sigma^2)`; the means
(stored as ``weight``) and :math:`\log\sigma^2` (``log_sigma2``) are trained by
maximising the evidence lower bound (variational inference, Blundell et al.,
arXiv:1505.05424). Per event the loss is

.. math:: \mathcal{L} = \frac{1}{B}\sum_{i=1}^{B} \big(-\log p(x_i|\theta)\big)
          + \frac{1}{N_\mathrm{train}}\,\mathrm{KL}\big(q(\theta)\,\|\,p(\theta)\big),

with a Gaussian prior :math:`p(\theta) = \mathcal{N}(0, s^2)` (:func:`kl_loss`). Biases
are Bayesian too by default; ``bias="deterministic"`` gives the layer of the BINN of
Bellagente et al. (arXiv:2104.04543). Deterministic biases let a network route its
output around the Bayesian weights (a subnet with a constant input, as in a 1D flow,
becomes deterministic and reports no uncertainty), so the default is Bayesian.

How a layer draws its weights (:attr:`BayesianLinear.mode`):

``"sample"`` (default)
    Local reparameterisation (Kingma, Salimans, Welling, arXiv:1506.02557): the
    pre-activations are drawn from their Gaussian,
    :math:`h = x\mu^T + b + \sqrt{x^2 (\sigma^2)^T}\,\varepsilon`, which is the same
    as an independent weight draw :math:`\theta_i \sim q` *per event*. Used for
    training; for generation it samples the predictive density
    :math:`p(x) = \int d\theta\, q(\theta) p(x|\theta)` of Eq. (18), (22).
``"fixed"``
    One stored draw :math:`\theta \sim q` shared by every event and every call
    (:func:`fix_weights`): one coherent network, one sample
    :math:`x \sim p(x|\theta)`, as needed to histogram per :math:`\theta` (Eq. 19-21).
``"map"``
    The means :math:`\mu` (:func:`use_map`).
"""

from __future__ import annotations

__all__ = [
    "BayesianLinear",
    "bayesian_factory",
    "bayesian_layers",
    "is_bayesian",
    "kl_divergence",
    "empirical_kl_divergence",
    "kl_loss",
    "fix_weights",
    "use_map",
    "sample_weights",
    "weight_draw",
    "set_widths",
]

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import Tensor, nn

from evgen.errors import ConfigError, InputError
from evgen.nn.mlp import LinearFactory

_MODES = ("sample", "fixed", "map")
_BIASES = ("bayesian", "deterministic", "none")
_PRIORS = ("fixed", "empirical")


class BayesianLinear(nn.Module):
    r"""Linear layer with a factorised Gaussian distribution over its weights.

    Parameters
    ----------
    in_features, out_features:
        Input and output widths.
    prior_std:
        Width :math:`s` of the Gaussian prior :math:`\mathcal{N}(0, s^2)` of every weight.
    log_sigma2_init:
        Initial :math:`\log\sigma^2` of every weight (small widths, -9 as in the BINN
        of arXiv:2104.04543, so training starts close to a deterministic network).
    bias:
        ``"bayesian"`` (default; Gaussian like the weights), ``"deterministic"`` or ``"none"``.
    prior:
        ``"fixed"`` (default): the prior width is ``prior_std``. ``"empirical"``: empirical
        Bayes (type-II maximum likelihood) per layer: the weights and the bias each get the
        prior width that maximises the evidence lower bound, :math:`s^2 = \langle\sigma^2 +
        \mu^2\rangle` over the tensor, so the KL term becomes
        :math:`\tfrac12\sum_k(\log s^2 - \log\sigma_k^2)` (:func:`empirical_kl_divergence`);
        ``prior_std`` is then unused.

    Attributes
    ----------
    weight:
        Means :math:`\mu`, shape ``(out_features, in_features)``; initialised like
        :class:`torch.nn.Linear`, so a flow's ``zero_last`` zeroes them.
    log_sigma2:
        :math:`\log\sigma^2` per weight, same shape.
    bias:
        Bias (its mean when Bayesian), shape ``(out_features,)``, or ``None``.
    bias_log_sigma2:
        :math:`\log\sigma^2` of a Bayesian bias, or ``None``.
    mode:
        ``"sample"``, ``"fixed"`` or ``"map"`` (module docstring).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        prior_std: float = 1.0,
        *,
        log_sigma2_init: float = -9.0,
        bias: str = "bayesian",
        prior: str = "fixed",
    ) -> None:
        super().__init__()
        if prior not in _PRIORS:
            raise ConfigError(f"prior = {prior!r}: expected one of {', '.join(_PRIORS)}")
        self.prior = prior
        if in_features < 1 or out_features < 1:
            raise ConfigError(f"BayesianLinear needs positive widths; got {in_features} -> {out_features}")
        if not prior_std > 0:
            raise ConfigError(f"prior_std = {prior_std!r}: must be positive")
        if bias not in _BIASES:
            raise ConfigError(f"bias = {bias!r}: expected one of {', '.join(_BIASES)}")
        self.in_features, self.out_features = in_features, out_features
        self.prior_std = float(prior_std)
        self.weight = nn.Parameter(torch.empty(out_features, in_features))
        self.log_sigma2 = nn.Parameter(torch.full((out_features, in_features), float(log_sigma2_init)))
        self.bias = nn.Parameter(torch.empty(out_features)) if bias != "none" else None
        self.bias_log_sigma2 = (
            nn.Parameter(torch.full((out_features,), float(log_sigma2_init))) if bias == "bayesian" else None
        )
        self.register_buffer("_epsilon", None, persistent=False)
        self.register_buffer("_epsilon_bias", None, persistent=False)
        self.mode = "sample"
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Means of weights and bias as :class:`torch.nn.Linear` initialises them."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            bound = 1.0 / math.sqrt(self.in_features)
            nn.init.uniform_(self.bias, -bound, bound)

    # -- weight draws ----------------------------------------------------------
    def sigma2(self) -> Tensor:
        r""":math:`\sigma^2` of every weight."""
        return self.log_sigma2.exp()

    def resample(self, generator: torch.Generator | None = None) -> None:
        r"""Draw one :math:`\theta \sim q` and keep it (mode ``"fixed"``) until the next call."""
        like = {"generator": generator, "device": self.weight.device, "dtype": self.weight.dtype}
        self._epsilon = torch.randn(self.weight.shape, **like)
        if self.bias_log_sigma2 is not None:
            self._epsilon_bias = torch.randn(self.bias_log_sigma2.shape, **like)
        self.mode = "fixed"

    def sampled_weight(self) -> Tensor:
        r"""The stored draw :math:`\theta = \mu + \sigma\varepsilon` (mode ``"fixed"``)."""
        if self._epsilon is None:
            raise InputError(
                "no weight draw stored: call resample() (or evgen.nn.bayesian.fix_weights) first"
            )
        return self.weight + (0.5 * self.log_sigma2).exp() * self._epsilon

    def sampled_bias(self) -> Tensor | None:
        """The stored draw of a Bayesian bias (its value otherwise)."""
        if self.bias_log_sigma2 is None or self.bias is None:
            return self.bias
        if self._epsilon_bias is None:
            raise InputError(
                "no weight draw stored: call resample() (or evgen.nn.bayesian.fix_weights) first"
            )
        return self.bias + (0.5 * self.bias_log_sigma2).exp() * self._epsilon_bias

    def set_mode(self, mode: str) -> None:
        """Switch between ``"sample"``, ``"fixed"`` (needs a stored draw) and ``"map"``."""
        if mode not in _MODES:
            raise ConfigError(f"mode = {mode!r}: expected one of {', '.join(_MODES)}")
        if mode == "fixed" and self._epsilon is None:
            raise InputError("mode 'fixed' needs a weight draw: call resample() first")
        self.mode = mode

    # -- forward and KL ----------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        if self.mode == "map":
            return nn.functional.linear(x, self.weight, self.bias)
        if self.mode == "fixed":
            return nn.functional.linear(x, self.sampled_weight(), self.sampled_bias())
        mean = nn.functional.linear(x, self.weight, self.bias)
        bias_var = None if self.bias_log_sigma2 is None else self.bias_log_sigma2.exp()
        var = nn.functional.linear(x.square(), self.sigma2(), bias_var)
        return mean + _safe_sqrt(var) * torch.randn_like(mean)

    def kl(self) -> Tensor:
        r"""Closed-form :math:`\mathrm{KL}(q\,\|\,p)` summed over the weights.

        Sums over the weights (and a Bayesian bias):

        .. math:: \mathrm{KL} = \frac12 \sum_k \Big[\frac{\sigma_k^2 + \mu_k^2}{s^2}
                  - 1 - \log\sigma_k^2 + \log s^2\Big].
        """
        divergence = empirical_kl_divergence if self.prior == "empirical" else kl_divergence
        kl = divergence(self.weight, self.log_sigma2, self.prior_std)
        if self.bias_log_sigma2 is not None and self.bias is not None:
            kl = kl + divergence(self.bias, self.bias_log_sigma2, self.prior_std)
        return kl

    def empirical_prior_std(self) -> float:
        r"""The empirical-Bayes prior width of the weights, :math:`\sqrt{\langle\sigma^2 + \mu^2\rangle}`."""
        with torch.no_grad():
            return float((self.sigma2() + self.weight.square()).mean().sqrt())

    def _bias_kind(self) -> str:
        if self.bias is None:
            return "none"
        return "deterministic" if self.bias_log_sigma2 is None else "bayesian"

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"prior_std={self.prior_std}, bias={self._bias_kind()!r}, mode={self.mode!r}"
        )


def _safe_sqrt(var: Tensor) -> Tensor:
    """``sqrt(var)`` with a zero (not NaN) gradient where ``var == 0`` (e.g. all inputs zero after ReLU)."""
    positive = var > 0
    return torch.where(
        positive, torch.where(positive, var, torch.ones_like(var)).sqrt(), torch.zeros_like(var)
    )


def kl_divergence(mean: Tensor, log_sigma2: Tensor, prior_std: float = 1.0) -> Tensor:
    r""":math:`\mathrm{KL}(\mathcal{N}(\mu, \sigma^2)\,\|\,\mathcal{N}(0, s^2))`, summed over all elements."""
    log_s2 = 2.0 * math.log(prior_std)
    s2 = prior_std**2
    return 0.5 * ((log_sigma2.exp() + mean.square()) / s2 - 1.0 - log_sigma2 + log_s2).sum()


def empirical_kl_divergence(mean: Tensor, log_sigma2: Tensor, prior_std: float = 1.0) -> Tensor:
    r"""KL to the Gaussian prior whose width maximises the ELBO (empirical Bayes), summed over all elements.

    Minimising :func:`kl_divergence` over :math:`s^2` gives :math:`s^2 = \langle\sigma^2 +
    \mu^2\rangle` (the mean over the tensor) and
    :math:`\mathrm{KL} = \tfrac12\sum_k(\log s^2 - \log\sigma_k^2)`; gradients flow through
    :math:`s^2` (the profile of the ELBO). ``prior_std`` is ignored (same signature as
    :func:`kl_divergence`).
    """
    s2 = (log_sigma2.exp() + mean.square()).mean()
    return 0.5 * (s2.log() - log_sigma2).sum()


def bayesian_factory(
    prior_std: float = 1.0, *, log_sigma2_init: float = -9.0, bias: str = "bayesian", prior: str = "fixed"
) -> LinearFactory:
    """A ``linear_factory(in, out)`` building :class:`BayesianLinear` layers (for :class:`~evgen.nn.ConditionalINN`).

    >>> from evgen.nn import ConditionalINN
    >>> flow = ConditionalINN(2, 0, blocks=2, bins=8, hidden=16, linear_factory=bayesian_factory(1.0))
    >>> len(bayesian_layers(flow))
    16
    """
    if not prior_std > 0:
        raise ConfigError(f"prior_std = {prior_std!r}: must be positive")
    if prior not in _PRIORS:
        raise ConfigError(f"prior = {prior!r}: expected one of {', '.join(_PRIORS)}")

    def factory(in_features: int, out_features: int) -> BayesianLinear:
        return BayesianLinear(
            in_features, out_features, prior_std, log_sigma2_init=log_sigma2_init, bias=bias, prior=prior
        )

    return factory


# -- whole-model helpers -----------------------------------------------------------------
def bayesian_layers(model: nn.Module) -> list[BayesianLinear]:
    """Every :class:`BayesianLinear` in ``model``, in module order."""
    return [m for m in model.modules() if isinstance(m, BayesianLinear)]


def is_bayesian(model: nn.Module) -> bool:
    """Whether ``model`` holds any Bayesian layer."""
    return any(isinstance(m, BayesianLinear) for m in model.modules())


def kl_loss(model: nn.Module, n_train: int | float) -> Tensor:
    r"""KL term of the per-event loss: :math:`\sum_\mathrm{layers}\mathrm{KL}(q\|p) / N_\mathrm{train}`.

    Add it to the batch-mean negative log-likelihood (module docstring); a model
    without Bayesian layers gives 0.
    """
    if not n_train > 0:
        raise ConfigError(f"n_train = {n_train!r}: the KL term is scaled by a positive training-set size")
    layers = bayesian_layers(model)
    if not layers:
        parameter = next(model.parameters(), None)
        return torch.zeros(()) if parameter is None else parameter.new_zeros(())
    return torch.stack([layer.kl() for layer in layers]).sum() / n_train


def fix_weights(model: nn.Module, generator: torch.Generator | None = None) -> None:
    r"""Draw one :math:`\theta \sim q(\theta)` for the whole model and keep it (mode ``"fixed"``).

    Layers draw in module order from ``generator``, so a seeded generator fixes the draw.
    """
    for layer in bayesian_layers(model):
        layer.resample(generator)


def use_map(model: nn.Module) -> None:
    """Use the weight means in every Bayesian layer (mode ``"map"``)."""
    for layer in bayesian_layers(model):
        layer.set_mode("map")


def sample_weights(model: nn.Module) -> None:
    """Back to the default: a fresh draw per event (mode ``"sample"``, local reparameterisation)."""
    for layer in bayesian_layers(model):
        layer.set_mode("sample")


@contextmanager
def weight_draw(
    model: nn.Module, generator: torch.Generator | None = None, *, mode: str = "fixed"
) -> Iterator[nn.Module]:
    r"""Within the block, ``model`` uses one draw :math:`\theta` (``mode="fixed"``), the means
    (``"map"``) or per-event draws (``"sample"``); the previous modes are restored afterwards.

    >>> with weight_draw(flow, torch.Generator().manual_seed(3)):   # doctest: +SKIP
    ...     x = flow.sample(n=10_000)                                  # one theta, one histogram
    """
    if mode not in _MODES:
        raise ConfigError(f"mode = {mode!r}: expected one of {', '.join(_MODES)}")
    layers = bayesian_layers(model)
    saved = [(layer.mode, layer._epsilon, layer._epsilon_bias) for layer in layers]
    try:
        if mode == "fixed":
            fix_weights(model, generator)
        else:
            for layer in layers:
                layer.set_mode(mode)
        yield model
    finally:
        for layer, (old_mode, eps, eps_bias) in zip(layers, saved, strict=True):
            layer._epsilon, layer._epsilon_bias = eps, eps_bias
            layer.mode = old_mode


@torch.no_grad()
def set_widths(model: nn.Module, log_sigma2: float) -> None:
    r"""Set :math:`\log\sigma^2` of every weight and bias (``-inf`` makes the network deterministic)."""
    for layer in bayesian_layers(model):
        layer.log_sigma2.fill_(log_sigma2)
        if layer.bias_log_sigma2 is not None:
            layer.bias_log_sigma2.fill_(log_sigma2)
