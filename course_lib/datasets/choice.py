"""Simulated binary choices: the logit model's data, with Gumbel utilities drawn exactly."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

from course_lib._validation import (
    check_float_dtype,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
)

__all__ = ["ChoiceData", "binary_choice"]


@dataclass(frozen=True, eq=False)
class ChoiceData:
    """Simulated binary choices and the parameters that generated them.

    Attributes:
        x: Regressors, shape ``(n, features)``.
        y: Choices, shape ``(n,)``, ``1.`` when option 1 was chosen, else ``0.``.
        beta: True coefficients, shape ``(features,)``.
        alpha: True constant of option 1.
    """

    x: Tensor
    y: Tensor
    beta: Tensor
    alpha: float


def _standard_gumbel(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    """Exact standard Gumbel draws in float64: ``-log E`` with ``E`` standard exponential.

    If ``E ~ Exp(1)`` then ``P(-log E <= t) = P(E >= exp(-t)) = exp(-exp(-t))``, the
    Gumbel distribution function; no clamping constant is needed.
    """
    exponential = torch.empty(shape, dtype=torch.float64).exponential_(generator=generator)
    return -exponential.log()


def binary_choice(
    n: int = 1000,
    *,
    beta: float | Sequence[float] = 2.0,
    alpha: float = 1.0,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> ChoiceData:
    r"""Simulates binary choices between two options with Gumbel utility shocks.

    Person :math:`i` has regressors :math:`x_i \sim \mathcal{N}(0, I)` and
    utilities

    .. math:: U_{i0} = \varepsilon_{i0}, \qquad
        U_{i1} = \alpha + x_i^\top \beta + \varepsilon_{i1},

    with :math:`\varepsilon_{i0}, \varepsilon_{i1}` independent standard
    Gumbel; the choice is :math:`y_i = 1[U_{i1} > U_{i0}]`. The difference of
    two independent standard Gumbel variables follows the standard logistic
    distribution, whose distribution function is the sigmoid :math:`\sigma`, so

    .. math:: P(y_i = 1 \mid x_i) = P(\varepsilon_{i0} - \varepsilon_{i1}
        < \alpha + x_i^\top \beta) = \sigma(\alpha + x_i^\top \beta):

    the data follow a binary logit model. The utilities themselves are drawn,
    not the probabilities. Everything is drawn in float64 on a CPU generator,
    in a fixed order (``x``, then :math:`\varepsilon_0`, then
    :math:`\varepsilon_1`), and cast to ``dtype`` at the end, so the same seed
    gives the same data in every dtype, up to rounding.

    Args:
        n: Number of people.
        beta: True coefficients; a number for one regressor, or a sequence
            (or 1-D tensor) with one entry per regressor.
        alpha: True constant of option 1.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of the returned tensors.

    Returns:
        A :class:`ChoiceData` with ``x`` of shape ``(n, features)``, ``y`` of
        shape ``(n,)`` and ``beta`` of shape ``(features,)``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` is not positive or a parameter is not finite.

    References:
        McFadden (1974), Conditional logit analysis of qualitative choice
        behavior. Train (2009), Discrete Choice Methods with Simulation, ch. 3.

    Example:
        >>> data = binary_choice(n=500, beta=[1.0, -0.5], alpha=0.5, seed=0)
        >>> tuple(data.x.shape), tuple(data.y.shape), data.beta.tolist(), data.alpha
        ((500, 2), (500,), [1.0, -0.5], 0.5)
        >>> sorted(set(data.y.tolist()))
        [0.0, 1.0]
    """
    n = check_positive_int("n", n)
    check_float_dtype(dtype)
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not math.isfinite(alpha):
        raise ValueError(f"alpha must be a finite number; got {describe(alpha)}.")
    coefficients = _as_coefficients(beta)
    generator = check_seed(seed)

    x = torch.randn(n, coefficients.shape[0], generator=generator, dtype=torch.float64)
    shock0 = _standard_gumbel((n,), generator)
    shock1 = _standard_gumbel((n,), generator)
    utility0 = shock0
    utility1 = float(alpha) + x @ coefficients + shock1
    y = utility1 > utility0
    return ChoiceData(
        x=x.to(dtype), y=y.to(dtype), beta=coefficients.to(dtype), alpha=float(alpha)
    )


def _as_coefficients(beta: object) -> Tensor:
    """``beta`` as a float64 vector of shape ``(features,)``."""
    if isinstance(beta, bool):
        raise TypeError(f"beta must be a number or a sequence of numbers; got {describe(beta)}.")
    if isinstance(beta, numbers.Real):
        coefficients = torch.tensor([float(beta)], dtype=torch.float64)
    elif isinstance(beta, Tensor):
        coefficients = beta.detach().to(device="cpu", dtype=torch.float64)
    elif isinstance(beta, Sequence) and not isinstance(beta, str):
        try:
            coefficients = torch.tensor([float(b) for b in beta], dtype=torch.float64)
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"beta must be a number or a sequence of numbers; got {beta!r}."
            ) from error
    else:
        raise TypeError(f"beta must be a number or a sequence of numbers; got {describe(beta)}.")
    check_tensor("beta", coefficients, ndim=1, hint="Pass a number or a flat list of numbers.")
    if coefficients.shape[0] == 0:
        raise ValueError("beta must hold at least one coefficient; got an empty sequence.")
    return coefficients
