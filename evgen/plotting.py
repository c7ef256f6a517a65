"""The gateway to matplotlib + mplhep (an optional stack: imported only through here).

:func:`pyplot` gives matplotlib.pyplot with the mplhep style or an install hint;
:func:`training_curves_figure` draws a run's loss curves. Validation pages are drawn by
:mod:`evgen.validation.figures`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["training_curves_figure", "pyplot"]


def pyplot() -> Any:
    """matplotlib.pyplot with a non-interactive backend and the mplhep style, or a clear hint."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
        import mplhep
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("plotting needs matplotlib and mplhep: pip install matplotlib mplhep") from exc
    plt.style.use(mplhep.style.ROOT)
    return plt


def training_curves_figure(curves: dict[str, dict[str, list[float]]]) -> Any:
    """Loss (solid) and validation loss (dashed) per epoch, one panel per network
    (``curves`` as :func:`evgen.training.curves.loss_curves` returns them)."""
    plt = pyplot()
    names = list(curves)
    fig, axes = plt.subplots(1, len(names), figsize=(4.6 * len(names), 3.8), squeeze=False)
    for ax, name in zip(axes[0], names, strict=True):
        curve = curves[name]
        ax.plot(curve["epoch"], curve["loss"], marker="o", ms=3, label="loss")
        if "val_loss" in curve:
            ax.plot(curve["epoch"], curve["val_loss"], marker="s", ms=3, ls="--", label="validation loss")
        ax.set_xlabel("epoch", fontsize=11)
        ax.set_ylabel("loss", fontsize=11)
        ax.set_title(name or "training", fontsize=12)
        ax.tick_params(labelsize=9)
        ax.legend(fontsize=9)
    fig.tight_layout()
    return fig
