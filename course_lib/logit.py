r"""The binary logit model, fitted by maximum likelihood.

The model says :math:`P(y = 1 \mid x) = \sigma(\eta)` with the utility index
:math:`\eta = \alpha + x^\top\beta` and :math:`\sigma(\eta) = 1 / (1 + e^{-\eta})`.
Parameters are always ordered :math:`(\alpha, \beta_1, \dots, \beta_k)`, intercept
first, in standard errors, information and covariance matrices.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from course_lib._validation import (
    check_binary,
    check_choice,
    check_dtype,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
)
from course_lib.training import History, fit

__all__ = [
    "LogitFit",
    "LogitModel",
    "fit_logit",
    "logit_nll",
    "newton_logit",
    "observed_information",
    "standard_errors",
]

# An information matrix whose eigenvalues spread wider than this is treated as singular:
# float64 leaves about 16 digits, and the inverse would keep only a few of them.
_MAX_CONDITION = 1e12


def _check_data(x: object, y: object) -> tuple[Tensor, Tensor]:
    """Validates regressors ``x`` (batch, features) and 0/1 choices ``y`` (batch,)."""
    x = check_tensor(
        "x",
        x,
        ndim=2,
        floating=True,
        hint="x must have shape (batch, features); for one regressor use x.unsqueeze(-1).",
    )
    y = check_binary("y", y, batch=x.shape[0])
    if y.device != x.device:
        raise ValueError(
            f"y must be on x's device ({x.device}); got {y.device}. Move it: y.to(x.device)."
        )
    return x, y


def _check_inputs(
    x: object, y: object, beta: object, alpha: object, *, same_dtype: bool
) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Validates logit inputs; returns ``(x, y, beta, alpha)``, with ``y`` and ``alpha`` as
    tensors of ``x``'s dtype, or everything in float64 when ``same_dtype`` is False."""
    x, y = _check_data(x, y)
    features = x.shape[1]
    beta = check_tensor(
        "beta",
        beta,
        shape=(features,),
        floating=True,
        hint=f"beta holds one coefficient per column of x, i.e. shape ({features},).",
    )
    if beta.device != x.device:
        raise ValueError(
            f"beta must be on x's device ({x.device}); got {beta.device}. "
            "Move it: beta.to(x.device)."
        )
    if isinstance(alpha, Tensor):
        alpha = check_tensor(
            "alpha",
            alpha,
            shape=(),
            floating=True,
            hint="alpha is a single number: use alpha.reshape(()) or alpha[0].",
        )
    elif isinstance(alpha, numbers.Real) and not isinstance(alpha, bool):
        if not math.isfinite(alpha):
            raise ValueError(f"alpha must be finite; got {alpha}.")
        alpha = torch.tensor(float(alpha), dtype=torch.float64)
    else:
        raise TypeError(
            f"alpha must be a float or a scalar tensor (shape ()); got {describe(alpha)}."
        )
    dtype = x.dtype
    if same_dtype:
        check_dtype("beta", beta, like=x, like_name="x")
    else:
        dtype = torch.float64
        x, beta = x.to(dtype), beta.to(dtype)
    return x, y.to(dtype), beta, alpha.to(device=x.device, dtype=dtype)


def logit_nll(
    x: Tensor, y: Tensor, beta: Tensor, alpha: Tensor | float, *, reduction: str = "mean"
) -> Tensor:
    r"""Negative log-likelihood of the binary logit.

    .. math:: \ell_i = -\big[y_i \log\sigma(\eta_i) + (1 - y_i)\log\sigma(-\eta_i)\big],
        \qquad \eta_i = \alpha + x_i^\top\beta.

    Both logarithms go through ``logsigmoid``, :math:`\log\sigma(\eta) =
    -\log(1 + e^{-\eta})` computed stably, so the loss and its gradient stay
    finite and accurate for :math:`|\eta|` of 80 and far beyond, where
    :math:`\log(1 - \sigma(\eta))` written literally gives ``-inf`` (from
    :math:`\eta \approx 17` in float32, 37 in float64).

    Args:
        x: Regressors, shape ``(batch, features)``.
        y: Choices, shape ``(batch,)``, values 0 or 1 (any real or bool dtype).
        beta: Coefficients, shape ``(features,)``, same dtype as ``x``.
        alpha: Intercept, a float or a tensor of shape ``()``.
        reduction: ``"mean"`` (shape ``()``), ``"sum"`` (shape ``()``) or
            ``"none"`` (one term per observation, shape ``(batch,)``).

    Returns:
        The negative log-likelihood, in ``x``'s dtype and on its device.

    Raises:
        TypeError: If an input is not a tensor or not floating point.
        ValueError: If shapes disagree, values are not finite or ``y`` holds a
            value other than 0 and 1.

    Example:
        >>> x = torch.tensor([[0.0], [80.0]], dtype=torch.float64)
        >>> y = torch.tensor([1.0, 0.0], dtype=torch.float64)
        >>> logit_nll(x, y, torch.ones(1, dtype=torch.float64), 0.0, reduction="none")
        tensor([ 0.6931, 80.0000], dtype=torch.float64)
    """
    reduction = check_choice("reduction", reduction, ("mean", "sum", "none"))
    x, y, beta, alpha = _check_inputs(x, y, beta, alpha, same_dtype=True)
    eta = alpha + x @ beta
    nll = -(y * F.logsigmoid(eta) + (1 - y) * F.logsigmoid(-eta))
    if reduction == "mean":
        return nll.mean()
    if reduction == "sum":
        return nll.sum()
    return nll


class LogitModel(nn.Module):
    r"""The binary logit as a module: parameters ``beta`` and ``alpha``, logits out.

    Calling the module gives the utility index :math:`\eta = \alpha + x^\top\beta`
    (the logits); :meth:`nll` gives the loss :func:`logit_nll`.

    Args:
        features: Number of regressors, the size of ``beta``.
        seed: Seed or generator for the initial values, drawn from a normal
            distribution with standard deviation 0.1.

    Example:
        >>> model = LogitModel(features=3, seed=0)
        >>> tuple(model.beta.shape), tuple(model.alpha.shape)
        ((3,), ())
        >>> tuple(model(torch.zeros(5, 3)).shape)
        (5,)
    """

    def __init__(self, features: int = 1, *, seed: int | torch.Generator | None = None):
        super().__init__()
        self.features = check_positive_int("features", features)
        generator = check_seed(seed)
        # Drawn in float64 so that the start does not depend on the default dtype's stream.
        start = 0.1 * torch.randn(features + 1, generator=generator, dtype=torch.float64)
        start = start.to(torch.get_default_dtype())
        self.alpha = nn.Parameter(start[0].clone())
        self.beta = nn.Parameter(start[1:].clone())

    def extra_repr(self) -> str:
        return f"features={self.features}"

    def forward(self, x: Tensor) -> Tensor:
        r"""Logits :math:`\eta = \alpha + x^\top\beta`, shape ``(batch,)``.

        Args:
            x: Regressors, shape ``(batch, features)``, in the parameters' dtype.
        """
        check_tensor(
            "x",
            x,
            shape=(None, self.features),
            floating=True,
            hint=f"x must have shape (batch, {self.features}), one column per regressor.",
        )
        if x.dtype != self.beta.dtype:
            raise TypeError(
                f"x has dtype {x.dtype} but the model's parameters are {self.beta.dtype}; "
                f"convert one of them, e.g. x.to({self.beta.dtype}) or model.to(x.dtype)."
            )
        return self.alpha + x @ self.beta

    def nll(self, x: Tensor, y: Tensor, *, reduction: str = "mean") -> Tensor:
        """Negative log-likelihood :func:`logit_nll` at the current parameters."""
        return logit_nll(x, y, self.beta, self.alpha, reduction=reduction)


def observed_information(x: Tensor, y: Tensor, beta: Tensor, alpha: Tensor | float) -> Tensor:
    r"""Observed information: the Hessian of the summed negative log-likelihood.

    .. math:: \mathcal{I}(\alpha, \beta) = \tilde X^\top W \tilde X, \qquad \tilde X = [1, x],
        \quad W = \operatorname{diag}\big(\sigma(\eta_i)(1 - \sigma(\eta_i))\big).

    For the logit it does not depend on ``y`` (which is validated all the
    same). Computed in float64 from the closed form, without autograd; cost
    :math:`O(\text{batch} \cdot (k+1)^2)`.

    Args:
        x: Regressors, shape ``(batch, k)``.
        y: Choices, shape ``(batch,)``, values 0 or 1.
        beta: Coefficients, shape ``(k,)``; any floating dtype.
        alpha: Intercept, a float or a tensor of shape ``()``.

    Returns:
        The information, shape ``(k + 1, k + 1)``, order :math:`(\alpha, \beta)`,
        float64 on ``x``'s device.

    Example:
        >>> x = torch.tensor([[-1.0], [0.0], [1.0]], dtype=torch.float64)
        >>> y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
        >>> observed_information(x, y, torch.zeros(1, dtype=torch.float64), 0.0)
        tensor([[0.7500, 0.0000],
                [0.0000, 0.5000]], dtype=torch.float64)
    """
    x, _, beta, alpha = _check_inputs(x, y, beta, alpha, same_dtype=False)
    return _information(_design(x.detach()), torch.cat([alpha.detach().reshape(1), beta.detach()]))


def _design(x: Tensor) -> Tensor:
    """The design matrix :math:`[1, x]`, shape ``(batch, k + 1)``."""
    return torch.cat([x.new_ones(x.shape[0], 1), x], dim=1)


def _information(design: Tensor, theta: Tensor) -> Tensor:
    eta = design @ theta
    # sigma(eta) * sigma(-eta) equals sigma(1 - sigma) without cancellation for large |eta|.
    weight = torch.sigmoid(eta) * torch.sigmoid(-eta)
    return design.T @ (weight[:, None] * design)


def _covariance(information: Tensor) -> Tensor:
    """Inverse of a symmetric positive-definite information matrix, or a clear error."""
    eigenvalues = torch.linalg.eigvalsh(information)
    smallest, largest = float(eigenvalues[0]), float(eigenvalues[-1])
    if not largest > 0 or smallest <= largest / _MAX_CONDITION:
        raise ValueError(
            f"the observed information is singular (eigenvalues from {smallest:.3g} to "
            f"{largest:.3g}), so it cannot be inverted and the standard errors are undefined. "
            "This happens with perfect separation (some combination of the columns of x "
            "predicts y exactly, so the maximum-likelihood estimate lies at infinity), with "
            "a constant or duplicated column of x, or with too few observations. Check the "
            "data: drop redundant columns, or look for a regressor that splits y perfectly."
        )
    return torch.cholesky_inverse(torch.linalg.cholesky(information))


def standard_errors(x: Tensor, y: Tensor, beta: Tensor, alpha: Tensor | float) -> Tensor:
    r"""Standard errors from the observed information, order :math:`(\alpha, \beta)`.

    .. math:: \operatorname{se}_j = \sqrt{\big[\mathcal{I}(\hat\alpha, \hat\beta)^{-1}\big]_{jj}}

    with :math:`\mathcal{I}` from :func:`observed_information`, evaluated at the
    estimate that is passed in. Valid at the maximum-likelihood estimate.

    Args:
        x: Regressors, shape ``(batch, k)``.
        y: Choices, shape ``(batch,)``, values 0 or 1.
        beta: Coefficients, shape ``(k,)``; any floating dtype.
        alpha: Intercept, a float or a tensor of shape ``()``.

    Returns:
        Standard errors, shape ``(k + 1,)``, float64 on ``x``'s device.

    Raises:
        ValueError: If the information is singular (e.g. perfect separation,
            collinear columns), or for bad input as in :func:`logit_nll`.

    Example:
        >>> x = torch.tensor([[-1.0], [0.0], [1.0]], dtype=torch.float64)
        >>> y = torch.tensor([0.0, 1.0, 1.0], dtype=torch.float64)
        >>> standard_errors(x, y, torch.zeros(1, dtype=torch.float64), 0.0)
        tensor([1.1547, 1.4142], dtype=torch.float64)
    """
    return _covariance(observed_information(x, y, beta, alpha)).diagonal().sqrt()


@dataclass(eq=False)
class LogitFit:
    """A fitted binary logit.

    Attributes:
        alpha: Estimated intercept.
        beta: Estimated coefficients, shape ``(features,)``, in the dtype and on
            the device of the ``x`` that was fitted.
        standard_errors: Standard errors, shape ``(features + 1,)``, order
            ``(alpha, beta)``, float64.
        covariance: Inverse observed information, shape
            ``(features + 1, features + 1)``, float64.
        nll: Mean negative log-likelihood at the estimate (computed in float64).
        history: The training history of a gradient fit; ``None`` for Newton.
        iterations: Optimizer steps or Newton iterations taken.
    """

    alpha: float
    beta: Tensor
    standard_errors: Tensor
    covariance: Tensor
    nll: float
    history: History | None = field(repr=False)
    iterations: int


def _check_both_outcomes(y: Tensor) -> None:
    ones = int(y.sum())
    if ones == 0 or ones == y.shape[0]:
        outcome = "0" if ones == 0 else "1"
        raise ValueError(
            f"y contains only {outcome}s, so the maximum-likelihood estimate does not exist "
            "(alpha would run off to infinity). Both outcomes must occur in the data."
        )


def _finish(
    x: Tensor, y: Tensor, theta: Tensor, history: History | None, iterations: int
) -> LogitFit:
    """Packs a float64 estimate ``theta = (alpha, beta)`` into a :class:`LogitFit`."""
    x64 = x.detach().to(torch.float64)
    design = _design(x64)
    covariance = _covariance(_information(design, theta))
    eta = design @ theta
    y64 = y.to(device=x.device, dtype=torch.float64)
    nll = -(y64 * F.logsigmoid(eta) + (1 - y64) * F.logsigmoid(-eta)).mean()
    return LogitFit(
        alpha=float(theta[0]),
        beta=theta[1:].to(x.dtype),
        standard_errors=covariance.diagonal().sqrt(),
        covariance=covariance,
        nll=float(nll),
        history=history,
        iterations=iterations,
    )


def fit_logit(
    x: Tensor,
    y: Tensor,
    *,
    steps: int = 500,
    lr: float = 0.05,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
    progress: bool = False,
) -> LogitFit:
    """Fits the binary logit by full-batch gradient descent (Adam) on :func:`logit_nll`.

    A :class:`LogitModel` starts from small random values and is trained by
    :func:`course_lib.training.fit`, in ``x``'s dtype; standard errors then come
    from :func:`observed_information` at the estimate. On the default
    :func:`~course_lib.datasets.binary_choice` data the default 500 steps reach
    the exact estimate of :func:`newton_logit` to about ``1e-6`` in float32
    (measured over several data and initialization seeds). Ill-conditioned
    problems (several correlated or badly scaled regressors) converge more
    slowly: give them more ``steps``, and float64 data for precision beyond
    about ``1e-5``, which a float32 loss cannot resolve.

    The estimate is checked for perfect separation: if it classifies every
    observation correctly, no maximum-likelihood estimate exists, and a
    ``ValueError`` says so rather than returning meaningless large values.

    Args:
        x: Regressors, shape ``(batch, features)``.
        y: Choices, shape ``(batch,)``, values 0 or 1.
        steps: Number of Adam steps.
        lr: Adam's learning rate.
        seed: Seed or generator for the initial values and the run.
        device: Where to compute; ``x``'s device when ``None``.
        progress: Whether to show a progress bar (off by default: graded cells
            must not write to stderr).

    Returns:
        A :class:`LogitFit`; its ``history`` holds the mean negative
        log-likelihood at each step, and ``beta`` is on the device used.

    Raises:
        ValueError: For bad input as in :func:`logit_nll`, if ``y`` holds a
            single outcome, if the data are perfectly separated, or if the
            information at the estimate is singular.
        FloatingPointError: If the loss becomes non-finite (lower ``lr``).

    Example:
        >>> from course_lib.datasets import binary_choice
        >>> data = binary_choice(n=1000, seed=0)
        >>> gd, exact = fit_logit(data.x, data.y), newton_logit(data.x, data.y)
        >>> abs(gd.alpha - exact.alpha) < 1e-4, bool((gd.beta - exact.beta).abs().max() < 1e-4)
        (True, True)
    """
    x, y = _check_data(x, y)
    _check_both_outcomes(y)
    generator = check_seed(seed)
    model = LogitModel(x.shape[1], seed=generator).to(x.dtype)
    history = fit(
        model,
        _model_nll,
        (x, y),
        lr=lr,
        steps=steps,
        device=device,
        seed=generator,
        progress=progress,
    )
    theta = torch.cat([model.alpha.detach().reshape(1), model.beta.detach()])
    theta = theta.to(torch.float64)
    x, y = x.to(theta.device), y.to(theta.device)
    if _separates(_design(x.detach().to(torch.float64)), y, theta):
        raise ValueError(
            "the data are perfectly separated: the fitted index alpha + x @ beta puts every "
            "observation on the side of its outcome, so the likelihood keeps rising as the "
            "coefficients grow and no maximum-likelihood estimate exists. Look for a "
            "regressor that splits y perfectly."
        )
    return _finish(x, y, theta, history, history.steps)


def _separates(design: Tensor, y: Tensor, theta: Tensor) -> bool:
    """Whether the index ``design @ theta`` classifies every observation correctly."""
    sign = 2 * y.to(torch.float64) - 1
    return bool((sign * (design @ theta) > 0).all())


def _model_nll(model: LogitModel, x: Tensor, y: Tensor) -> Tensor:
    return model.nll(x, y)


def newton_logit(x: Tensor, y: Tensor, *, tol: float = 1e-10, max_iter: int = 100) -> LogitFit:
    r"""The exact maximum-likelihood estimate, by Newton-Raphson in float64.

    Starting from zero, each iteration solves the Newton system of the summed
    negative log-likelihood with the closed-form gradient and Hessian,

    .. math:: \theta \leftarrow \theta - \mathcal{I}(\theta)^{-1}\,\tilde X^\top
        \big(\sigma(\tilde X\theta) - y\big), \qquad \theta = (\alpha, \beta),

    halving the step while it would lower the likelihood. No autograd is
    involved, which makes it an independent reference for :func:`fit_logit`.
    The log-likelihood is concave, so the iteration converges, quadratically
    near the optimum, whenever the estimate exists. It stops when the largest
    step falls below ``tol * (1 + max |theta|)``.

    Args:
        x: Regressors, shape ``(batch, features)``.
        y: Choices, shape ``(batch,)``, values 0 or 1.
        tol: Convergence tolerance on the step.
        max_iter: Largest number of iterations.

    Returns:
        A :class:`LogitFit` with ``history=None``; ``beta`` in ``x``'s dtype.

    Raises:
        ValueError: For bad input as in :func:`logit_nll`, or if ``y`` holds a
            single outcome.
        RuntimeError: If the iteration does not converge, typically because the
            data are perfectly separated and no estimate exists.

    Example:
        >>> from course_lib.datasets import binary_choice
        >>> data = binary_choice(n=1000, seed=0)
        >>> exact = newton_logit(data.x, data.y)
        >>> exact.iterations < 10, tuple(exact.standard_errors.shape)
        (True, (2,))
    """
    x, y = _check_data(x, y)
    _check_both_outcomes(y)
    tol = check_positive_float("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    design = _design(x.detach().to(torch.float64))
    target = y.to(torch.float64)
    theta = design.new_zeros(design.shape[1])
    nll = _sum_nll(design, target, theta)
    step_size = math.inf
    for iteration in range(1, max_iter + 1):
        p = torch.sigmoid(design @ theta)
        gradient = design.T @ (p - target)
        information = _information(design, theta)
        factor, info = torch.linalg.cholesky_ex(information)
        if info != 0:
            why = "the information became singular"
            raise RuntimeError(_no_convergence(iteration, theta, why))
        step = torch.cholesky_solve(gradient[:, None], factor)[:, 0]
        # Halve the step until the likelihood improves: Newton may overshoot far from the optimum.
        for _ in range(50):
            candidate = theta - step
            candidate_nll = _sum_nll(design, target, candidate)
            if candidate_nll <= nll:
                break
            step = step / 2
        theta, nll = candidate, candidate_nll
        step_size = float(step.abs().max())
        if step_size <= tol * (1 + float(theta.abs().max())):
            return _finish(x, y, theta, None, iteration)
    raise RuntimeError(_no_convergence(max_iter, theta, f"the last step was {step_size:.3g}"))


def _sum_nll(design: Tensor, y: Tensor, theta: Tensor) -> float:
    eta = design @ theta
    return float(-(y * F.logsigmoid(eta) + (1 - y) * F.logsigmoid(-eta)).sum())


def _no_convergence(iterations: int, theta: Tensor, why: str) -> str:
    return (
        f"Newton-Raphson did not converge after {iterations} iterations ({why}; largest "
        f"|parameter| {float(theta.abs().max()):.3g}). The data may be perfectly separated: "
        "if some combination of the columns of x predicts y exactly, the likelihood keeps "
        "rising as the coefficients grow and no maximum-likelihood estimate exists. Look for "
        "a regressor that splits y perfectly, or raise max_iter if the estimates are large."
    )
