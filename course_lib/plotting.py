"""Figures that chapters share, drawn with matplotlib's object API."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from torch import Tensor

from course_lib._validation import check_binary, check_positive_int, check_tensor, describe
from course_lib.training import History

__all__ = [
    "plot_bernoulli_kl",
    "plot_binned_shares",
    "plot_cdf_area",
    "plot_density_2d",
    "plot_density_family",
    "plot_density_fits",
    "plot_flow_panels",
    "plot_history",
    "plot_kl_integrand",
    "plot_samples",
]


def plot_history(
    history: History, *, ax: Axes | None = None, title: str | None = None, log_scale: bool = False
) -> Axes:
    """Plots the training loss per step, the validation losses and the best step.

    Steps are counted from 1, as in :class:`~course_lib.training.History`.

    Args:
        history: What :func:`course_lib.training.fit` returned.
        ax: Axes to draw on; a new figure when ``None``.
        title: Title of the axes.
        log_scale: Whether to use a logarithmic loss axis (losses must be positive).

    Returns:
        The axes drawn on.

    Raises:
        TypeError: If ``history`` is not a ``History``.
        ValueError: If it holds no steps, or ``log_scale`` meets a loss <= 0.

    Example:
        >>> history = History(train_loss=[1.0, 0.5, 0.25], val_loss=[0.6, 0.7],
        ...                   val_steps=[2, 3], best_step=2, best_val_loss=0.6, steps=3)
        >>> ax = plot_history(history, title="demo")
        >>> len(ax.lines), ax.get_title()
        (3, 'demo')
    """
    if not isinstance(history, History):
        raise TypeError(
            f"history must be a course_lib.training.History, as returned by fit; got "
            f"{describe(history)}."
        )
    if not history.train_loss:
        raise ValueError("history holds no steps (train_loss is empty); did fit run?")
    if log_scale:
        smallest = min(history.train_loss + history.val_loss)
        if not smallest > 0:
            raise ValueError(
                f"log_scale needs positive losses; the smallest is {smallest:.4g}. "
                "Pass log_scale=False."
            )
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.5))
    steps = range(1, len(history.train_loss) + 1)
    ax.plot(steps, history.train_loss, color="C0", linewidth=1.2, label="training")
    if history.val_loss:
        ax.plot(
            history.val_steps,
            history.val_loss,
            color="C1",
            marker="o",
            markersize=3,
            linewidth=1.0,
            label="validation",
        )
    if history.best_step is not None:
        ax.axvline(
            history.best_step,
            color="0.4",
            linestyle=":",
            linewidth=1.0,
            label=f"best step ({history.best_step})",
        )
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    if title is not None:
        ax.set_title(title)
    ax.legend(frameon=False)
    return ax


def plot_binned_shares(
    x: Tensor,
    y: Tensor,
    probability: Callable[[Tensor], Tensor] | None = None,
    *,
    bins: int = 20,
    ax: Axes | None = None,
) -> Axes:
    r"""Plots the share of ``y = 1`` in equal-width bins of ``x``, against a probability curve.

    Each bin's share is drawn with a binomial standard error bar
    :math:`\sqrt{s(1 - s)/m}` (``m`` points in the bin); empty bins are skipped.

    Args:
        x: A regressor, shape ``(batch,)``.
        y: Outcomes, shape ``(batch,)``, values 0 or 1.
        probability: Maps a grid of shape ``(points,)`` (``x``'s dtype) to
            :math:`P(y = 1 \mid x)` on it; drawn as a curve when given.
        bins: Number of bins.
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The axes drawn on.

    Example:
        >>> from course_lib.datasets import binary_choice
        >>> data = binary_choice(n=500, seed=0)
        >>> ax = plot_binned_shares(data.x[:, 0], data.y, lambda t: torch.sigmoid(1 + 2 * t))
        >>> len(ax.lines) >= 2
        True
    """
    check_tensor("x", x, ndim=1, floating=True, hint="Pass one regressor, e.g. x[:, 0].")
    y = check_binary("y", y, batch=x.shape[0])
    bins = check_positive_int("bins", bins)
    x64 = x.detach().to(device="cpu", dtype=torch.float64)
    y64 = y.detach().to(device="cpu", dtype=torch.float64)
    low, high = float(x64.min()), float(x64.max())
    width = (high - low) / bins or 1.0
    index = ((x64 - low) / width).floor().clamp(0, bins - 1).long()
    counts = torch.bincount(index, minlength=bins).double()
    ones = torch.bincount(index, weights=y64, minlength=bins)
    filled = counts > 0
    centers = low + width * (torch.arange(bins, dtype=torch.float64) + 0.5)
    shares = ones[filled] / counts[filled]
    errors = (shares * (1 - shares) / counts[filled]).sqrt()
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.5))
    ax.errorbar(
        centers[filled].tolist(),
        shares.tolist(),
        yerr=errors.tolist(),
        fmt="o",
        markersize=3,
        color="C0",
        label="share choosing 1 (binned)",
    )
    if probability is not None:
        grid = torch.linspace(low, high, 200, dtype=x.dtype, device=x.device)
        with torch.no_grad():
            curve = probability(grid)
        curve = check_tensor("probability(grid)", curve, shape=(200,))
        ax.plot(
            grid.cpu().tolist(), curve.cpu().double().tolist(), color="C1", label="P(y = 1 | x)"
        )
    ax.set_xlabel("x")
    ax.set_ylabel("share of y = 1")
    ax.set_ylim(-0.03, 1.03)
    ax.legend(frameon=False)
    return ax


def plot_bernoulli_kl(y: Tensor, *, ax: Axes | None = None) -> Axes:
    r"""Plots, for the intercept-only model :math:`p(y = 1) = q`, the mean NLL and the KL.

    With :math:`\hat q` the observed share, the mean negative log-likelihood
    :math:`-[\hat q\log q + (1 - \hat q)\log(1 - q)]` equals
    :math:`\operatorname{KL}(\hat p\,\|\,p_q) + H(\hat p)`: the two curves differ by
    the entropy of the data and share their minimiser :math:`q = \hat q`.

    Args:
        y: Outcomes, shape ``(batch,)``, values 0 or 1, both present.
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The axes drawn on.

    Example:
        >>> ax = plot_bernoulli_kl(torch.tensor([0.0, 1.0, 1.0, 1.0]))
        >>> len(ax.lines)
        3
    """
    y = check_binary("y", y)
    share = float(y.detach().double().mean())
    if not 0 < share < 1:
        raise ValueError(
            f"y must contain both outcomes; its share of 1s is {share:g}, where the entropy "
            "is 0 and the minimiser lies on the boundary."
        )
    q = torch.linspace(0.005, 0.995, 199, dtype=torch.float64)
    nll = -(share * q.log() + (1 - share) * (-q).log1p())
    entropy = -(share * math.log(share) + (1 - share) * math.log1p(-share))
    if ax is None:
        _, ax = plt.subplots(figsize=(6.0, 3.5))
    ax.plot(q.tolist(), nll.tolist(), color="C0", label="mean negative log-likelihood")
    ax.plot(q.tolist(), (nll - entropy).tolist(), color="C1", label=r"KL$(\hat p\,\|\,p_q)$")
    ax.axvline(share, color="0.4", linestyle=":", linewidth=1.0, label=rf"$\hat q$ = {share:.3f}")
    ax.set_xlabel("q = p(y = 1)")
    ax.set_ylabel("nats")
    ax.set_ylim(bottom=0.0)
    ax.legend(frameon=False)
    return ax


def plot_density_fits(
    sample: Tensor,
    history_unnormalized: History,
    history_normalized: History,
    density: torch.nn.Module,
    *,
    low: float | None = None,
    high: float | None = None,
) -> tuple[Axes, Axes]:
    """Two panels: the losses of an unnormalized and a normalized fit, and the fitted density.

    Left, the training loss per step of both fits (the unnormalized
    "negative log-likelihood" keeps falling). Right, a histogram of the sample
    with the density ``density.log_prob(grid).exp()`` on ``[low, high]``.

    Args:
        sample: The data, shape ``(batch,)``.
        history_unnormalized: History of the fit of the positive network.
        history_normalized: History of the fit of the normalized density.
        density: The fitted density, with ``log_prob(points)`` of shape ``(points,)``.
        low: Left end of the grid; ``density.low`` when it has one, else the sample's minimum.
        high: Right end of the grid; ``density.high`` or the sample's maximum.

    Returns:
        The two axes.
    """
    check_tensor("sample", sample, ndim=1, floating=True)
    for name, history in (
        ("history_unnormalized", history_unnormalized),
        ("history_normalized", history_normalized),
    ):
        if not isinstance(history, History) or not history.train_loss:
            raise TypeError(
                f"{name} must be a non-empty History from fit; got {describe(history)}."
            )
    if not callable(getattr(density, "log_prob", None)):
        raise TypeError(f"density must have a log_prob method; got {describe(density)}.")
    points = sample.detach().to(device="cpu", dtype=torch.float64)
    low = float(getattr(density, "low", points.min())) if low is None else float(low)
    high = float(getattr(density, "high", points.max())) if high is None else float(high)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10.0, 3.5))
    for history, label, color in (
        (history_unnormalized, "positive network (not a density)", "C3"),
        (history_normalized, "normalized on a grid", "C0"),
    ):
        steps = range(1, len(history.train_loss) + 1)
        left.plot(steps, history.train_loss, color=color, label=label)
    left.set_xlabel("step")
    left.set_ylabel('"negative log-likelihood"')
    left.legend(frameon=False)
    right.hist(points.tolist(), bins=40, density=True, color="0.8", label="sample")
    parameter = next(density.parameters(), None)
    grid = torch.linspace(
        low,
        high,
        400,
        dtype=sample.dtype if parameter is None else parameter.dtype,
        device=sample.device if parameter is None else parameter.device,
    )
    with torch.no_grad():
        values = density.log_prob(grid).exp()
    right.plot(
        grid.cpu().tolist(), values.cpu().double().tolist(), color="C0", label="fitted density"
    )
    right.set_xlabel("x")
    right.set_ylabel("density")
    right.legend(frameon=False)
    figure.tight_layout()
    return left, right


def plot_density_family(
    log_density: Callable[[Tensor, float, float], Tensor],
    rows: Sequence[float],
    columns: Sequence[float],
    *,
    row_label: str,
    column_label: str,
    low: float = -5.0,
    high: float = 5.0,
    reference: Callable[[Tensor], Tensor] | None = None,
) -> Sequence[Axes]:
    """A grid of 1-D densities, one panel per pair of parameter values.

    Args:
        log_density: Called as ``log_density(x, row_value, column_value)`` with ``x`` of
            shape ``(points,)``; returns log-densities of the same shape.
        rows: Values of the first parameter, one row of panels each.
        columns: Values of the second parameter, one column each.
        row_label: Name of the first parameter, for the panel titles.
        column_label: Name of the second parameter.
        low: Left end of the plotted range.
        high: Right end of the plotted range.
        reference: An optional log-density drawn dashed in every panel (e.g. the base).

    Returns:
        The axes, shape ``(len(rows), len(columns))``.
    """
    _, axes = plt.subplots(
        len(rows),
        len(columns),
        figsize=(2.6 * len(columns), 1.9 * len(rows)),
        sharex=True,
        sharey=True,
        squeeze=False,
    )
    x = torch.linspace(low, high, 400, dtype=torch.float64)
    for i, row_value in enumerate(rows):
        for j, column_value in enumerate(columns):
            ax = axes[i][j]
            with torch.no_grad():
                if reference is not None:
                    ax.plot(x, reference(x).exp(), color="gray", linestyle="--", linewidth=1)
                ax.plot(x, log_density(x, row_value, column_value).exp())
            ax.set_title(
                f"{row_label} = {row_value:g}, {column_label} = {column_value:g}", fontsize=9
            )
    for ax in axes[-1]:
        ax.set_xlabel("x")
    return axes


def _grid(extent: Sequence[float], points: int) -> tuple[Tensor, Tensor, Tensor]:
    left, right, bottom, top = extent
    xs = torch.linspace(left, right, points)
    ys = torch.linspace(bottom, top, points)
    grid_x, grid_y = torch.meshgrid(xs, ys, indexing="xy")
    return grid_x, grid_y, torch.stack([grid_x.reshape(-1), grid_y.reshape(-1)], dim=1)


def plot_density_2d(
    log_prob: Callable[[Tensor], Tensor],
    *,
    extent: Sequence[float] = (-4.0, 4.0, -4.0, 4.0),
    points: int = 200,
    samples: Tensor | None = None,
    ax: Axes | None = None,
    title: str | None = None,
) -> Axes:
    """A 2-D density as an image, with optional samples on top.

    Args:
        log_prob: Maps points of shape ``(n, 2)`` to log-densities of shape ``(n,)``,
            e.g. a flow's ``log_prob``.
        extent: ``(left, right, bottom, top)`` of the plotted square.
        points: Grid points per axis.
        samples: Points to scatter on top, shape ``(n, 2)``.
        ax: Axes to draw on; a new figure when ``None``.
        title: Title of the axes.

    Returns:
        The axes drawn on.
    """
    check_positive_int("points", points)
    ax = ax if ax is not None else plt.subplots(figsize=(4, 4))[1]
    grid_x, _, grid = _grid(extent, points)
    with torch.no_grad():
        density = log_prob(grid).exp().reshape(grid_x.shape).cpu()
    ax.imshow(density, origin="lower", extent=tuple(extent), cmap="viridis", aspect="auto")
    if samples is not None:
        values = samples.detach().cpu()
        ax.scatter(values[:, 0], values[:, 1], s=1, color="white", alpha=0.3)
    ax.set(xlim=extent[:2], ylim=extent[2:])
    if title:
        ax.set_title(title)
    return ax


def plot_flow_panels(
    flow,
    data: Tensor,
    *,
    extent: Sequence[float] = (-4.0, 4.0, -4.0, 4.0),
    samples: int = 2000,
    axes: Sequence[Axes] | None = None,
    title: str | None = None,
) -> Sequence[Axes]:
    """The four views of a fitted 2-D flow: data, data mapped to the base, samples, density.

    Args:
        flow: A :class:`course_lib.flows.Flow` on two features.
        data: Data points, shape ``(n, 2)``.
        extent: ``(left, right, bottom, top)`` of the data-space panels.
        samples: Number of samples for the third panel.
        axes: Four axes to draw on; a new row of four when ``None``.
        title: Prefix of the panel titles (e.g. the data set's name).

    Returns:
        The four axes.
    """
    check_tensor("data", data, ndim=2, shape=(None, 2), floating=True)
    axes = axes if axes is not None else plt.subplots(1, 4, figsize=(14, 3.4))[1]
    prefix = f"{title}: " if title else ""
    points = data.detach().cpu()
    with torch.no_grad():
        latent, _ = flow.transform.inverse(data)
        generated = flow.sample((samples,))
    panels = [
        (points, extent, "data"),
        (latent.cpu(), (-4.0, 4.0, -4.0, 4.0), "data mapped to the base"),
        (generated.cpu(), extent, "base samples mapped to data"),
    ]
    for ax, (values, limits, name) in zip(axes[:3], panels, strict=False):
        ax.scatter(values[:, 0], values[:, 1], s=1, alpha=0.4)
        ax.set(xlim=limits[:2], ylim=limits[2:], title=prefix + name)
    plot_density_2d(flow.log_prob, extent=extent, ax=axes[3], title=prefix + "learned density")
    return axes


def _check_distribution(name: str, distribution: object, method: str) -> None:
    if not callable(getattr(distribution, method, None)):
        raise TypeError(
            f"{name} must be a 1-D distribution with a {method} method, such as "
            f"torch.distributions.Normal(0.0, 1.0); got {describe(distribution)}."
        )


def _line_grid(low: float, high: float, points: int = 1000) -> Tensor:
    if not low < high:
        raise ValueError(f"low must be smaller than high; got low={low}, high={high}.")
    return torch.linspace(low, high, points, dtype=torch.float64)


def plot_kl_integrand(
    p, q, *, low: float = -4.0, high: float = 6.0, axes: Sequence[Axes] | None = None
) -> Sequence[Axes]:
    r"""Two panels: the densities of ``p`` and ``q``, and the integrand of KL(p || q).

    The integrand :math:`p(x)\log\frac{p(x)}{q(x)}` is shaded where it is positive and, in
    another colour, where it is negative (where :math:`q > p`); its integral, the KL
    divergence, is never negative. The value by the trapezoidal rule is in the legend.

    Args:
        p: A 1-D distribution with ``log_prob``, e.g. ``torch.distributions.Normal(0., 1.)``.
        q: Another, the model.
        low: Left end of the plotted range.
        high: Right end of the plotted range.
        axes: Two axes to draw on; a new figure with two rows when ``None``.

    Returns:
        The two axes.

    Example:
        >>> from torch.distributions import Normal
        >>> axes = plot_kl_integrand(Normal(0.0, 1.0), Normal(2.0, 1.0))
        >>> len(axes[0].lines), len(axes[1].collections)
        (2, 2)
    """
    _check_distribution("p", p, "log_prob")
    _check_distribution("q", q, "log_prob")
    x = _line_grid(low, high)
    with torch.no_grad():
        log_p, log_q = p.log_prob(x).double(), q.log_prob(x).double()
    density_p, density_q = log_p.exp(), log_q.exp()
    integrand = density_p * (log_p - log_q)
    kl = float(torch.trapezoid(integrand, x))
    if axes is None:
        axes = plt.subplots(2, 1, figsize=(8.0, 5.5), sharex=True)[1]
    top, bottom = axes
    top.plot(x, density_p, lw=2, label="p (data)")
    top.plot(x, density_q, lw=2, label="q (model)")
    top.set_ylabel("density")
    top.legend(frameon=False)
    values = integrand.numpy()
    bottom.plot(x, values, color="purple", lw=2, label=f"p log(p / q); integral {kl:.3f}")
    bottom.fill_between(
        x.numpy(),
        0,
        values,
        where=values >= 0,
        interpolate=True,
        color="purple",
        alpha=0.3,
        label="positive part",
    )
    bottom.fill_between(
        x.numpy(),
        0,
        values,
        where=values < 0,
        interpolate=True,
        color="red",
        alpha=0.3,
        label="negative part (where q > p)",
    )
    bottom.axhline(0.0, color="black", lw=1, linestyle="--")
    bottom.set_xlabel("x")
    bottom.set_ylabel("KL integrand")
    bottom.legend(frameon=False)
    return axes


def plot_cdf_area(p, q, *, low: float = -4.0, high: float = 6.0, ax: Axes | None = None) -> Axes:
    r"""The CDFs of ``p`` and ``q`` and the area between them, the distance :math:`W_1(p, q)`.

    In one dimension :math:`W_1(p, q) = \int |F_p(x) - F_q(x)|\,dx`; the area, by the
    trapezoidal rule on ``[low, high]``, is in the legend.

    Args:
        p: A 1-D distribution with ``cdf``, e.g. ``torch.distributions.Normal(0., 1.)``.
        q: Another.
        low: Left end of the plotted range (and of the integral).
        high: Right end.
        ax: Axes to draw on; a new figure when ``None``.

    Returns:
        The axes drawn on.

    Example:
        >>> from torch.distributions import Normal
        >>> ax = plot_cdf_area(Normal(0.0, 1.0), Normal(2.0, 1.0))
        >>> "2.000" in ax.get_legend().get_texts()[2].get_text()
        True
    """
    _check_distribution("p", p, "cdf")
    _check_distribution("q", q, "cdf")
    x = _line_grid(low, high)
    with torch.no_grad():
        cdf_p, cdf_q = p.cdf(x).double(), q.cdf(x).double()
    area = float(torch.trapezoid((cdf_p - cdf_q).abs(), x))
    ax = ax if ax is not None else plt.subplots(figsize=(8.0, 3.5))[1]
    ax.plot(x, cdf_p, lw=2, label="F: CDF of p")
    ax.plot(x, cdf_q, lw=2, label="G: CDF of q")
    ax.fill_between(
        x.numpy(),
        cdf_p.numpy(),
        cdf_q.numpy(),
        color="orange",
        alpha=0.4,
        label=f"|F - G|: area {area:.3f} = W1",
    )
    ax.set_xlabel("x")
    ax.set_ylabel("cumulative probability")
    ax.legend(frameon=False)
    return ax


def plot_samples(
    samples: Tensor,
    target: Tensor,
    *,
    ax: Axes | None = None,
    title: str | None = None,
    extent: Sequence[float] | None = None,
    bins: int = 60,
) -> Axes:
    """Generated points beside target points: histograms in 1-D, scatter plots in 2-D.

    Args:
        samples: Generated points, shape ``(n, 1)`` or ``(n, 2)`` (or ``(n,)``).
        target: Target points, with as many features.
        ax: Axes to draw on; a new figure when ``None``.
        title: Title of the axes.
        extent: ``(left, right)`` in 1-D, ``(left, right, bottom, top)`` in 2-D.
        bins: Histogram bins (1-D).

    Returns:
        The axes drawn on.

    Example:
        >>> ax = plot_samples(torch.randn(100, 2), torch.randn(100, 2), title="demo")
        >>> ax.get_title(), len(ax.collections)
        ('demo', 2)
    """
    if isinstance(samples, Tensor) and samples.ndim == 1:
        samples = samples.unsqueeze(-1)
    if isinstance(target, Tensor) and target.ndim == 1:
        target = target.unsqueeze(-1)
    check_tensor("samples", samples, ndim=2, floating=True)
    check_tensor("target", target, shape=(None, samples.shape[1]), floating=True)
    if samples.shape[1] not in (1, 2):
        raise ValueError(f"samples must have 1 or 2 features; got {samples.shape[1]}.")
    ax = ax if ax is not None else plt.subplots(figsize=(4.0, 3.5))[1]
    generated, data = samples.detach().cpu().double(), target.detach().cpu().double()
    if samples.shape[1] == 1:
        bounds = None if extent is None else tuple(extent[:2])
        ax.hist(data[:, 0], bins=bins, range=bounds, density=True, color="0.7", label="target")
        ax.hist(
            generated[:, 0],
            bins=bins,
            range=bounds,
            density=True,
            histtype="step",
            lw=1.5,
            color="C1",
            label="generated",
        )
        ax.set_xlabel("x")
        ax.set_ylabel("density")
    else:
        ax.scatter(data[:, 0], data[:, 1], s=1, color="0.6", alpha=0.4, label="target")
        ax.scatter(generated[:, 0], generated[:, 1], s=1, color="C1", alpha=0.4, label="generated")
        if extent is not None:
            ax.set(xlim=extent[:2], ylim=extent[2:])
    ax.legend(frameon=False, markerscale=4, loc="upper right", fontsize=8)
    if title:
        ax.set_title(title)
    return ax
