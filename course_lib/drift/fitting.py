"""``fit_regression``: maximum likelihood with a validation split and early stopping.

A thin layer over :func:`course_lib.training.fit`: it holds out a random fraction of the
training data, evaluates the validation NLL after every epoch, stops after ``patience``
epochs without improvement and restores the weights of the best epoch. It records what it
did in ``model.training_record`` (shown by ``model.summary()``).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib._validation import (
    check_nonnegative_int,
    check_positive_float,
    check_positive_int,
    check_seed,
    describe,
)
from course_lib.drift.model import TransformationModel
from course_lib.training import History, fit

__all__ = ["fit_regression"]


def _nll(model: TransformationModel, y: Tensor, x: Tensor) -> Tensor:
    return model.nll(y, x)


def fit_regression(
    model: TransformationModel,
    y: Tensor,
    x: Tensor,
    *,
    lr: float = 1e-3,
    batch_size: int = 32,
    epochs: int = 200,
    patience: int | None = 20,
    val_fraction: float = 0.1,
    validation: tuple[Tensor, Tensor] | None = None,
    scale: bool = True,
    seed: int | torch.Generator | None = 0,
    progress: bool = False,
) -> History:
    """Fits ``model`` to ``(y, x)`` by Adam on the mean NLL, with early stopping.

    Args:
        model: A :class:`~course_lib.drift.TransformationModel`.
        y: Responses, shape ``(n,)``.
        x: Features, shape ``(n, features)``.
        lr: Adam's learning rate.
        batch_size: Rows per mini-batch.
        epochs: Most passes over the training part.
        patience: Epochs without a new best validation NLL before stopping; ``None``
            runs every epoch (the best epoch is still restored).
        val_fraction: Fraction of ``(y, x)`` held out for validation (at least one row),
            drawn with ``seed``; ignored when ``validation`` is given.
        validation: An explicit ``(y_val, x_val)``; then all of ``(y, x)`` trains.
        scale: Whether to call ``model.fit_scaling(y, x)`` first (all of ``y, x``).
        seed: Seeds the split, the shuffling and anything random in training.
        progress: Whether to show a progress bar.

    Returns:
        The :class:`course_lib.training.History` (steps; an epoch is
        ``ceil(n_train / batch_size)`` steps). The model holds the best epoch's weights.

    Raises:
        TypeError: If ``model`` is not a TransformationModel, or data have the wrong type.
        ValueError: If data are malformed or settings out of range.
    """
    if not isinstance(model, TransformationModel):
        raise TypeError(
            f"model must be a course_lib.drift TransformationModel; got {describe(model)}."
        )
    y, x = model._check(y, x)
    lr = check_positive_float("lr", lr)
    batch_size = check_positive_int("batch_size", batch_size)
    epochs = check_positive_int("epochs", epochs)
    if patience is not None:
        patience = check_nonnegative_int("patience", patience) or None
    generator = check_seed(seed)
    if scale:
        model.fit_scaling(y, x)
    if validation is None:
        val_fraction = check_positive_float("val_fraction", val_fraction)
        if val_fraction >= 1:
            raise ValueError(f"val_fraction must be below 1; got {val_fraction}.")
        n = y.shape[0]
        n_val = max(1, round(val_fraction * n))
        if n - n_val < 1:
            raise ValueError(f"y has {n} rows: too few to hold out {n_val} for validation.")
        order = torch.randperm(n, generator=generator).to(y.device)
        val_rows, train_rows = order[:n_val], order[n_val:]
        y_val, x_val = y[val_rows], x[val_rows]
        y, x = y[train_rows], x[train_rows]
    else:
        if not isinstance(validation, tuple) or len(validation) != 2:
            raise TypeError(
                f"validation must be a pair (y_val, x_val); got {describe(validation)}."
            )
        y_val, x_val = model._check(*validation, name="validation[0]")
    steps_per_epoch = math.ceil(y.shape[0] / batch_size)
    history = fit(
        model,
        _nll,
        (y, x),
        val_data=(y_val, x_val),
        lr=lr,
        epochs=epochs,
        batch_size=batch_size,
        seed=generator,
        patience=patience,
        eval_every=steps_per_epoch,
        progress=progress,
        restore_best=True,
    )
    model.training_record = {
        "optimizer": "Adam",
        "lr": lr,
        "batch_size": batch_size,
        "epochs": epochs,
        "patience": patience,
        "steps_per_epoch": steps_per_epoch,
        "epochs_run": math.ceil(history.steps / steps_per_epoch),
        "best_epoch": math.ceil(history.best_step / steps_per_epoch),
        "best_val_nll": history.best_val_loss,
        "stopped_early": history.stopped_early,
        "seconds": history.seconds,
    }
    return history
