"""Training a conditional density model: a seeded train/validation/test split and the fit
by maximum likelihood, one loop for every head."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    describe,
)
from course_lib.conditional.model import ConditionalDensityModel
from course_lib.training import History, fit

__all__ = ["split_indices", "train_model"]


def split_indices(
    n: int,
    fractions: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int | torch.Generator | None = 0,
) -> tuple[Tensor, ...]:
    """A random partition of ``range(n)`` into parts of the given shares.

    Args:
        n: Number of items.
        fractions: Positive shares summing to 1 (e.g. train, validation, test).
        seed: Seed or CPU generator of the permutation.

    Returns:
        One int64 index tensor per share, disjoint, together ``range(n)``; the last part
        takes the rounding remainder.

    Example:
        >>> train, val, test = split_indices(10, seed=0)
        >>> len(train), len(val), len(test)
        (8, 1, 1)
        >>> sorted(torch.cat([train, val, test]).tolist()) == list(range(10))
        True
    """
    n = check_positive_int("n", n)
    if isinstance(fractions, str) or not isinstance(fractions, Sequence) or not fractions:
        raise TypeError(f"fractions must be a sequence of shares; got {describe(fractions)}.")
    shares = [float(f) for f in fractions]
    if any(not f > 0 for f in shares) or abs(sum(shares) - 1) > 1e-6:
        raise ValueError(f"fractions must be positive and sum to 1; got {list(fractions)}.")
    order = torch.randperm(n, generator=check_seed(seed))
    sizes = [int(round(f * n)) for f in shares[:-1]]
    if sum(sizes) > n:
        raise ValueError(f"n={n} is too small to split into shares {list(fractions)}.")
    sizes.append(n - sum(sizes))
    return tuple(order.split(sizes))


def _loss(model: ConditionalDensityModel, flux: Tensor, labels: Tensor) -> Tensor:
    return model.loss(flux, labels)


class _CosineAdam(torch.optim.Adam):
    """Adam whose learning rate follows a half cosine from ``lr`` to 0 over ``total`` steps:
    large steps early, small ones at the end, so the last epochs settle instead of jumping
    around the optimum (which would blur the calibration of the predicted spreads)."""

    def __init__(self, params, lr: float, total: int):
        super().__init__(params, lr=lr)
        self._base, self._total, self._count = lr, total, 0

    def step(self, closure=None):
        progress = min(self._count / self._total, 1.0)
        for group in self.param_groups:
            group["lr"] = 0.5 * self._base * (1 + math.cos(math.pi * progress))
        self._count += 1
        return super().step(closure)


def train_model(
    model: ConditionalDensityModel,
    train: tuple[Tensor, Tensor],
    val: tuple[Tensor, Tensor] | None = None,
    *,
    epochs: int = 10,
    batch_size: int = 128,
    lr: float = 1e-3,
    patience: int | None = None,
    seed: int | torch.Generator | None = 0,
    progress: bool = False,
    grad_clip: float | None = 5.0,
    schedule: str = "cosine",
) -> History:
    """Fits ``model`` by maximum likelihood: minimizes ``model.loss`` (the mean negative
    log-density of standardized labels) with Adam, via :func:`course_lib.training.fit`,
    scoring ``val`` after every epoch and keeping the best epoch's weights.

    Args:
        model: The model, e.g. from :func:`~course_lib.conditional.conditional_model`.
        train: ``(flux, labels)`` in physical units, shapes ``(n, pixels)`` and
            ``(n, features)``.
        val: Validation ``(flux, labels)``, or ``None``.
        epochs: Passes over ``train``.
        batch_size: Stars per step.
        lr: Adam's learning rate.
        patience: Epochs without a better validation loss before stopping (``None``: never).
        seed: Seed of the shuffling.
        progress: Whether to show a progress bar (never in graded cells).
        grad_clip: Largest gradient norm, or ``None``.
        schedule: ``"cosine"`` (the learning rate decays from ``lr`` to 0 over the epochs
            along a half cosine) or ``"constant"``.

    Returns:
        The :class:`~course_lib.training.History`; losses are in nats per star, on
        standardized labels.
    """
    if not isinstance(model, ConditionalDensityModel):
        raise TypeError(f"model must be a ConditionalDensityModel; got {describe(model)}.")
    for name, pair in (("train", train), ("val", val)):
        if pair is None and name == "val":
            continue
        if not isinstance(pair, tuple) or len(pair) != 2:
            raise TypeError(f"{name} must be a pair (flux, labels); got {describe(pair)}.")
    epochs = check_positive_int("epochs", epochs)
    batches = -(-train[0].shape[0] // check_positive_int("batch_size", batch_size))
    schedule = check_choice("schedule", schedule, ("cosine", "constant"))
    lr = check_positive_float("lr", lr)
    optimizer = None
    if schedule == "cosine":
        optimizer = lambda params: _CosineAdam(params, lr, epochs * batches)  # noqa: E731
    return fit(
        model,
        _loss,
        train,
        val_data=val,
        optimizer=optimizer,
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        patience=patience,
        eval_every=batches,
        progress=progress,
        grad_clip=grad_clip,
    )
