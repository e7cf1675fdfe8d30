r"""Planar flows (Rezende & Mohamed, 2015), with their invertibility constraint and a true inverse.

A planar transform bends space along one direction :math:`\hat u` according
to the position relative to one hyperplane :math:`w^\top z + b = 0`:

.. math:: x = f(z) = z + \hat u \tanh(w^\top z + b).

Its Jacobian :math:`I + \hat u\, \psi(z)^\top`, :math:`\psi(z) = \tanh'(w^\top z + b)\, w`,
is a rank-one update of the identity, so by the matrix determinant lemma

.. math:: \log\left|\det \frac{\partial x}{\partial z}\right|
          = \log\left|1 + \hat u^\top \psi(z)\right|,

in :math:`O(features)`. Signs follow the convention of :mod:`course_lib.flows.base`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from course_lib._validation import (
    check_positive_float,
    check_positive_int,
    check_seed,
    format_shape,
)
from course_lib.flows._checks import check_parameter, check_points
from course_lib.flows.base import Flow, Transform, standard_normal
from course_lib.flows.elementwise import _log_cosh

__all__ = ["PlanarTransform", "planar_flow", "planar_forward", "planar_inverse"]


def _constrained_u(w: Tensor, u: Tensor, name: str = "w") -> tuple[Tensor, Tensor]:
    r"""``(u_hat, softplus(w^T u))``; :math:`w^\top \hat u = \mathrm{softplus}(w^\top u) - 1`.

    Raises:
        ValueError: If ``w`` is zero.
    """
    squared_norm = w @ w
    if not squared_norm > 0:
        raise ValueError(
            f"{name} must be a nonzero vector: the planar map divides by |w|^2 to constrain u; "
            f"got |w|^2 = {float(squared_norm.detach()):.3g}. Re-initialise it, e.g. with "
            "torch.nn.init.normal_(w)."
        )
    wu = w @ u
    softplus_wu = F.softplus(wu)
    # Rezende & Mohamed (2015), appendix A: u_hat = u + (m(w.u) - w.u) w / |w|^2,
    # m(a) = -1 + softplus(a), so that w.u_hat = m(w.u) > -1.
    u_hat = u + ((softplus_wu - 1.0) - wu) * w / squared_norm
    return u_hat, softplus_wu


def _log_det(a: Tensor, softplus_wu: Tensor) -> Tensor:
    r""":math:`\log(1 + \tanh'(a)\, w^\top \hat u)`, for :math:`a = w^\top z + b`.

    With :math:`w^\top \hat u = -1 + s`, :math:`s = \operatorname{softplus}(w^\top u)`,
    :math:`1 + \tanh'(a)(s - 1) = \tanh^2(a) + \operatorname{sech}^2(a)\, s`: a sum of
    non-negative terms, accurate even when :math:`w^\top \hat u` is close to
    :math:`-1`, where :math:`1 + \tanh'(a)\, w^\top \hat u` would cancel.
    """
    squared_sech = torch.exp(-2.0 * _log_cosh(a))
    return torch.log(torch.tanh(a).square() + squared_sech * softplus_wu)


def _check_planar_parameters(z_name: str, z: object, w: object, u: object, b: object) -> tuple:
    z = check_points(z_name, z, None)
    features = z.shape[-1]
    w = check_parameter("w", w, z_name, z, shape=(features,))
    u = check_parameter("u", u, z_name, z, shape=(features,))
    if isinstance(b, Tensor) and tuple(b.shape) not in ((), (1,)):
        raise ValueError(
            f"b must be a scalar tensor, shape () or (1,); got {format_shape(b.shape)}. "
            "Pass e.g. torch.tensor(0.0)."
        )
    scalar_shape = tuple(b.shape) if isinstance(b, Tensor) else ()
    b = check_parameter("b", b, z_name, z, shape=scalar_shape).reshape(())
    return z, w, u, b


def planar_forward(z: Tensor, w: Tensor, u: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    r"""The planar map :math:`x = z + \hat u \tanh(w^\top z + b)` and its log-det.

    The raw :math:`u` is replaced by

    .. math:: \hat u = u + \big(m(w^\top u) - w^\top u\big) \frac{w}{\lVert w \rVert^2},
              \qquad m(a) = -1 + \log(1 + e^{a}),

    so that :math:`w^\top \hat u = m(w^\top u) > -1`. That condition makes the map
    invertible (the proof is in :func:`planar_inverse`), whatever the raw
    parameters, as long as :math:`w \neq 0`. Then

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right|
              = \log\big(1 + \tanh'(w^\top z + b)\, w^\top \hat u\big) .

    Args:
        z: Base points, shape ``(*batch, features)``.
        w: Normal of the hyperplane, shape ``(features,)``, nonzero.
        u: Raw direction, shape ``(features,)``.
        b: Offset, shape ``()`` or ``(1,)``.

    Returns:
        ``(x, log_det)`` with shapes ``(*batch, features)`` and ``batch``.

    Raises:
        TypeError: If an argument is not a floating tensor of ``z``'s dtype.
        ValueError: If a shape is wrong, a value is not finite, or ``w`` is zero.

    Example:
        >>> z = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
        >>> w, u, b = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 1.0]), torch.tensor(0.0)
        >>> x, log_det = planar_forward(z, w, u, b)
        >>> x.round(decimals=4)
        tensor([[ 0.0000,  0.0000],
                [ 1.8583, -0.2384]])
        >>> log_det.round(decimals=4)
        tensor([0.7547, 0.3875])

    References:
        Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
        Flows. ICML. https://arxiv.org/abs/1505.05770 (appendix A for :math:`\hat u`).
    """
    z, w, u, b = _check_planar_parameters("z", z, w, u, b)
    return _planar_forward(z, w, u, b)


def _planar_forward(
    z: Tensor, w: Tensor, u: Tensor, b: Tensor, w_name: str = "w"
) -> tuple[Tensor, Tensor]:
    u_hat, softplus_wu = _constrained_u(w, u, w_name)
    a = z @ w + b
    x = z + torch.tanh(a).unsqueeze(-1) * u_hat
    return x, _log_det(a, softplus_wu)


def planar_inverse(
    x: Tensor, w: Tensor, u: Tensor, b: Tensor, *, tol: float = 1e-12, max_iter: int = 100
) -> tuple[Tensor, Tensor]:
    r"""Inverts :func:`planar_forward`, solving :math:`x = z + \hat u \tanh(w^\top z + b)` for z.

    The map moves points along :math:`\hat u` only, so :math:`z = x - \hat u \tanh(\alpha + b)`
    once :math:`\alpha = w^\top z` is known. Taking the inner product of the map with
    :math:`w`, :math:`\alpha` solves the scalar equation

    .. math:: g(\alpha) = \alpha + c \tanh(\alpha + b) - w^\top x = 0,
              \qquad c = w^\top \hat u > -1 .

    Since :math:`g'(\alpha) = 1 + c \tanh'(\alpha + b) > 0` (as :math:`0 < \tanh' \le 1`
    and :math:`c > -1`) and :math:`g \to \pm\infty`, there is exactly one root:
    this is why the map is invertible. Since :math:`|\tanh| \le 1`, the root lies in
    :math:`[w^\top x - |c|, w^\top x + |c|]`. Every point is solved at once, in float64,
    by Newton's method safeguarded with bisection on that bracket: a Newton step is taken
    only if it stays in the bracket and is at most half the previous step. Plain Newton
    can fail here: for :math:`c` of a few units it cycles between the two tails of
    :math:`g`, and for :math:`c` close to :math:`-1` it crawls where :math:`g` is flat.
    The search stops when the Newton step or the bracket is shorter than
    ``tol`` :math:`\cdot (1 + |w^\top x| + |c| + |b|)`; typical points take 3 to 7
    iterations, and the tests' extreme parameters (:math:`|w|` up to :math:`10^4`,
    :math:`c` from :math:`-1 + 10^{-30}` to :math:`10^6`) fewer than 40. Gradients are
    those of the implicit function theorem, :math:`d\alpha = -dg / g'(\alpha)`, attached
    by a Newton step of value zero, so float32 inputs get the float64 root rounded once.

    Args:
        x: Data points, shape ``(*batch, features)``.
        w: Normal of the hyperplane, shape ``(features,)``, nonzero.
        u: Raw direction, shape ``(features,)``, constrained as in :func:`planar_forward`.
        b: Offset, shape ``()`` or ``(1,)``.
        tol: Relative tolerance on :math:`\alpha`; values below ``9e-16`` act as ``9e-16``.
        max_iter: Maximal number of iterations.

    Returns:
        ``(z, log_det)`` with shapes ``(*batch, features)`` and ``batch``; ``log_det``
        is :math:`\log|\det \partial z / \partial x|`, minus the forward log-det at ``z``.

    Raises:
        TypeError: If an argument is not a floating tensor of ``x``'s dtype.
        ValueError: If a shape is wrong, a value is not finite, ``w`` is zero, or
            :math:`w^\top x` or :math:`w^\top u` overflows float64.
        RuntimeError: If the solver has not converged after ``max_iter`` iterations.

    Example:
        >>> w, u, b = torch.tensor([1.0, 0.0]), torch.tensor([2.0, 1.0]), torch.tensor(0.0)
        >>> z = torch.tensor([[1.0, -1.0], [-3.0, 0.5]])
        >>> x, log_det = planar_forward(z, w, u, b)
        >>> back, inverse_log_det = planar_inverse(x, w, u, b)
        >>> torch.allclose(back, z), torch.allclose(inverse_log_det, -log_det)
        (True, True)

    References:
        Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
        Flows. ICML. https://arxiv.org/abs/1505.05770
    """
    x, w, u, b = _check_planar_parameters("x", x, w, u, b)
    tol = check_positive_float("tol", tol)
    max_iter = check_positive_int("max_iter", max_iter)
    return _planar_inverse(x, w, u, b, tol, max_iter)


def _planar_inverse(
    x: Tensor,
    w: Tensor,
    u: Tensor,
    b: Tensor,
    tol: float,
    max_iter: int,
    w_name: str = "w",
    caller: str = "planar_inverse",
) -> tuple[Tensor, Tensor]:
    u_hat, softplus_wu = _constrained_u(w, u, w_name)
    c = softplus_wu - 1.0  # = w.u_hat, exactly
    with torch.no_grad():
        # Solved in float64 from float64 products: c close to -1 keeps its digits.
        w64 = w.double()
        y64, wu64 = x.double() @ w64, w64 @ u.double()
        if not (bool(torch.isfinite(y64).all()) and bool(torch.isfinite(wu64))):
            raise ValueError(
                f"{caller}: w^T x or w^T u overflows float64 (|w| = {float(w64.norm()):.3g}, "
                f"|u| = {float(u.double().norm()):.3g}); the parameters have blown up. Lower "
                "the learning rate or re-initialise them."
            )
        softplus_wu64 = F.softplus(wu64)
        alpha = _solve_alpha(
            y64, softplus_wu64 - 1.0, softplus_wu64, b.double(), tol, max_iter, caller
        ).to(x.dtype)
    a = alpha + b
    # A Newton step of value zero (residual - residual.detach()) carries the gradient of the
    # root, d alpha = -dg / g'(alpha) (implicit function theorem), for x, w, u and b alike.
    residual = alpha + c * torch.tanh(a) - x @ w
    # g'(alpha) = 1 + c tanh'(a) > 0; the floor only guards against underflow to 0.
    slope = torch.exp(_log_det(a, softplus_wu)).clamp_min(torch.finfo(x.dtype).tiny)
    alpha = alpha - (residual - residual.detach()) / slope
    a = alpha + b
    z = x - torch.tanh(a).unsqueeze(-1) * u_hat
    return z, -_log_det(a, softplus_wu)


def _solve_alpha(
    y: Tensor, c: Tensor, softplus_wu: Tensor, b: Tensor, tol: float, max_iter: int, caller: str
) -> Tensor:
    """The root of ``g(alpha) = alpha + c tanh(alpha + b) - y`` for every entry of ``y``."""
    spread = c.abs()
    low, high = y - spread, y + spread
    # Not below a few ulps of the equation's scale, where the bracket stops shrinking.
    xtol = max(tol, 4 * torch.finfo(y.dtype).eps) * (1.0 + y.abs() + spread + b.abs())
    alpha = (y - c * torch.tanh(y + b)).clamp(low, high)
    last_step = torch.full_like(y, math.inf)
    done = torch.zeros_like(y, dtype=torch.bool)
    for _ in range(max_iter):
        t = torch.tanh(alpha + b)
        residual = alpha + c * t - y
        # g is increasing: the root lies above alpha where g < 0, below where g > 0.
        low = torch.where(residual <= 0, alpha, low)
        high = torch.where(residual >= 0, alpha, high)
        # g' = 1 + c (1 - t^2) = t^2 + softplus_wu (1 - t^2), without cancellation (as _log_det).
        square = t * t
        newton = alpha - residual / (square + softplus_wu * (1.0 - square))
        newton_step = (newton - alpha).abs()
        inside = (newton >= low) & (newton <= high)
        converged = (high - low <= xtol) | (inside & (newton_step <= xtol))
        # Newton only while its steps at least halve; else it is cycling between the tails
        # of g or crawling where g is flat, and bisection does better.
        use_newton = inside & (converged | (newton_step <= 0.5 * last_step))
        step = torch.where(use_newton, newton, 0.5 * (low + high))
        last_step = (step - alpha).abs()
        alpha = torch.where(done, alpha, step)
        done = done | converged
        if bool(done.all()):
            return alpha
    worst = float(((high - low) / xtol)[~done].max())
    raise RuntimeError(
        f"{caller} did not converge in max_iter={max_iter} iterations (w^T u_hat = "
        f"{float(c):.6g}, b = {float(b):.6g}): the widest bracket left is {worst:.3g} times "
        "the tolerance. Raise max_iter."
    )


class PlanarTransform(Transform):
    r"""Learnable planar transform :math:`x = z + \hat u \tanh(w^\top z + b)`.

    Computed by :func:`planar_forward` and :func:`planar_inverse`: :math:`\hat u`
    is the constrained direction with :math:`w^\top \hat u > -1`, so the transform is
    invertible for every value of the raw parameters :math:`w \neq 0, u, b`.
    Forward costs :math:`O(features)` per point; the inverse solves one scalar
    equation per point, by a few Newton steps. One planar layer changes the
    density only near one hyperplane: stack many (:func:`planar_flow`).

    Args:
        features: Number of features.
        seed: Seed or CPU generator for the initial :math:`w` and :math:`u`, uniform on
            :math:`[-1/\sqrt{features}, 1/\sqrt{features}]`; :math:`b` starts at 0.

    Attributes:
        w: Shape ``(features,)``.
        u: Raw direction, shape ``(features,)``.
        b: Shape ``()``.
        tol: ``tol`` of :func:`planar_inverse`, ``1e-12``.
        max_iter: ``max_iter`` of :func:`planar_inverse`, ``100``.

    Example:
        >>> f = PlanarTransform(2, seed=0)
        >>> z = torch.randn(6, 2)
        >>> x, log_det = f(z)
        >>> back, inverse_log_det = f.inverse(x)
        >>> torch.allclose(back, z, atol=1e-5), torch.allclose(inverse_log_det, -log_det)
        (True, True)

    References:
        Rezende, D. J. & Mohamed, S. (2015). Variational Inference with Normalizing
        Flows. ICML. https://arxiv.org/abs/1505.05770
    """

    def __init__(self, features: int, *, seed: int | torch.Generator | None = None):
        super().__init__(features)
        generator = check_seed(seed)
        bound = 1.0 / math.sqrt(self.features)
        self.w = nn.Parameter(bound * (2.0 * torch.rand(self.features, generator=generator) - 1.0))
        self.u = nn.Parameter(bound * (2.0 * torch.rand(self.features, generator=generator) - 1.0))
        self.b = nn.Parameter(torch.zeros(()))
        self.tol = 1e-12
        self.max_iter = 100

    @property
    def u_hat(self) -> Tensor:
        r"""The constrained direction :math:`\hat u`, with :math:`w^\top \hat u > -1`."""
        return _constrained_u(self.w, self.u, "PlanarTransform.w")[0]

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return _planar_forward(z, self.w, self.u, self.b, "PlanarTransform.w")

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return _planar_inverse(
            x,
            self.w,
            self.u,
            self.b,
            self.tol,
            self.max_iter,
            "PlanarTransform.w",
            "PlanarTransform.inverse",
        )


def planar_flow(
    features: int, *, layers: int = 16, seed: int | torch.Generator | None = None
) -> Flow:
    r"""A flow of ``layers`` planar transforms on a standard normal base.

    .. math:: x = f_K \circ \dots \circ f_1(z), \qquad z \sim \mathcal{N}(0, I),

    each :math:`f_k` a :class:`PlanarTransform`.

    Args:
        features: Number of features.
        layers: Number :math:`K` of planar transforms.
        seed: Seed or CPU generator for the initial parameters.

    Returns:
        A :class:`~course_lib.flows.base.Flow`.

    Example:
        >>> flow = planar_flow(2, layers=4, seed=0)
        >>> x = flow.sample((10,))
        >>> tuple(x.shape), bool(flow.log_prob(x).isfinite().all())
        ((10, 2), True)
    """
    features = check_positive_int("features", features)
    layers = check_positive_int("layers", layers)
    generator = check_seed(seed)
    transforms = [PlanarTransform(features, seed=generator) for _ in range(layers)]
    return Flow(standard_normal(features), transforms)
