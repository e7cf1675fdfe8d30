r"""Entropic optimal transport in the log domain: Sinkhorn iterations and the Sinkhorn divergence.

The convention is geomloss' ``SamplesLoss("sinkhorn", p=2, blur=...)`` (Feydy et al., 2019),
so that a test can compare the two. For point clouds :math:`x_1..x_n` with weights
:math:`a` and :math:`y_1..y_m` with weights :math:`b` (uniform by default):

* the ground cost is half the squared distance, :math:`C_{ij} = \tfrac12\|x_i - y_j\|^2`;
* the temperature is :math:`\varepsilon = \text{blur}^2` (geomloss: :math:`\text{blur}^p`);
* the regularized cost is

  .. math::
      \mathrm{OT}_\varepsilon(a, b) = \min_{P \in \Pi(a, b)} \langle P, C\rangle
          + \varepsilon\,\mathrm{KL}(P \,\|\, a \otimes b)
      = \max_{f, g}\ \langle a, f\rangle + \langle b, g\rangle
          - \varepsilon \langle a \otimes b, e^{(f \oplus g - C)/\varepsilon} - 1\rangle,

  whose optimum, reached by Sinkhorn's iterations on the dual potentials :math:`f, g`,
  is :math:`\langle a, f\rangle + \langle b, g\rangle`;
* the (debiased) Sinkhorn divergence is
  :math:`S_\varepsilon(a, b) = \mathrm{OT}_\varepsilon(a, b)
  - \tfrac12\mathrm{OT}_\varepsilon(a, a) - \tfrac12\mathrm{OT}_\varepsilon(b, b)`,
  zero for identical clouds and symmetric.

As blur goes to 0, :math:`S_\varepsilon` and :math:`\mathrm{OT}_\varepsilon` tend to
:math:`\tfrac12 W_2^2`, half the squared 2-Wasserstein distance (see
:func:`course_lib.transport.wasserstein2_1d` for its closed form in one dimension); as blur
grows, :math:`S_\varepsilon` tends to an MMD with the kernel :math:`-\tfrac12\|x-y\|^2`
(half the squared distance between the means).

geomloss runs a fixed number of iterations: one per value of a decreasing temperature,
from the clouds' diameter squared down to :math:`\text{blur}^2`, the blur shrinking by the
factor ``scaling`` (0.5 by default) at each; with ``scaling`` near 1 it converges. The
teaching version here does the same annealing when ``scaling`` is given and then iterates
at the final temperature until the potentials stop moving, so it agrees with geomloss
run with ``scaling`` close to 1.

References:
    Cuturi, "Sinkhorn Distances: Lightspeed Computation of Optimal Transport", NeurIPS 2013.
    Feydy et al., "Interpolating between Optimal Transport and MMD using Sinkhorn
    Divergences", AISTATS 2019. https://arxiv.org/abs/1810.08278
    Peyré and Cuturi, "Computational Optimal Transport", 2019. https://arxiv.org/abs/1803.00567
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from course_lib._validation import check_positive_float, check_positive_int, check_tensor
from course_lib.transport._checks import check_blur, check_pair, check_weights

__all__ = [
    "entropic_ot",
    "log_sinkhorn",
    "log_sinkhorn_symmetric",
    "sinkhorn_divergence",
    "squared_distance_cost",
]


def squared_distance_cost(x: Tensor, y: Tensor) -> Tensor:
    r"""The cost matrix :math:`C_{ij} = \tfrac12\|x_i - y_j\|^2`.

    Args:
        x: Points, shape ``(n, features)``.
        y: Points, shape ``(m, features)``.

    Returns:
        The costs, shape ``(n, m)``.

    Example:
        >>> squared_distance_cost(torch.tensor([[0.0, 0.0]]), torch.tensor([[3.0, 4.0]]))
        tensor([[12.5000]])
    """
    check_pair(x, y)
    # Differences rather than |x|^2 + |y|^2 - 2 x.y, which cancels badly for close points.
    return (x[:, None, :] - y[None, :, :]).square().sum(-1) / 2


def _softmin(epsilon: float, cost: Tensor, h: Tensor) -> Tensor:
    r"""The soft minimum :math:`-\varepsilon \log\sum_j \exp(h_j - C_{ij}/\varepsilon)`, (n,)."""
    return -epsilon * torch.logsumexp(h[None, :] - cost / epsilon, dim=1)


def _marginal_error(log_a: Tensor, f: Tensor, update: Tensor, epsilon: float) -> float:
    r"""The L1 error :math:`\sum_i |(P\mathbf 1)_i - a_i|` of the plan's first marginal.

    The plan of potentials ``(f, g)`` has row sums :math:`a_i e^{(f_i - f'_i)/\varepsilon}`,
    where :math:`f'` is the next update of ``f`` from ``g``: the check costs nothing more.
    """
    # The exponent is capped so that early, far-off iterates give a large error, not inf * 0.
    ratio = torch.expm1(((f - update) / epsilon).clamp(max=50.0))
    return float((log_a.exp() * ratio.abs()).sum().detach())


def _temperatures(largest_cost: float, epsilon: float, scaling: float | None) -> list[float]:
    """The annealing schedule: from the largest cost down to ``epsilon``, by ``scaling**2``."""
    if scaling is None:
        return [epsilon]
    start = max(largest_cost, epsilon)
    steps = (
        math.ceil(math.log(start / epsilon) / (-2 * math.log(scaling))) if start > epsilon else 0
    )
    return [start * scaling ** (2 * k) for k in range(steps)] + [epsilon]


def _check_options(
    epsilon: object, scaling: object, max_iterations: object, tolerance: object
) -> tuple[float, float | None, int, float]:
    epsilon = check_positive_float("epsilon", epsilon)
    max_iterations = check_positive_int("max_iterations", max_iterations)
    tolerance = check_positive_float("tolerance", tolerance)
    if scaling is not None:
        scaling = check_positive_float("scaling", scaling)
        if scaling >= 1:
            raise ValueError(
                f"scaling must lie in (0, 1) (the ratio of successive blurs), or be None for "
                f"no annealing; got {scaling}."
            )
    return epsilon, scaling, max_iterations, tolerance


def log_sinkhorn(
    cost: Tensor,
    log_a: Tensor,
    log_b: Tensor,
    epsilon: float,
    *,
    scaling: float | None = 0.5,
    max_iterations: int = 5000,
    tolerance: float = 1e-4,
) -> tuple[Tensor, Tensor, int]:
    r"""Sinkhorn's iterations on the dual potentials, in the log domain.

    Alternates the two soft-min updates

    .. math::
        f_i \leftarrow -\varepsilon \log \sum_j b_j\, e^{(g_j - C_{ij})/\varepsilon}, \qquad
        g_j \leftarrow -\varepsilon \log \sum_i a_i\, e^{(f_i - C_{ij})/\varepsilon},

    each making one marginal of the plan :math:`P_{ij} = a_i b_j e^{(f_i + g_j - C_{ij})/
    \varepsilon}` exact. Written with ``logsumexp``, they never form :math:`e^{-C/\varepsilon}`,
    which underflows for small :math:`\varepsilon`. With ``scaling``, the first iterations
    run at decreasing temperatures (epsilon-scaling), from the largest cost down to
    ``epsilon``, which makes small temperatures converge in far fewer iterations.

    Args:
        cost: The cost matrix, shape ``(n, m)``.
        log_a: Log-weights of the rows, shape ``(n,)``.
        log_b: Log-weights of the columns, shape ``(m,)``.
        epsilon: The temperature, > 0.
        scaling: Ratio of successive blurs (square roots of temperatures) during
            annealing, in (0, 1); ``None`` to iterate at ``epsilon`` from the start.
        max_iterations: Most update pairs at the final temperature.
        tolerance: Stop when the plan's first marginal is this close to ``a`` (L1 norm); the
            second marginal is exact after each update of ``g``.

    Returns:
        ``(f, g, iterations)``: the potentials, shapes ``(n,)`` and ``(m,)``, and the number
        of update pairs done in all.

    Example:
        >>> cost = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
        >>> log_w = torch.full((2,), 0.5).log()
        >>> f, g, _ = log_sinkhorn(cost, log_w, log_w, 0.01)
        >>> # Points stay put (cost 0); the entropic term adds epsilon * log 2.
        >>> round(float(f.mean() + g.mean()), 4), round(0.01 * math.log(2), 4)
        (0.0069, 0.0069)
    """
    check_tensor("cost", cost, ndim=2, floating=True)
    n, m = cost.shape
    check_tensor("log_a", log_a, shape=(n,), floating=True, finite=False)
    check_tensor("log_b", log_b, shape=(m,), floating=True, finite=False)
    epsilon, scaling, max_iterations, tolerance = _check_options(
        epsilon, scaling, max_iterations, tolerance
    )

    f = cost.new_zeros(n)
    g = cost.new_zeros(m)
    schedule = _temperatures(float(cost.detach().max()), epsilon, scaling)
    iterations = 0
    for temperature in schedule[:-1]:
        f = _softmin(temperature, cost, log_b + g / temperature)
        g = _softmin(temperature, cost.T, log_a + f / temperature)
        iterations += 1
    for _ in range(max_iterations):
        update = _softmin(epsilon, cost, log_b + g / epsilon)
        error = _marginal_error(log_a, f, update, epsilon)
        f = update
        g = _softmin(epsilon, cost.T, log_a + f / epsilon)
        iterations += 1
        if error < tolerance:
            break
    return f, g, iterations


def log_sinkhorn_symmetric(
    cost: Tensor,
    log_a: Tensor,
    epsilon: float,
    *,
    scaling: float | None = 0.5,
    max_iterations: int = 5000,
    tolerance: float = 1e-4,
) -> tuple[Tensor, int]:
    r"""Sinkhorn's iterations for a measure against itself, :math:`\mathrm{OT}_\varepsilon(a, a)`.

    The two potentials of a symmetric problem coincide, :math:`f = g`, and the fixed point
    :math:`f = T(f)` with :math:`T(f)_i = -\varepsilon\log\sum_j a_j e^{(f_j - C_{ij})/
    \varepsilon}` is reached by the averaged update :math:`f \leftarrow \tfrac12(f + T(f))`
    in a few iterations, where the alternating updates of :func:`log_sinkhorn` crawl: their
    iterates swing between two patterns (Feydy et al., 2019, section 3.1). The cost is then
    :math:`2\langle a, f\rangle`.

    Args:
        cost: Symmetric cost matrix, shape ``(n, n)``.
        log_a: Log-weights, shape ``(n,)``.
        epsilon, scaling, max_iterations, tolerance: As for :func:`log_sinkhorn`.

    Returns:
        ``(f, iterations)``: the potential, shape ``(n,)``, and the number of updates.
    """
    check_tensor("cost", cost, ndim=2, floating=True)
    n = cost.shape[0]
    check_tensor("cost", cost, shape=(n, n))
    check_tensor("log_a", log_a, shape=(n,), floating=True, finite=False)
    epsilon, scaling, max_iterations, tolerance = _check_options(
        epsilon, scaling, max_iterations, tolerance
    )
    f = cost.new_zeros(n)
    schedule = _temperatures(float(cost.detach().max()), epsilon, scaling)
    for temperature in schedule[:-1]:
        f = (f + _softmin(temperature, cost, log_a + f / temperature)) / 2
    iterations = len(schedule) - 1
    for _ in range(max_iterations):
        update = _softmin(epsilon, cost, log_a + f / epsilon)
        error = _marginal_error(log_a, f, update, epsilon)
        f = (f + update) / 2
        iterations += 1
        if error < tolerance:
            break
    return f, iterations


def entropic_ot(
    x: Tensor,
    y: Tensor,
    *,
    blur: float = 0.05,
    a: Tensor | None = None,
    b: Tensor | None = None,
    scaling: float | None = 0.5,
    max_iterations: int = 5000,
    tolerance: float = 1e-4,
) -> Tensor:
    r"""The regularized transport cost :math:`\mathrm{OT}_\varepsilon(a, b)`, :math:`\varepsilon
    = \text{blur}^2`, with the cost :math:`\tfrac12\|x - y\|^2` (see the module docstring).

    The potentials are found without tracking gradients; one last pair of updates is then
    taken in the autograd graph, :math:`f` from :math:`C(x, \bar y)` and :math:`g` from
    :math:`C(y, \bar x)` (bars: detached). At convergence this gives the exact gradient,
    :math:`\nabla_{x_i} \mathrm{OT}_\varepsilon = \sum_j P_{ij}\,(x_i - y_j)` (the envelope
    theorem), without back-propagating through the iterations, as geomloss does. When
    ``y is x`` (and ``b is a``) the symmetric iterations of :func:`log_sinkhorn_symmetric`
    are used.

    Args:
        x: First cloud, shape ``(n, features)``.
        y: Second cloud, shape ``(m, features)``, same dtype and device.
        blur: Length scale of the regularization (data units), > 0.
        a: Weights of ``x``'s points, shape ``(n,)``, summing to 1; uniform if ``None``.
        b: Weights of ``y``'s points, shape ``(m,)``; uniform if ``None``.
        scaling: Epsilon-scaling ratio, see :func:`log_sinkhorn`.
        max_iterations: See :func:`log_sinkhorn`.
        tolerance: See :func:`log_sinkhorn`.

    Returns:
        The cost, a scalar tensor.

    Raises:
        TypeError: For a non-tensor, a non-floating dtype, or dtypes that differ.
        ValueError: For a cloud that is not 2-D or empty, features that differ,
            non-finite values, bad weights or a blur that is not positive.

    Example:
        >>> x = torch.tensor([[0.0], [1.0]])
        >>> round(float(entropic_ot(x, x + 2.0, blur=0.01)), 3)  # shift by 2: |2|^2 / 2
        2.0
    """
    check_pair(x, y)
    blur = check_blur(blur)
    symmetric = y is x and (b is a)
    a = check_weights("a", a, x, "x")
    b = a if symmetric else check_weights("b", b, y, "y")
    epsilon = blur**2
    options = {"scaling": scaling, "max_iterations": max_iterations, "tolerance": tolerance}
    log_a, log_b = a.log(), b.log()
    if symmetric:
        with torch.no_grad():
            f, _ = log_sinkhorn_symmetric(squared_distance_cost(x, x), log_a, epsilon, **options)
        f_last = _softmin(epsilon, squared_distance_cost(x, x.detach()), log_a + f / epsilon)
        return 2 * (a * f_last).sum()
    with torch.no_grad():
        f, g, _ = log_sinkhorn(squared_distance_cost(x, y), log_a, log_b, epsilon, **options)
    f_last = _softmin(epsilon, squared_distance_cost(x, y.detach()), log_b + g / epsilon)
    g_last = _softmin(epsilon, squared_distance_cost(y, x.detach()), log_a + f / epsilon)
    return (a * f_last).sum() + (b * g_last).sum()


def sinkhorn_divergence(
    x: Tensor,
    y: Tensor,
    *,
    blur: float = 0.05,
    a: Tensor | None = None,
    b: Tensor | None = None,
    scaling: float | None = 0.5,
    max_iterations: int = 5000,
    tolerance: float = 1e-4,
) -> Tensor:
    r"""The debiased Sinkhorn divergence
    :math:`S_\varepsilon = \mathrm{OT}_\varepsilon(a, b) - \tfrac12\mathrm{OT}_\varepsilon(a, a)
    - \tfrac12\mathrm{OT}_\varepsilon(b, b)`.

    What geomloss' ``SamplesLoss("sinkhorn", p=2, blur=blur)`` computes, here with
    :func:`entropic_ot` three times. Unlike :math:`\mathrm{OT}_\varepsilon` it is zero when
    the clouds coincide; it tends to :math:`\tfrac12 W_2^2` as ``blur`` goes to 0.

    Args:
        x, y, blur, a, b, scaling, max_iterations, tolerance: As for :func:`entropic_ot`.

    Returns:
        The divergence, a scalar tensor (>= 0 up to rounding).

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [3.0]])
        >>> round(abs(float(sinkhorn_divergence(x, x))), 6)
        0.0
    """
    options = {
        "blur": blur,
        "scaling": scaling,
        "max_iterations": max_iterations,
        "tolerance": tolerance,
    }
    cross = entropic_ot(x, y, a=a, b=b, **options)
    self_x = entropic_ot(x, x, a=a, b=a, **options)
    self_y = entropic_ot(y, y, a=b, b=b, **options)
    return cross - (self_x + self_y) / 2
