r"""Calibration and accuracy of predicted posteriors: pulls, PIT, interval coverage, R².

For a star with true label :math:`y`, posterior mean :math:`\mu`, standard deviation
:math:`\sigma` and marginal CDF :math:`F`:

* the *pull* :math:`(y - \mu)/\sigma` has mean 0 and standard deviation 1 over stars when
  the posteriors are calibrated (whatever their shape: :math:`E[(y-\mu)^2] = \sigma^2`
  under the posterior);
* the *PIT* :math:`u = F(y)` is uniform on :math:`[0, 1]` when the marginals are calibrated;
* the central :math:`\ell` interval :math:`[F^{-1}(\frac{1-\ell}{2}), F^{-1}(\frac{1+\ell}{2})]`
  contains :math:`y` exactly when :math:`|u - \tfrac12| \le \ell/2`, so its *coverage*
  comes from the PIT, and should be :math:`\ell`.

Every function works label by label: inputs ``(stars, labels)``, outputs ``(labels,)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib._validation import check_positive_int, check_tensor, describe, format_shape

__all__ = ["coverage", "normal_fit", "pit_histogram", "pit_ks", "pulls", "r2_score"]


def _check_table(name: str, value: object, like: Tensor | None = None) -> Tensor:
    hint = f"Pass shape (stars, labels), e.g. {name}.reshape(-1, 1) for one label."
    value = check_tensor(name, value, ndim=2, floating=True, hint=hint)
    if like is not None and value.shape != like.shape:
        raise ValueError(
            f"{name} must have the shape of true, {format_shape(like.shape)}; got "
            f"{format_shape(value.shape)}."
        )
    if value.shape[0] < 1:
        raise ValueError(f"{name} must hold at least one star (row); got 0.")
    return value


def pulls(true: Tensor, mean: Tensor, std: Tensor) -> Tensor:
    r"""The pulls :math:`(y - \mu)/\sigma`, shape ``(stars, labels)``.

    Args:
        true: True labels, shape ``(stars, labels)``.
        mean: Posterior means, same shape.
        std: Posterior standard deviations, same shape, > 0.

    Example:
        >>> true, mean = torch.tensor([[1.0, 2.0]]), torch.tensor([[0.0, 2.0]])
        >>> pulls(true, mean, std=torch.tensor([[2.0, 1.0]]))
        tensor([[0.5000, 0.0000]])
    """
    true = _check_table("true", true)
    mean = _check_table("mean", mean, true)
    std = _check_table("std", std, true)
    if not (std > 0).all():
        raise ValueError("std must be positive everywhere; got a value <= 0.")
    return (true - mean) / std


def normal_fit(values: Tensor) -> tuple[Tensor, Tensor]:
    """The maximum-likelihood normal of each column: its mean and (population) standard
    deviation, each of shape ``(labels,)``; for pulls, ideally 0 and 1.

    Example:
        >>> mean, std = normal_fit(torch.tensor([[-1.0], [1.0]]))
        >>> mean.tolist(), std.tolist()
        ([0.0], [1.0])
    """
    values = _check_table("values", values)
    return values.mean(0), values.std(0, unbiased=False)


def _check_pit(pit: object) -> Tensor:
    pit = _check_table("pit", pit)
    if not ((pit >= 0) & (pit <= 1)).all():
        raise ValueError("pit must lie in [0, 1] (values of a CDF); got a value outside.")
    return pit


def coverage(pit: Tensor, levels: Sequence[float] = (0.68, 0.95)) -> Tensor:
    r"""Share of stars whose true label lies in the central ``level`` interval of its
    posterior marginal, from the PIT values: :math:`|u - \tfrac12| \le \ell / 2`.

    Args:
        pit: PIT values, shape ``(stars, labels)``, in ``[0, 1]``.
        levels: Interval probabilities in ``(0, 1)``.

    Returns:
        Coverages, shape ``(len(levels), labels)``; ideally each row equals its level.

    Example:
        >>> coverage(torch.tensor([[0.5], [0.1], [0.99]]), levels=(0.68, 0.95)).tolist()
        [[0.3333333432674408], [0.6666666865348816]]
    """
    pit = _check_pit(pit)
    if isinstance(levels, str) or not isinstance(levels, Sequence) or not levels:
        raise TypeError(f"levels must be a sequence of probabilities; got {describe(levels)}.")
    if any(not (isinstance(x, float | int) and 0 < x < 1) for x in levels):
        raise ValueError(f"levels must lie strictly between 0 and 1; got {list(levels)}.")
    distance = (pit - 0.5).abs()
    return torch.stack([(distance <= level / 2).to(pit.dtype).mean(0) for level in levels])


def pit_histogram(pit: Tensor, bins: int = 10) -> Tensor:
    """Share of stars in each of ``bins`` equal bins of ``[0, 1]``, per label, shape
    ``(bins, labels)``; uniform (``1 / bins`` each) when calibrated.

    Example:
        >>> pit_histogram(torch.tensor([[0.1], [0.2], [0.9]]), bins=2).tolist()
        [[0.6666666865348816], [0.3333333432674408]]
    """
    pit = _check_pit(pit)
    bins = check_positive_int("bins", bins)
    index = (pit * bins).long().clamp(max=bins - 1)
    counts = torch.zeros(bins, pit.shape[1], dtype=pit.dtype, device=pit.device)
    counts.scatter_add_(0, index, torch.ones_like(pit))
    return counts / pit.shape[0]


def pit_ks(pit: Tensor) -> Tensor:
    r"""The Kolmogorov-Smirnov distance of each label's PIT values from the uniform
    distribution, :math:`\sup_u |\hat F(u) - u|`, shape ``(labels,)``.

    Zero for perfectly calibrated marginals (up to sampling noise, about
    :math:`0.9/\sqrt{n}` for :math:`n` stars); unlike the coverage of two intervals it sees
    a miscalibration at every level.

    Example:
        >>> pit_ks(torch.tensor([[0.25], [0.75]]))
        tensor([0.2500])
    """
    pit = _check_pit(pit)
    n = pit.shape[0]
    ordered = pit.sort(dim=0).values
    steps = torch.arange(1, n + 1, dtype=pit.dtype, device=pit.device)[:, None] / n
    above = (steps - ordered).amax(0)
    below = (ordered - (steps - 1 / n)).amax(0)
    return torch.maximum(above, below)


def r2_score(true: Tensor, predicted: Tensor) -> Tensor:
    r"""The coefficient of determination of each label,
    :math:`R^2 = 1 - \sum (y - \hat y)^2 / \sum (y - \bar y)^2`, shape ``(labels,)``.

    1 for perfect predictions, 0 for predicting the mean, negative when worse.

    Raises:
        ValueError: If a label is constant over the stars (``R^2`` undefined).

    Example:
        >>> r2_score(torch.tensor([[1.0], [2.0], [3.0]]), torch.tensor([[1.0], [2.0], [4.0]]))
        tensor([0.5000])
    """
    true = _check_table("true", true)
    predicted = _check_table("predicted", predicted, true)
    total = ((true - true.mean(0)) ** 2).sum(0)
    if not (total > 0).all():
        raise ValueError("true must vary within each label (column); R^2 is undefined otherwise.")
    return 1 - ((true - predicted) ** 2).sum(0) / total
