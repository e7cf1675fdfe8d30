"""Figures of predicted posteriors: pull and PIT histograms, predicted against true labels,
residuals, and corner plots of single stars. The numbers come from
:mod:`course_lib.conditional.metrics`; these functions only draw."""

from __future__ import annotations

import math
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from torch import Tensor

from course_lib._validation import check_positive_int, check_tensor, format_shape
from course_lib.conditional.metrics import normal_fit, pit_histogram, r2_score

__all__ = [
    "plot_pit",
    "plot_posterior_corner",
    "plot_predicted_vs_true",
    "plot_pulls",
    "plot_residuals",
]


def _axes_row(axes: Sequence[Axes] | None, count: int, height: float = 2.8) -> list[Axes]:
    if axes is None:
        _, axes = plt.subplots(1, count, figsize=(3.4 * count, height), squeeze=False)
        return list(axes[0])
    axes = list(np.ravel(axes))
    if len(axes) != count:
        raise ValueError(f"axes must hold one Axes per label ({count}); got {len(axes)}.")
    return axes


def _names(names: Sequence[str] | None, count: int) -> list[str]:
    if names is None:
        return [f"label {i}" for i in range(count)]
    names = list(names)
    if len(names) != count:
        raise ValueError(f"names must name the {count} labels; got {len(names)} names.")
    return names


def _table(name: str, value: object) -> np.ndarray:
    value = check_tensor(name, value, ndim=2, floating=True)
    return value.detach().cpu().double().numpy()


def plot_pulls(
    pulls: Tensor,
    *,
    names: Sequence[str] | None = None,
    bins: int = 40,
    limit: float = 5.0,
    axes: Sequence[Axes] | None = None,
) -> list[Axes]:
    """Histograms of the pulls of each label, with the fitted normal and :math:`N(0, 1)`.

    Args:
        pulls: Shape ``(stars, labels)``, from :func:`~course_lib.conditional.pulls`.
        names: Label names for the titles.
        bins: Histogram bins on ``[-limit, limit]``.
        limit: Half-width of the plotted range (pulls beyond it are counted in the fit).
        axes: One Axes per label, or ``None`` for a new figure.

    Returns:
        The axes drawn on.
    """
    values = _table("pulls", pulls)
    count = values.shape[1]
    names = _names(names, count)
    axes = _axes_row(axes, count)
    bins = check_positive_int("bins", bins)
    mean, std = (t.numpy() for t in normal_fit(torch.as_tensor(values)))
    grid = np.linspace(-limit, limit, 300)
    for j, ax in enumerate(axes):
        ax.hist(values[:, j], bins=bins, range=(-limit, limit), density=True, color="0.75")
        fitted = np.exp(-0.5 * ((grid - mean[j]) / std[j]) ** 2) / (std[j] * math.sqrt(2 * math.pi))
        ax.plot(grid, fitted, color="C0", label=f"fit: {mean[j]:+.2f} ± {std[j]:.2f}")
        unit = np.exp(-0.5 * grid**2) / math.sqrt(2 * math.pi)
        ax.plot(grid, unit, color="C1", linestyle="--", label="N(0, 1)")
        ax.set_title(f"pull of {names[j]}")
        ax.set_xlabel("(true − mean) / std")
        ax.legend(frameon=False, fontsize="small")
    return axes


def plot_pit(
    pit: Tensor,
    *,
    names: Sequence[str] | None = None,
    bins: int = 10,
    axes: Sequence[Axes] | None = None,
) -> list[Axes]:
    """Histograms of the PIT values of each label, with the uniform density (calibrated)
    and its ±2 binomial standard errors.

    A U shape means overconfident posteriors, a hump underconfident ones, a slope a bias.
    """
    pit = check_tensor("pit", pit, ndim=2, floating=True)
    shares = pit_histogram(pit, bins).detach().cpu().double().numpy()
    count = shares.shape[1]
    names = _names(names, count)
    axes = _axes_row(axes, count)
    edges = np.linspace(0, 1, bins + 1)
    error = 2 * math.sqrt((1 / bins) * (1 - 1 / bins) / pit.shape[0]) * bins
    for j, ax in enumerate(axes):
        ax.bar(edges[:-1], shares[:, j] * bins, width=1 / bins, align="edge", color="0.75")
        ax.axhline(1.0, color="C1", linestyle="--", label="uniform")
        ax.axhspan(1 - error, 1 + error, color="C1", alpha=0.15, label="±2 s.e.")
        ax.set_xlim(0, 1)
        ax.set_title(f"PIT of {names[j]}")
        ax.set_xlabel("predicted CDF at the truth")
        ax.legend(frameon=False, fontsize="small")
    return axes


def plot_predicted_vs_true(
    true: Tensor,
    predicted: Tensor,
    *,
    names: Sequence[str] | None = None,
    axes: Sequence[Axes] | None = None,
    **scatter,
) -> list[Axes]:
    """Posterior means against true labels, with the 1:1 line and :math:`R^2` in the title."""
    t, p = _table("true", true), _table("predicted", predicted)
    if t.shape != p.shape:
        raise ValueError(
            f"predicted must have the shape of true, {format_shape(t.shape)}; got "
            f"{format_shape(p.shape)}."
        )
    r2 = r2_score(torch.as_tensor(t), torch.as_tensor(p)).numpy()
    names = _names(names, t.shape[1])
    axes = _axes_row(axes, t.shape[1], height=3.2)
    for j, ax in enumerate(axes):
        ax.scatter(t[:, j], p[:, j], s=scatter.get("s", 3), alpha=scatter.get("alpha", 0.4))
        low, high = min(t[:, j].min(), p[:, j].min()), max(t[:, j].max(), p[:, j].max())
        ax.plot([low, high], [low, high], color="C1", linewidth=1, label="1:1")
        ax.set_title(f"{names[j]}: $R^2$ = {r2[j]:.3f}")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted mean")
    return axes


def plot_residuals(
    true: Tensor,
    predicted: Tensor,
    *,
    names: Sequence[str] | None = None,
    axes: Sequence[Axes] | None = None,
) -> list[Axes]:
    """Residuals ``predicted - true`` against the true labels: a slope means the model
    pulls its predictions towards the mean of the training labels."""
    t, p = _table("true", true), _table("predicted", predicted)
    if t.shape != p.shape:
        raise ValueError(
            f"predicted must have the shape of true, {format_shape(t.shape)}; got "
            f"{format_shape(p.shape)}."
        )
    names = _names(names, t.shape[1])
    axes = _axes_row(axes, t.shape[1])
    for j, ax in enumerate(axes):
        ax.scatter(t[:, j], p[:, j] - t[:, j], s=3, alpha=0.4)
        ax.axhline(0.0, color="C1", linewidth=1)
        ax.set_title(f"residuals of {names[j]}")
        ax.set_xlabel("true")
        ax.set_ylabel("predicted − true")
    return axes


def plot_posterior_corner(
    samples: Tensor,
    *,
    true: Tensor | None = None,
    names: Sequence[str] | None = None,
    bins: int = 30,
    fig: plt.Figure | None = None,
) -> plt.Figure:
    """A corner plot of one star's posterior: 1-D histograms of each label on the diagonal,
    2-D histograms of each pair below it, the true labels as lines.

    Args:
        samples: Posterior samples of one star, shape ``(samples, labels)``.
        true: The star's true labels, shape ``(labels,)``, or ``None``.
        names: Label names.
        bins: Histogram bins per axis.
        fig: Figure to draw on (its axes are replaced), or ``None``.

    Returns:
        The figure.
    """
    s = _table("samples", samples)
    count = s.shape[1]
    names = _names(names, count)
    t = None
    if true is not None:
        true = check_tensor("true", true, shape=(count,), floating=True)
        t = true.detach().cpu().double().numpy()
    if fig is None:
        fig = plt.figure(figsize=(2.2 * count, 2.2 * count))
    fig.clear()
    axes = fig.subplots(count, count, squeeze=False)
    for i in range(count):
        for j in range(count):
            ax = axes[i][j]
            if j > i:
                ax.set_axis_off()
                continue
            if i == j:
                ax.hist(s[:, i], bins=bins, color="0.5", histtype="step")
                ax.set_yticks([])
                if t is not None:
                    ax.axvline(t[i], color="C1")
            else:
                ax.hist2d(s[:, j], s[:, i], bins=bins, cmap="Greys")
                if t is not None:
                    ax.plot(t[j], t[i], marker="+", color="C1", markersize=12)
            if i == count - 1:
                ax.set_xlabel(names[j])
            else:
                ax.set_xticklabels([])
            if j == 0 and i > 0:
                ax.set_ylabel(names[i])
            elif j > 0:
                ax.set_yticklabels([])
    return fig
