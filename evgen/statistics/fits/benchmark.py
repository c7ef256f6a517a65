"""The fit benchmark of GANplifying Fig. 2: amplification of a 5-parameter fit to 100 points.

For each of ``n_samples`` independent training samples of the camel back (Eq. 1),
fit two Gaussians (:func:`evgen.statistics.fits.fit_two_gaussians`) and compute the fit's exact
quantile MSE (:func:`evgen.statistics.fits.fit_quantile_mse`) next to the sample's own MSE.
The band is the spread over the independent samples, as in the paper.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from evgen.errors import ConfigError
from evgen.interfaces import Measurement, ToyDataset
from evgen.statistics.amplification import amplification_summary
from evgen.statistics.fits.two_gaussians import fit_quantile_mse, fit_two_gaussians
from evgen.statistics.quantiles import expected_quantile_mse, quantile_fractions, quantile_mse

__all__ = ["fit_benchmark"]


def fit_benchmark(
    toy: ToyDataset | None = None,
    *,
    n_train: int = 100,
    n_samples: int = 100,
    n_quantiles: Sequence[int] = (10, 20, 50),
    seed: int = 0,
    progress: bool = False,
) -> dict[str, Any]:
    """Quantile MSE and amplification of the two-Gaussian fit over independent samples.

    Parameters
    ----------
    toy
        A 1D toy (default: the camel back).
    n_train
        Points per training sample (paper: 100).
    n_samples
        Independent training samples (paper: 100).
    n_quantiles
        Numbers of quantiles (paper: 10, 20, 50).
    seed
        Seed of the training samples.
    progress
        Show a tqdm progress bar over the fits.

    Returns
    -------
    dict
        ``config``; ``rows`` (one per number of quantiles: sample and fit MSE with their
        spread, the expected MSE of ``n_train`` true events, and
        :func:`evgen.statistics.amplification.amplification_summary` of the fit); ``fit_mse`` and
        ``sample_mse`` (arrays ``(len(n_quantiles), n_samples)``); ``n_invalid_fits``.
    """
    from tqdm.auto import tqdm

    if toy is None:
        from evgen.plugins import get_dataset

        toy = get_dataset("camel")  # the camel back of evgen_datasets, found through the registry
    if toy.dim != 1:
        raise ConfigError(f"the fit benchmark needs a 1D toy; {toy.name!r} has dimension {toy.dim}")
    if n_samples < 2:
        raise ConfigError(f"need at least 2 independent samples for a band; got {n_samples}")
    rng = np.random.default_rng(seed)
    quantiles = [int(q) for q in n_quantiles]
    fit_mse = np.empty((len(quantiles), n_samples))
    sample_mse = np.empty((len(quantiles), n_samples))
    invalid = 0
    for i in tqdm(range(n_samples), desc="fits", unit="fit", disable=not progress):
        x = toy.sample(n_train, rng)
        fit = fit_two_gaussians(x)
        invalid += not fit.valid
        for j, q in enumerate(quantiles):
            fit_mse[j, i] = fit_quantile_mse(fit, toy, q)
            sample_mse[j, i] = quantile_mse(quantile_fractions(toy, x, (q,)))
    rows = []
    for j, q in enumerate(quantiles):
        summary = amplification_summary(fit_mse[j], q, n_train)
        rows.append(
            {
                "n_quantiles": q,
                "sample_mse": Measurement(float(sample_mse[j].mean()), float(sample_mse[j].std(ddof=1))),
                "expected_sample_mse": float(expected_quantile_mse(n_train, q)),
                "fit_mse": Measurement(float(fit_mse[j].mean()), float(fit_mse[j].std(ddof=1))),
                "fit_beats_sample": float(np.mean(fit_mse[j] < sample_mse[j])),
                **summary,
            }
        )
    return {
        "config": {
            "toy": toy.name,
            "n_train": n_train,
            "n_samples": n_samples,
            "n_quantiles": quantiles,
            "seed": seed,
        },
        "rows": rows,
        "fit_mse": fit_mse,
        "sample_mse": sample_mse,
        "n_invalid_fits": invalid,
    }
