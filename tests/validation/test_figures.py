"""Validation figures: the magic-weight histogram (Fig. 3, right of Precision Enthusiasts)."""

from __future__ import annotations

import numpy as np

from evgen.validation.figures import plot_weight_distribution


def test_weight_plot_counts_every_positive_weight():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.concatenate([np.zeros(7), 1 + np.random.default_rng(0).exponential(0.5, 993)])
    ax = plot_weight_distribution({"Z+2j": weights}, bins=20, range=(1.0, 20.0))
    assert "7 with w = 0" in ax.get_legend().get_texts()[0].get_text()
    assert ax.get_yscale() == "log"
    plt.close(ax.figure)
