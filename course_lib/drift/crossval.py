"""K-fold cross-validated log-scores of distributional regression models, and the Diabetes data.

The protocol of Kook et al. (2024): split the rows into ``folds`` folds; for each, train a
fresh model on the other folds (the model's standardization of ``x`` and ``y`` is fitted
on them only, and 10% of them are held out for early stopping) and score the held-out
fold by its mean log-likelihood per observation on the raw scale of ``y`` (the test
log-score; higher is better). The result reports the mean and standard deviation of the
fold scores.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from course_lib._validation import (
    check_float_dtype,
    check_positive_int,
    describe,
    seeded_init,
)
from course_lib.drift.fitting import fit_regression
from course_lib.drift.model import TransformationModel

__all__ = ["CrossValidation", "cross_validate", "diabetes", "fold_indices"]


def diabetes(*, max_levels: int = 10, dtype: torch.dtype = torch.float32) -> tuple:
    """scikit-learn's Diabetes data (442 patients, disease progression after one year).

    Features with at most ``max_levels`` distinct values (here: sex) are dropped, as in
    Kook et al. (2024); the response stays on its raw scale (25 to 346).

    Returns:
        ``(y, x, names)``: responses, shape ``(442,)``; features, shape ``(442, 9)``
        (unscaled: models standardize them); the kept feature names.
    """
    from sklearn.datasets import load_diabetes

    check_float_dtype(dtype)
    data = load_diabetes(scaled=False)
    keep = [j for j in range(data.data.shape[1]) if len(np.unique(data.data[:, j])) > max_levels]
    x = torch.as_tensor(data.data[:, keep], dtype=dtype)
    y = torch.as_tensor(data.target, dtype=dtype)
    return y, x, [data.feature_names[j] for j in keep]


def fold_indices(n: int, folds: int, seed: int) -> list[Tensor]:
    """A random partition of ``range(n)`` into ``folds`` test folds of near-equal size."""
    n = check_positive_int("n", n)
    folds = check_positive_int("folds", folds)
    if folds < 2 or folds > n:
        raise ValueError(f"folds must be between 2 and n ({n}); got {folds}.")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return list(torch.tensor_split(order, folds))


@dataclass
class CrossValidation:
    """Test log-scores of one model over the folds.

    Attributes:
        scores: Mean test log-likelihood per observation of each fold (raw scale).
        epochs_run: Epochs trained in each fold (early stopping ends them).
        best_epochs: Epoch whose weights were kept, per fold.
        seconds: Training and scoring seconds per fold.
        summary: ``model.summary()`` of the first fold's model.
    """

    scores: list[float] = field(default_factory=list)
    epochs_run: list[int] = field(default_factory=list)
    best_epochs: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    summary: str = ""

    @property
    def mean(self) -> float:
        """Mean of the fold scores."""
        return statistics.fmean(self.scores)

    @property
    def std(self) -> float:
        """Standard deviation (n - 1) of the fold scores."""
        return statistics.stdev(self.scores) if len(self.scores) > 1 else math.nan


def cross_validate(
    build: Callable[[int], TransformationModel],
    y: Tensor,
    x: Tensor,
    *,
    folds: int = 10,
    seed: int = 0,
    first_folds: int | None = None,
    on_fold: Callable[[int, float], None] | None = None,
    **fit_options,
) -> CrossValidation:
    """K-fold cross-validated test log-scores of the models that ``build`` makes.

    Args:
        build: Called as ``build(features)`` for a fresh model in each fold (its
            initialization seeded from ``seed`` and the fold).
        y: Responses, shape ``(n,)``, raw scale.
        x: Features, shape ``(n, features)``, raw scale.
        folds: Number of folds.
        seed: Seeds the partition, each fold's initialization, split and shuffling.
        first_folds: Run only the first this many folds of the partition (a quick look);
            ``None`` runs all.
        on_fold: Called as ``on_fold(fold, score)`` after each fold (progress, time limits).
        fit_options: Passed to :func:`course_lib.drift.fit_regression` (``lr``,
            ``batch_size``, ``epochs``, ``patience``, ``val_fraction``).

    Returns:
        A :class:`CrossValidation`.

    Raises:
        TypeError: If ``build`` is not callable or does not return a TransformationModel.
        ValueError: If ``folds`` is out of range or data are malformed.
    """
    if not callable(build):
        raise TypeError(f"build must be callable as build(features); got {describe(build)}.")
    for key in ("scale", "validation", "seed"):
        if key in fit_options:
            raise ValueError(f"{key} is set by cross_validate; do not pass it.")
    partition = fold_indices(y.shape[0], folds, seed)
    if first_folds is not None:
        partition = partition[: check_positive_int("first_folds", first_folds)]
    result = CrossValidation()
    for fold, test in enumerate(partition):
        start = time.perf_counter()
        train = torch.ones(y.shape[0], dtype=torch.bool)
        train[test] = False
        with seeded_init(seed * 1000 + fold):
            model = build(x.shape[1])
        if not isinstance(model, TransformationModel):
            raise TypeError(
                f"build must return a course_lib.drift TransformationModel; got {describe(model)}."
            )
        model = model.to(y.dtype)
        # Standardization is fitted here, on the training folds only.
        fit_regression(
            model, y[train], x[train], scale=True, seed=seed * 1000 + fold, **fit_options
        )
        with torch.no_grad():
            score = float(model.log_prob(y[test], x[test]).mean())
        record = model.training_record
        result.scores.append(score)
        result.epochs_run.append(record["epochs_run"])
        result.best_epochs.append(record["best_epoch"])
        result.seconds.append(time.perf_counter() - start)
        if fold == 0:
            result.summary = model.summary()
        if on_fold is not None:
            on_fold(fold, score)
    return result
