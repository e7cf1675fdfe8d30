r"""Seeded, offline data generators for the chapters and assignments.

Besides the one-dimensional examples (:func:`binary_choice`, :func:`bimodal_1d`)
and the bundled :func:`iris` data, the module holds the two-dimensional toy
distributions on which density estimators and flows are compared:
:func:`two_moons`, :func:`two_blobs`, :func:`boomerang`, :func:`eight_gaussians`,
:func:`checkerboard`, :func:`pinwheel` and :func:`two_spirals`. Each generator
documents its exact generative process. :class:`ToyDistribution` wraps the same
processes as ``torch.distributions`` objects with an exact ``log_prob`` (all but the
pinwheel), and :func:`true_entropy` gives their differential entropies, so that a
benchmark can report the held-out negative log-likelihood minus the entropy, an
estimate of :math:`\mathrm{KL}(p \,\|\, q)` that is zero only for a perfect model.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from course_lib._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
)

__all__ = [
    "ChoiceData",
    "ToyDistribution",
    "bimodal_1d",
    "binary_choice",
    "boomerang",
    "checkerboard",
    "eight_gaussians",
    "iris",
    "pinwheel",
    "true_entropy",
    "two_blobs",
    "two_moons",
    "two_spirals",
]


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


def _check_float_dtype(dtype: object) -> None:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating-point torch.dtype; got {describe(dtype)}. "
            "Pass e.g. dtype=torch.float32 or dtype=torch.float64."
        )


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
    _check_float_dtype(dtype)
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


def bimodal_1d(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Draws a one-dimensional sample from a two-component Gaussian mixture.

    .. math:: p(x) = \tfrac12\,\mathcal{N}(x; -1, 0.5^2) + \tfrac12\,\mathcal{N}(x; 1, 0.75^2),

    the bimodal density of the chapter on maximum likelihood (the two halves
    of the course's original example, drawn independently here). Each point
    picks its component with probability 1/2. Drawn in float64 on a CPU
    generator and cast to ``dtype``.

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of the result.

    Returns:
        The sample, shape ``(n,)``.

    Example:
        >>> sample = bimodal_1d(n=2000, seed=0)
        >>> tuple(sample.shape), sample.dtype
        ((2000,), torch.float32)
        >>> round(float((sample > 0).float().mean()), 1)
        0.5
    """
    n = check_positive_int("n", n)
    _check_float_dtype(dtype)
    generator = check_seed(seed)
    component = torch.rand(n, generator=generator, dtype=torch.float64) < 0.5
    z = torch.randn(n, generator=generator, dtype=torch.float64)
    sample = torch.where(component, 1.0 + 0.75 * z, -1.0 + 0.5 * z)
    return sample.to(dtype)


# Two-dimensional toy distributions ------------------------------------------------------------
#
# Every sampler below draws in float64 on the CPU generator it is given, in the order its
# public docstring states, and returns ``(x, labels)`` with ``labels`` None where the
# distribution has no natural classes. Every density takes float64 points of shape
# ``(batch, 2)`` on any device and returns float64 log-densities of shape ``(batch,)``.

_LOG_2PI = math.log(2 * math.pi)

# Two moons: two unit half circles, the second the first reflected through (0.5, 0.25).
_MOON_CENTRES = ((0.0, 0.0), (1.0, 0.5))
_MOON_FIRST_ANGLES = (0.0, math.pi)  # circle angles: [0, pi] upper moon, [pi, 2 pi] lower

_BLOB_CENTRES = ((-2.0, 0.0), (2.0, 0.0))

_BOOMERANG_MEAN = 0.5
_BOOMERANG_STD = 3.7
_BOOMERANG_CURVATURE = 0.25

_PINWHEEL_ARMS = 5
_PINWHEEL_RADIAL_STD = 0.3
_PINWHEEL_TANGENTIAL_STD = 0.1
_PINWHEEL_RATE = 0.25

_SPIRAL_TURN = 3 * math.pi  # the spirals wind through 540 degrees
_SPIRAL_JITTER = 0.5 / 3  # side of the uniform square added to each spiral point

# Gauss-Legendre nodes per window of a moon's arc: 48 reach a relative error below 1e-11
# against scipy.integrate.quad for noise from 0.01 to 3 (32 nodes: 1e-9, 24: 1e-5).
_MOON_NODES = 48
# A window keeps the part of an arc where the integrand is within exp(-40) of its maximum
# there; the neglected rest is below exp(-40) * pi relative to the kept part.
_MOON_WINDOW_LOG_RATIO = 40.0


@functools.lru_cache(maxsize=8)
def _gauss_legendre(m: int) -> tuple[Tensor, Tensor]:
    """Gauss-Legendre nodes and weights on ``[-1, 1]``, float64, shapes ``(m,)``.

    Golub-Welsch: the nodes are the eigenvalues of the Jacobi matrix of the Legendre
    recurrence, the weights twice the squared first components of its eigenvectors.
    """
    k = torch.arange(1, m, dtype=torch.float64)
    off_diagonal = k / torch.sqrt(4 * k * k - 1)
    jacobi = torch.diag(off_diagonal, 1) + torch.diag(off_diagonal, -1)
    nodes, vectors = torch.linalg.eigh(jacobi)
    return nodes, 2 * vectors[0] ** 2


def _in_chunks(function: Callable[[Tensor], Tensor], x: Tensor, rows: int) -> Tensor:
    """Applies a row-wise ``function`` to ``x`` a block of rows at a time, to bound memory."""
    if x.shape[0] <= rows:
        return function(x)
    return torch.cat([function(block) for block in x.split(rows)])


def _sample_two_moons(
    n: int, generator: torch.Generator, *, noise: float
) -> tuple[Tensor, Tensor | None]:
    labels = torch.randint(0, 2, (n,), generator=generator)
    t = math.pi * torch.rand(n, generator=generator, dtype=torch.float64)
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    upper = torch.stack([t.cos(), t.sin()], dim=-1)
    lower = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=-1)
    x = torch.where(labels[:, None] == 0, upper, lower) + noise * eps
    return x, labels


def _log_arc_density(x: Tensor, centre: tuple[float, float], first: float, noise: float) -> Tensor:
    r"""Log-density of a point drawn uniformly on a half circle plus isotropic Gaussian noise.

    With the arc :math:`c + (\cos\theta, \sin\theta)`, :math:`\theta \sim U(a, a + \pi)`,
    and :math:`x - c = r (\cos\varphi, \sin\varphi)`,

    .. math:: \frac{1}{\pi}\int_a^{a+\pi} \mathcal{N}(x; c + e_\theta, \sigma^2 I)\,d\theta
        = \frac{e^{-(r-1)^2 / 2\sigma^2}}{2\pi^2\sigma^2}
          \int_a^{a+\pi} e^{-2\kappa \sin^2((\theta - \varphi)/2)}\,d\theta,
        \qquad \kappa = r / \sigma^2.

    The integrand decreases with the circular distance from :math:`\theta = \varphi`, so
    the part of the arc where it is within :math:`e^{-40}` of its maximum on the arc is the
    arc intersected with one circular window around :math:`\varphi`: at most two intervals
    (window centres :math:`\varphi` and :math:`\varphi - 2\pi`, lifted to the arc's range).
    Each gets :data:`_MOON_NODES` Gauss-Legendre nodes, summed in log space; so the
    integrand is resolved however small the noise and however far the point.
    """
    nodes, weights = (v.to(x.device) for v in _gauss_legendre(_MOON_NODES))
    offset = x - x.new_tensor(centre)
    r = offset.norm(dim=-1)
    phi = torch.atan2(offset[:, 1], offset[:, 0])
    kappa = r / noise**2
    last = first + math.pi
    peak = first + torch.remainder(phi - first, 2 * math.pi)  # in [first, first + 2 pi)
    # Circular distance from phi to the nearest point of the arc.
    outside = torch.minimum(peak - last, first + 2 * math.pi - peak)
    gap = torch.where(peak <= last, torch.zeros_like(peak), outside)
    # Half-width of the window: cos(half) = cos(gap) - 40 / kappa, clamped (kappa = 0 at c).
    half = torch.arccos((torch.cos(gap) - _MOON_WINDOW_LOG_RATIO / kappa).clamp(-1.0, 1.0))
    terms = []
    for centre_angle in (peak, peak - 2 * math.pi):
        lo = torch.clamp(centre_angle - half, min=first)
        hi = torch.clamp(centre_angle + half, max=last)
        radius = ((hi - lo) / 2).clamp(min=0.0)
        theta = ((hi + lo) / 2)[:, None] + radius[:, None] * nodes
        exponent = -2 * kappa[:, None] * torch.sin((theta - phi[:, None]) / 2) ** 2
        terms.append(exponent + torch.log(radius[:, None] * weights))
    log_integral = torch.logsumexp(torch.cat(terms, dim=-1), dim=-1)
    return log_integral - (r - 1) ** 2 / (2 * noise**2) - math.log(2 * math.pi**2 * noise**2)


def _two_moons_log_prob(x: Tensor, *, noise: float) -> Tensor:
    def block(rows: Tensor) -> Tensor:
        upper = _log_arc_density(rows, _MOON_CENTRES[0], _MOON_FIRST_ANGLES[0], noise)
        lower = _log_arc_density(rows, _MOON_CENTRES[1], _MOON_FIRST_ANGLES[1], noise)
        return torch.logaddexp(upper, lower) - math.log(2)

    return _in_chunks(block, x, 8192)


def _grid_entropy(
    log_prob: Callable[[Tensor], Tensor], box: tuple[float, float, float, float], step: float
) -> float:
    r"""Differential entropy :math:`-\int p \log p` by the trapezoid rule on a square grid.

    The box must hold all but a negligible part of the mass, so the integrand vanishes
    at its edges and the rule is the plain sum times ``step**2``. For a density smoothed by
    Gaussian noise of standard deviation :math:`\sigma` this rule converges spectrally:
    its error falls like :math:`\exp(-2\pi^2\sigma^2/h^2)` in the step :math:`h`. The
    integral of :math:`p` on the same grid is checked to be 1, which guards the rest.
    """
    x_lo, x_hi, y_lo, y_hi = box
    xs = torch.arange(x_lo, x_hi + step / 2, step, dtype=torch.float64)
    ys = torch.arange(y_lo, y_hi + step / 2, step, dtype=torch.float64)
    mass = entropy = 0.0
    for x_block in xs.split(max(1, 32768 // ys.numel())):
        grid = torch.cartesian_prod(x_block, ys)
        log_p = log_prob(grid)
        p = log_p.exp()
        mass += float(p.sum()) * step**2
        entropy -= float(torch.where(p > 0, p * log_p, 0.0).sum()) * step**2
    if abs(mass - 1) > 1e-8:
        raise RuntimeError(
            f"The quadrature grid integrates the density to {mass:.12f}, not 1; the box "
            f"{box} or the step {step} does not fit this distribution."
        )
    return entropy


def _two_moons_entropy(*, noise: float) -> float:
    if noise < 0.01:
        raise ValueError(
            f"noise must be at least 0.01 for the entropy of two_moons; got {noise}. The "
            "quadrature grid has a step of noise / 2, so its size grows like 1 / noise**2 "
            "(220,000 points at 0.01)."
        )
    pad = 10 * noise
    box = (-1 - pad, 2 + pad, -0.5 - pad, 1 + pad)
    return _grid_entropy(lambda x: _two_moons_log_prob(x, noise=noise), box, noise / 2)


def _isotropic_mixture_log_prob(x: Tensor, means: Tensor, std: float) -> Tensor:
    """Log-density of an equal-weight mixture of ``N(mean, std**2 I)``; means ``(K, 2)``."""
    means = means.to(x.device)
    squared = ((x[:, None, :] - means) ** 2).sum(-1)
    log_components = -squared / (2 * std**2) - _LOG_2PI - 2 * math.log(std)
    return torch.logsumexp(log_components, dim=-1) - math.log(means.shape[0])


def _isotropic_mixture_entropy(means: Tensor, std: float) -> float:
    r"""Entropy of an equal-weight isotropic Gaussian mixture, deterministic to ~1e-12.

    :math:`H = -\frac1K \sum_k E_{x \sim \mathcal N(\mu_k, \sigma^2 I)} \log p(x)`; each
    expectation is a trapezoid sum over :math:`x = \mu_k + \sigma u`, with :math:`u` on a
    grid of step 1/4 on :math:`[-10, 10]^2` (steps 1/4 and 1/8 agree to 1e-12 for the
    eight Gaussians, whether the components overlap or not).
    """
    u = torch.arange(-10.0, 10.0 + 1 / 8, 1 / 4, dtype=torch.float64)
    grid = torch.cartesian_prod(u, u)
    weights = torch.exp(-(grid**2).sum(-1) / 2) / (2 * math.pi) / 16
    total = 0.0
    for mean in means:
        log_p = _isotropic_mixture_log_prob(mean + std * grid, means, std)
        total -= float((weights * log_p).sum())
    return total / means.shape[0]


def _sample_two_blobs(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    labels = torch.randint(0, 2, (n,), generator=generator)
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    centres = torch.tensor(_BLOB_CENTRES, dtype=torch.float64)
    return centres[labels] + eps, labels


def _two_blobs_log_prob(x: Tensor) -> Tensor:
    return _isotropic_mixture_log_prob(x, torch.tensor(_BLOB_CENTRES, dtype=torch.float64), 1.0)


def _two_blobs_entropy() -> float:
    return _isotropic_mixture_entropy(torch.tensor(_BLOB_CENTRES, dtype=torch.float64), 1.0)


def _sample_boomerang(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    x2 = _BOOMERANG_MEAN + _BOOMERANG_STD * eps[:, 0]
    x1 = _BOOMERANG_CURVATURE * x2**2 + eps[:, 1]
    return torch.stack([x1, x2], dim=-1), None


def _boomerang_log_prob(x: Tensor) -> Tensor:
    z2 = (x[:, 1] - _BOOMERANG_MEAN) / _BOOMERANG_STD
    z1 = x[:, 0] - _BOOMERANG_CURVATURE * x[:, 1] ** 2
    return -(z1**2 + z2**2) / 2 - _LOG_2PI - math.log(_BOOMERANG_STD)


def _boomerang_entropy() -> float:
    # (x2, e) -> (0.25 x2^2 + e, x2) has unit Jacobian: the entropies of N(0.5, 3.7^2) and
    # N(0, 1) add up.
    return 1 + _LOG_2PI + math.log(_BOOMERANG_STD)


def _eight_gaussian_means(radius: float) -> Tensor:
    angles = torch.arange(8, dtype=torch.float64) * (math.pi / 4)
    return radius * torch.stack([angles.cos(), angles.sin()], dim=-1)


def _sample_eight_gaussians(
    n: int, generator: torch.Generator, *, radius: float, std: float
) -> tuple[Tensor, Tensor | None]:
    labels = torch.randint(0, 8, (n,), generator=generator)
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    return _eight_gaussian_means(radius)[labels] + std * eps, labels


def _eight_gaussians_log_prob(x: Tensor, *, radius: float, std: float) -> Tensor:
    return _in_chunks(
        lambda rows: _isotropic_mixture_log_prob(rows, _eight_gaussian_means(radius), std),
        x,
        65536,
    )


def _eight_gaussians_entropy(*, radius: float, std: float) -> float:
    return _isotropic_mixture_entropy(_eight_gaussian_means(radius), std)


def _sample_checkerboard(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    square = torch.randint(0, 8, (n,), generator=generator)
    offset = torch.rand(n, 2, generator=generator, dtype=torch.float64)
    row = square // 2
    column = 2 * (square % 2) + row % 2  # column + row is even: a dark square
    corner = torch.stack([column, row], dim=-1).to(torch.float64) - 2
    return corner + offset, None


def _checkerboard_log_prob(x: Tensor) -> Tensor:
    cell = torch.floor(x) + 2
    inside = ((cell >= 0) & (cell <= 3)).all(dim=-1)
    dark = torch.remainder(cell.sum(dim=-1), 2) == 0
    log_p = torch.full_like(x[:, 0], -math.inf)
    return log_p.masked_fill(inside & dark, -math.log(8.0))


def _checkerboard_entropy() -> float:
    return math.log(8.0)


def _sample_pinwheel(n: int, generator: torch.Generator) -> tuple[Tensor, Tensor | None]:
    labels = torch.randint(0, _PINWHEEL_ARMS, (n,), generator=generator)
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    radial = 1 + _PINWHEEL_RADIAL_STD * eps[:, 0]
    tangential = _PINWHEEL_TANGENTIAL_STD * eps[:, 1]
    angle = 2 * math.pi * labels / _PINWHEEL_ARMS + _PINWHEEL_RATE * radial.exp()
    cos, sin = angle.cos(), angle.sin()
    # Rotation by -angle, as in Johnson et al.'s code: the arms curl clockwise.
    x = 2 * torch.stack([radial * cos + tangential * sin, tangential * cos - radial * sin], -1)
    return x, labels


def _sample_two_spirals(
    n: int, generator: torch.Generator, *, noise: float
) -> tuple[Tensor, Tensor | None]:
    labels = torch.randint(0, 2, (n,), generator=generator)
    t = _SPIRAL_TURN * torch.rand(n, generator=generator, dtype=torch.float64).sqrt()
    jitter = _SPIRAL_JITTER * torch.rand(n, 2, generator=generator, dtype=torch.float64)
    eps = torch.randn(n, 2, generator=generator, dtype=torch.float64)
    point = torch.stack([-t * t.cos(), t * t.sin()], dim=-1) / 3 + jitter
    sign = 1 - 2 * labels[:, None].to(torch.float64)  # the second spiral is the first negated
    return sign * point + noise * eps, labels


def _spiral_arc_length(t: Tensor) -> Tensor:
    """Length of the curve ``(-t cos t, t sin t) / 3`` from 0 to ``t``; its speed is
    ``sqrt(1 + t^2) / 3``."""
    return (t * torch.sqrt(1 + t * t) + torch.asinh(t)) / 6


@functools.lru_cache(maxsize=8)
def _spiral_nodes(noise: float) -> tuple[Tensor, Tensor]:
    r"""Quadrature over the spiral parameter: points ``(panels, 8, 2)``, weights ``(panels, 8)``.

    :math:`t = 3\pi\sqrt{U}` has density :math:`2t/(3\pi)^2` on :math:`[0, 3\pi]`, folded
    into the weights (which sum to 1). Composite Gauss-Legendre with 8 nodes per panel;
    the panels are of equal arc length, ``1.5 * noise`` (the kernel's scale), plus eight
    panels shrinking geometrically by 4 towards each end of the spiral: seen from beyond
    an end, the integrand decays exponentially away from it, faster the farther the
    point. Against a reference with 8 times the panels and 14 graded ones, log-densities
    agree to 1e-10 where they exceed -20, and to 1e-7 down to -1000 (noise 0.05 to 0.3).
    """
    nodes, weights = _gauss_legendre(8)
    length = _spiral_arc_length(torch.tensor(_SPIRAL_TURN, dtype=torch.float64))
    panels = max(16, math.ceil(float(length) / (1.5 * noise)))
    target = torch.linspace(0.0, float(length), panels + 1, dtype=torch.float64)
    edges = target * (_SPIRAL_TURN / float(length))
    for _ in range(50):  # Newton's method for the parameters at equal arc lengths
        speed = torch.sqrt(1 + edges * edges) / 3
        edges = (edges - (_spiral_arc_length(edges) - target) / speed).clamp(0.0, _SPIRAL_TURN)
    shrink = 0.25 ** torch.arange(1, 9, dtype=torch.float64)
    first, last = float(edges[1]), float(_SPIRAL_TURN - edges[-2])
    edges = torch.cat([edges, first * shrink, _SPIRAL_TURN - last * shrink]).sort().values
    half = (edges[1:] - edges[:-1]) / 2
    t = (edges[:-1] + half)[:, None] + half[:, None] * nodes
    w = half[:, None] * weights * 2 * t / _SPIRAL_TURN**2
    return torch.stack([-t * t.cos(), t * t.sin()], dim=-1) / 3, w


# A jitter square is skipped for a point when, in one coordinate, the point lies more than
# 12 noise standard deviations outside it: its factor is then below Phi(-12) < 2e-33.
_SPIRAL_CUTOFF = 12.0
# Below this unnormalized sum the skipped pairs (< 4e-33) could exceed 4e-16 of it.
_SPIRAL_FAR = 1e-17


def _box_mass(z: Tensor, width: float) -> Tensor:
    r"""``Phi(z) - Phi(z - width)`` for ``width > 0``, to full relative accuracy in both tails.

    Above zero, :math:`\Phi(z) - \Phi(z - w) = \Phi(w - z) - \Phi(-z)` is taken from the
    lower tail, written :math:`\Phi(u) = \operatorname{erfc}(-u/\sqrt2)/2`:
    ``torch.special.ndtr`` computes :math:`(1 + \operatorname{erf})/2` and loses all
    relative accuracy below :math:`u = -8`. Both arguments are clamped at -37, where
    :math:`\Phi` is still a normal float (5.7e-300): negligible next to the sums that
    :func:`_two_spirals_log_prob` keeps, and no slow subnormal floats.
    """
    flip = z - width > 0
    upper = torch.where(flip, width - z, z)
    upper = upper.clamp(min=-37.0)
    lower = torch.where(flip, -z, z - width).clamp(min=-37.0)
    scale = -1 / math.sqrt(2)
    return (torch.special.erfc(scale * upper) - torch.special.erfc(scale * lower)) / 2


def _log_box_mass(z: Tensor, width: float) -> Tensor:
    """``log(Phi(z) - Phi(z - width))`` like :func:`_box_mass`, via ``log_ndtr``: no underflow."""
    flip = z - width > 0
    upper = torch.where(flip, width - z, z)
    lower = torch.where(flip, -z, z - width)
    log_upper = torch.special.log_ndtr(upper)
    return log_upper + torch.log(-torch.expm1(torch.special.log_ndtr(lower) - log_upper))


def _two_spirals_log_prob(x: Tensor, *, noise: float, tails: bool = True) -> Tensor:
    r"""Log-density of the two spirals: a quadrature over :math:`t` of box-times-Gaussian
    kernels, :math:`\prod_j [\Phi((x_j - a_j)/\sigma) - \Phi((x_j - a_j - w)/\sigma)] / w^2`
    for the square :math:`[a_1, a_1 + w] \times [a_2, a_2 + w]` of the uniform jitter.

    Most (point, node) pairs add nothing, so whole panels of nodes are skipped on bounds.
    A point at distance :math:`d_j` (coordinate :math:`j`) from the box around a panel's
    squares gets at most :math:`\prod_j \Phi(-d_j/\sigma)` from each of its nodes.

    * Near points, in linear space: a panel is summed only if the point lies within
      :data:`_SPIRAL_CUTOFF` standard deviations of its box in both coordinates, so the
      skipped pairs add at most :math:`2\,\Phi(-12) < 4 \cdot 10^{-33}` to the
      unnormalized sum (each spiral's weights sum to 1).
    * Points whose kept sum is below 1e-17 (relative error above 4e-16), in log space:
      the terms of every panel's middle node give a lower bound :math:`L` of the log-sum,
      and a panel is summed only if its bound, times its weight, exceeds
      :math:`e^{L - 40}`. Skipped unless ``tails`` is False (the entropy grid, where
      such rows add nothing): then the log of the kept sum, a lower bound, is returned.
    """
    points, weights = (v.to(x.device) for v in _spiral_nodes(noise))
    width = _SPIRAL_JITTER / noise
    reach = _SPIRAL_CUTOFF * noise
    log_norm = math.log(2.0) + 2 * math.log(_SPIRAL_JITTER)
    # Lower-left corners of the jitter squares, (panels, 8, 2), and the box of each panel.
    corners = (points, -points - _SPIRAL_JITTER)
    boxes = [(c.amin(dim=1), c.amax(dim=1) + _SPIRAL_JITTER) for c in corners]
    log_weights = weights.log()
    log_panel_weights = weights.sum(dim=-1).log()

    def near_sum(rows: Tensor) -> Tensor:
        total = rows.new_zeros(rows.shape[0])
        for corner, (low, high) in zip(corners, boxes, strict=True):
            inside = (rows[:, None, :] > low - reach) & (rows[:, None, :] < high + reach)
            row, panel = inside.all(dim=-1).nonzero(as_tuple=True)
            z = (rows[row, None, :] - corner[panel]) / noise
            mass = _box_mass(z, width).prod(dim=-1) * weights[panel]
            total.index_add_(0, row, mass.sum(dim=-1))
        return total

    def log_sum(rows: Tensor) -> Tensor:
        bounds, middles = [], []
        for corner, (low, high) in zip(corners, boxes, strict=True):
            gap = torch.maximum(low - rows[:, None, :], rows[:, None, :] - high).clamp(min=0)
            bounds.append(torch.special.log_ndtr(-gap / noise).sum(-1) + log_panel_weights)
            middle = _log_box_mass((rows[:, None, :] - corner[:, 4]) / noise, width).sum(-1)
            middles.append(middle + log_weights[:, 4])
        lower = torch.logsumexp(torch.cat(middles, dim=-1), dim=-1)
        rows_kept, terms = [], []
        for corner, bound in zip(corners, bounds, strict=True):
            row, panel = (bound > lower[:, None] - 40).nonzero(as_tuple=True)
            z = (rows[row, None, :] - corner[panel]) / noise
            log_mass = _log_box_mass(z, width).sum(dim=-1) + log_weights[panel]
            rows_kept.append(row)
            terms.append(torch.logsumexp(log_mass, dim=-1))
        row, term = torch.cat(rows_kept), torch.cat(terms)
        # Log-sum-exp of the kept terms, row by row.
        top = torch.full_like(lower, -math.inf).scatter_reduce(0, row, term, "amax")
        total = torch.zeros_like(lower).index_add_(0, row, (term - top[row]).exp())
        return top + total.log()

    def block(rows: Tensor) -> Tensor:
        total = near_sum(rows)
        log_total = total.log()
        far = total < _SPIRAL_FAR
        if tails and far.any():
            log_total[far] = log_sum(rows[far])
        return log_total - log_norm

    return _in_chunks(block, x, 2048)


def _two_spirals_entropy(*, noise: float) -> float:
    if noise < 0.05:
        raise ValueError(
            f"noise must be at least 0.05 for the entropy of two_spirals; got {noise}. The "
            "cost of the quadrature grows like 1 / noise**3 (several seconds at 0.05)."
        )
    reach = math.pi + 0.25 + 10 * noise  # |t / 3| <= pi, plus the jitter, plus the noise
    box = (-reach, reach, -reach, reach)
    return _grid_entropy(
        lambda x: _two_spirals_log_prob(x, noise=noise, tails=False), box, noise / 2
    )


@dataclass(frozen=True)
class _Toy:
    """What the public functions need to know about one toy distribution."""

    sample: Callable[..., tuple[Tensor, Tensor | None]]
    log_prob: Callable[..., Tensor] | None
    entropy: Callable[..., float] | None
    defaults: dict[str, float]


_TOYS = {
    "boomerang": _Toy(_sample_boomerang, _boomerang_log_prob, _boomerang_entropy, {}),
    "checkerboard": _Toy(
        _sample_checkerboard, _checkerboard_log_prob, _checkerboard_entropy, {}
    ),
    "eight_gaussians": _Toy(
        _sample_eight_gaussians,
        _eight_gaussians_log_prob,
        _eight_gaussians_entropy,
        {"radius": 2 * math.sqrt(2), "std": math.sqrt(2) / 4},
    ),
    "pinwheel": _Toy(_sample_pinwheel, None, None, {}),
    "two_blobs": _Toy(_sample_two_blobs, _two_blobs_log_prob, _two_blobs_entropy, {}),
    "two_moons": _Toy(
        _sample_two_moons, _two_moons_log_prob, _two_moons_entropy, {"noise": 0.05}
    ),
    "two_spirals": _Toy(
        _sample_two_spirals, _two_spirals_log_prob, _two_spirals_entropy, {"noise": 0.1}
    ),
}
_TOY_NAMES = tuple(_TOYS)


def _toy_params(name: str, params: dict[str, object]) -> dict[str, float]:
    """``params`` completed with the defaults of toy ``name``, each a positive float."""
    defaults = _TOYS[name].defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        allowed = ", ".join(defaults) if defaults else "none"
        raise TypeError(
            f"{name} has no parameter {unknown[0]!r}; its parameters are: {allowed}."
        )
    return {
        key: check_positive_float(key, params.get(key, default))
        for key, default in defaults.items()
    }


def _draw_toy(
    name: str,
    n: object,
    seed: int | torch.Generator | None,
    dtype: object,
    return_labels: object,
    **params: object,
) -> Tensor | tuple[Tensor, Tensor]:
    """Validates the arguments of a public generator, then draws from toy ``name``."""
    n = check_positive_int("n", n)
    checked = _toy_params(name, params)
    _check_float_dtype(dtype)
    if not isinstance(return_labels, bool):
        raise TypeError(f"return_labels must be True or False; got {describe(return_labels)}.")
    generator = check_seed(seed)
    x, labels = _TOYS[name].sample(n, generator, **checked)
    return (x.to(dtype), labels) if return_labels else x.to(dtype)


def two_moons(
    n: int = 1000,
    *,
    noise: float = 0.05,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Draws from two interleaved half circles with Gaussian noise.

    Each point picks a moon :math:`y \in \{0, 1\}` with probability 1/2 each (so the
    two counts are binomial, not exactly ``n / 2``), a position
    :math:`t \sim U(0, \pi)` and noise :math:`\varepsilon \sim \mathcal N(0, I_2)`:

    .. math:: x = \begin{cases} (\cos t,\ \sin t) + \sigma\varepsilon & y = 0
        \text{ (upper moon)},\\ (1 - \cos t,\ 1/2 - \sin t) + \sigma\varepsilon & y = 1
        \text{ (lower moon)}, \end{cases}

    the arcs of scikit-learn's ``make_moons``, whose points lie evenly spaced instead of
    at random. The lower moon is the upper one reflected through :math:`(1/2, 1/4)`.
    The density, a mixture over :math:`t` of Gaussians around the arcs, is exact in
    :class:`ToyDistribution` ``("two_moons", noise=...)``. Draws come in float64 from the
    CPU generator, in the order ``y``, ``t``, ``epsilon``, and are cast to ``dtype``.

    Args:
        n: Sample size.
        noise: Standard deviation :math:`\sigma` of the isotropic Gaussian noise.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of ``x``.
        return_labels: Whether to return the moons too.

    Returns:
        Points ``x``, shape ``(n, 2)``; with ``return_labels``, the pair ``(x, labels)``,
        labels int64 of shape ``(n,)``, 0 for the upper moon and 1 for the lower one.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` or ``noise`` is not positive.

    Example:
        >>> x, labels = two_moons(1000, seed=0, return_labels=True)
        >>> tuple(x.shape), x.dtype, tuple(labels.shape), labels.unique().tolist()
        ((1000, 2), torch.float32, (1000,), [0, 1])
        >>> x[labels == 0, 1].mean().item() > 0.5 > x[labels == 1, 1].mean().item()
        True
    """
    return _draw_toy("two_moons", n, seed, dtype, return_labels, noise=noise)


def two_blobs(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Draws from an equal mixture of two unit Gaussians centred at :math:`(\mp 2, 0)`.

    .. math:: p(x) = \tfrac12\,\mathcal N(x; (-2, 0), I_2)
        + \tfrac12\,\mathcal N(x; (2, 0), I_2).

    Each point picks its component with probability 1/2, then adds
    :math:`\varepsilon \sim \mathcal N(0, I_2)` to the centre (draws in that order, in
    float64, cast to ``dtype``). The centres are four standard deviations apart, so the
    two blobs touch but barely overlap.

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of ``x``.
        return_labels: Whether to return the components too.

    Returns:
        Points ``x``, shape ``(n, 2)``; with ``return_labels``, the pair ``(x, labels)``,
        labels int64 of shape ``(n,)``, 0 for the centre :math:`(-2, 0)` and 1 for
        :math:`(2, 0)`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` is not positive.

    Example:
        >>> x, labels = two_blobs(2000, seed=0, return_labels=True)
        >>> tuple(x.shape), ((x[:, 0] > 0) == (labels == 1)).float().mean().item() > 0.95
        ((2000, 2), True)
    """
    return _draw_toy("two_blobs", n, seed, dtype, return_labels)


def boomerang(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Draws from the boomerang (banana) distribution of the flows assignment.

    .. math:: x_2 \sim \mathcal N(0.5,\ 3.7^2), \qquad
        x_1 \mid x_2 \sim \mathcal N(0.25\,x_2^2,\ 1),

    so the exact density is :math:`\mathcal N(x_2; 0.5, 3.7^2)\,
    \mathcal N(x_1; 0.25 x_2^2, 1)`. The map :math:`(x_2, e) \mapsto (0.25 x_2^2 + e,
    x_2)` has unit Jacobian, so the entropy is that of the two Gaussians,
    :math:`\log(2\pi e) + \log 3.7 \approx 4.1462`. Column 0 is :math:`x_1` (the
    bent, long axis, mostly in :math:`[-3, 90]`), column 1 is :math:`x_2`. One
    ``(n, 2)`` standard normal draw in float64 gives, by column, the noise of
    :math:`x_2` and of :math:`x_1`; the result is cast to ``dtype``.

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of the result.

    Returns:
        Points, shape ``(n, 2)``, columns :math:`(x_1, x_2)`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` is not positive.

    Example:
        >>> x = boomerang(5000, seed=0)
        >>> tuple(x.shape), round(x[:, 1].mean().item(), 1), round(x[:, 1].std().item(), 1)
        ((5000, 2), 0.5, 3.7)
    """
    return _draw_toy("boomerang", n, seed, dtype, False)


def eight_gaussians(
    n: int = 1000,
    *,
    radius: float = 2 * math.sqrt(2),
    std: float = math.sqrt(2) / 4,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Draws from an equal mixture of eight isotropic Gaussians on a circle.

    .. math:: p(x) = \frac18 \sum_{k=0}^{7} \mathcal N(x; \mu_k, s^2 I_2), \qquad
        \mu_k = r\,(\cos(k\pi/4),\ \sin(k\pi/4)).

    The defaults, :math:`r = 2\sqrt2 \approx 2.83` and :math:`s = \sqrt2/4 \approx
    0.354`, are the FFJORD benchmark's (centres at radius 4, standard deviation 0.5,
    all divided by 1.414, here :math:`\sqrt2`): neighbouring centres are about
    6.1 standard deviations apart. Each point picks :math:`k` uniformly, then adds
    :math:`s\,\varepsilon`, :math:`\varepsilon \sim \mathcal N(0, I_2)` (draws in that
    order, in float64, cast to ``dtype``).

    Args:
        n: Sample size.
        radius: Radius :math:`r` of the circle of centres.
        std: Standard deviation :math:`s` of each component.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of ``x``.
        return_labels: Whether to return the components too.

    Returns:
        Points ``x``, shape ``(n, 2)``; with ``return_labels``, the pair ``(x, labels)``,
        labels int64 of shape ``(n,)``, :math:`k` counted anticlockwise from the
        positive first axis.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n``, ``radius`` or ``std`` is not positive.

    References:
        Grathwohl et al. (2019), FFJORD: Free-form continuous dynamics for scalable
        reversible generative models. https://arxiv.org/abs/1810.01367

    Example:
        >>> x, labels = eight_gaussians(4000, seed=0, return_labels=True)
        >>> tuple(x.shape), labels.bincount().numel()
        ((4000, 2), 8)
        >>> centres = 2 * math.sqrt(2) * torch.stack([torch.cos(labels * math.pi / 4),
        ...                                           torch.sin(labels * math.pi / 4)], 1)
        >>> abs((x - centres).std().item() - math.sqrt(2) / 4) < 0.01
        True
    """
    return _draw_toy(
        "eight_gaussians", n, seed, dtype, return_labels, radius=radius, std=std
    )


def checkerboard(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
) -> Tensor:
    r"""Draws uniformly from the dark squares of a 4 x 4 checkerboard on :math:`[-2, 2)^2`.

    The unit squares :math:`[i - 2, i - 1) \times [j - 2, j - 1)`, :math:`i, j \in
    \{0, 1, 2, 3\}`, with :math:`i + j` even are dark; there are eight, of total
    area 8, so :math:`p(x) = 1/8` on them and 0 elsewhere, and the entropy is
    :math:`\log 8`. Each point picks a dark square uniformly, then a uniform offset in
    it (draws in that order, in float64, cast to ``dtype``). This is the FFJORD
    benchmark's checkerboard before its final scaling by 2 (theirs lies on
    :math:`[-4, 4]^2`, entropy :math:`\log 32`).

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of the result.

    Returns:
        Points, shape ``(n, 2)``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` is not positive.

    Example:
        >>> x = checkerboard(1000, seed=0)
        >>> tuple(x.shape), bool(((x >= -2) & (x < 2)).all())
        ((1000, 2), True)
        >>> bool((torch.floor(x).sum(dim=1) % 2 == 0).all())  # i + j even: dark squares
        True
    """
    return _draw_toy("checkerboard", n, seed, dtype, False)


def pinwheel(
    n: int = 1000,
    *,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Draws from the five-armed pinwheel of Johnson et al. (2016), as in FFJORD.

    Arm :math:`k` is uniform on :math:`\{0, \dots, 4\}`; then
    :math:`f = (1 + 0.3\,\varepsilon_1,\ 0.1\,\varepsilon_2)` with
    :math:`\varepsilon \sim \mathcal N(0, I_2)`, and :math:`f` is rotated clockwise by
    :math:`a = 2\pi k/5 + 0.25\,e^{f_1}` and scaled by 2:

    .. math:: x = 2\,\big(f_1\cos a + f_2\sin a,\ \ f_2\cos a - f_1\sin a\big).

    The rotation grows with the radial coordinate, which bends each arm. Draws in float64
    in the order ``k``, ``epsilon``, cast to ``dtype``.

    This module gives no density for the pinwheel. The map :math:`f \mapsto x` has
    Jacobian determinant :math:`4(1 + 0.25\,e^{f_1} f_2)`, which vanishes on a curve
    about six standard deviations out: the map folds there, so a point can have several
    preimages and the density is unbounded along the fold. An exact ``log_prob`` would
    need every preimage of every point (a root search); ``ToyDistribution("pinwheel")``
    only samples.

    Args:
        n: Sample size.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of ``x``.
        return_labels: Whether to return the arms too.

    Returns:
        Points ``x``, shape ``(n, 2)``; with ``return_labels``, the pair ``(x, labels)``,
        labels int64 of shape ``(n,)``, the arm :math:`k`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` is not positive.

    References:
        Johnson et al. (2016), Composing graphical models with neural networks for
        structured representations and fast inference. https://arxiv.org/abs/1603.06277

    Example:
        >>> x, labels = pinwheel(1000, seed=0, return_labels=True)
        >>> tuple(x.shape), labels.unique().tolist()
        ((1000, 2), [0, 1, 2, 3, 4])
    """
    return _draw_toy("pinwheel", n, seed, dtype, return_labels)


def two_spirals(
    n: int = 1000,
    *,
    noise: float = 0.1,
    seed: int | torch.Generator | None = 0,
    dtype: torch.dtype = torch.float32,
    return_labels: bool = False,
) -> Tensor | tuple[Tensor, Tensor]:
    r"""Draws from two interleaved spirals, as in the FFJORD benchmark.

    Each point picks a spiral :math:`y \in \{0, 1\}` with probability 1/2, a
    parameter :math:`t = 3\pi\sqrt{U}` with :math:`U \sim U(0, 1)` (density
    :math:`2t / (3\pi)^2` on :math:`[0, 3\pi]`: 540 degrees, more points outward), a
    jitter :math:`J \sim U([0, 1/6]^2)` and noise :math:`\varepsilon \sim \mathcal
    N(0, I_2)`:

    .. math:: x = (-1)^y \Big(\tfrac13\,(-t\cos t,\ t\sin t) + J\Big)
        + \sigma\varepsilon.

    FFJORD adds a uniform ``[0, 0.5]`` square before dividing by 3; here the square is
    :math:`[0, 1/6]^2` after it, the same thing. The density is a one-dimensional
    integral over :math:`t` of a uniform square convolved with a Gaussian (a product of
    differences of normal distribution functions), exact in :class:`ToyDistribution`.
    Draws in float64 in the order ``y``, ``U``, ``J``, ``epsilon``, cast to ``dtype``.

    Args:
        n: Sample size.
        noise: Standard deviation :math:`\sigma` of the isotropic Gaussian noise.
        seed: Seed or generator; see ``check_seed``.
        dtype: Floating-point dtype of ``x``.
        return_labels: Whether to return the spirals too.

    Returns:
        Points ``x``, shape ``(n, 2)``; with ``return_labels``, the pair ``(x, labels)``,
        labels int64 of shape ``(n,)``, the spiral :math:`y`.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If ``n`` or ``noise`` is not positive.

    References:
        Grathwohl et al. (2019), FFJORD. https://arxiv.org/abs/1810.01367

    Example:
        >>> x, labels = two_spirals(2000, seed=0, return_labels=True)
        >>> tuple(x.shape), round(x.norm(dim=1).max().item())
        ((2000, 2), 3)
    """
    return _draw_toy("two_spirals", n, seed, dtype, return_labels, noise=noise)


@functools.lru_cache(maxsize=64)
def _cached_entropy(name: str, params: tuple[tuple[str, float], ...]) -> float:
    return _TOYS[name].entropy(**dict(params))


def true_entropy(name: str, **params: float) -> float:
    r"""Differential entropy :math:`H(p) = -E_p[\log p(X)]` of a toy distribution, in nats.

    A benchmark reports a model :math:`q`'s held-out negative log-likelihood minus this
    value: :math:`-E_p[\log q] - H(p) = \mathrm{KL}(p\,\|\,q) \ge 0`.

    ===================  =====================================  ===============
    ``name``             how                                    at the defaults
    ===================  =====================================  ===============
    ``boomerang``        :math:`\log(2\pi e) + \log 3.7`         4.146210
    ``checkerboard``     :math:`\log 8`                          2.079442
    ``eight_gaussians``  Gaussian-weighted grid, per component  2.831578
    ``two_blobs``        Gaussian-weighted grid, per component  3.470597
    ``two_moons``        trapezoid grid, step ``noise / 2``     0.289234
    ``two_spirals``      trapezoid grid, step ``noise / 2``     2.645450
    ===================  =====================================  ===============

    The numerical values are deterministic (no sampling): quadratures of
    :math:`-p\log p` with the exact log-density. Refining the grids (step ``noise / 2``
    to ``noise / 4``; 1/4 to 1/8 for the mixtures) changes them by less than 2e-7 nats
    (moons: noise 0.01 to 2; spirals: 0.05 to 0.3). At the defaults, Monte Carlo means
    of :math:`-\log p` over 2 to 4 million samples agree within one standard error
    (5e-4), and the tests repeat that check with 1e4 to 2e4 samples. Either way, far
    inside the :math:`\pm 0.002` nats a benchmark needs. Each grid is also checked to
    integrate the density to 1 within 1e-8, else a ``RuntimeError`` is raised. Results
    are cached per ``(name, params)``; a first call takes about a second at the
    defaults, more for small noise. The pinwheel has no exact density here (see
    :func:`pinwheel`), so no entropy either.

    Args:
        name: One of ``"boomerang"``, ``"checkerboard"``, ``"eight_gaussians"``,
            ``"two_blobs"``, ``"two_moons"``, ``"two_spirals"``.
        **params: The distribution's parameters, as for its generator
            (``noise`` for the moons and spirals, ``radius`` and ``std`` for the eight
            Gaussians); missing ones take the generator's defaults.

    Returns:
        The entropy in nats.

    Raises:
        TypeError: If a parameter is unknown or not a number.
        ValueError: If ``name`` is unknown or is ``"pinwheel"``, a parameter is not
            positive, or the noise is too small for the quadrature (``two_moons``: below
            0.01; ``two_spirals``: below 0.05).

    Example:
        >>> round(true_entropy("checkerboard"), 6), round(true_entropy("boomerang"), 6)
        (2.079442, 4.14621)
        >>> round(true_entropy("two_moons", noise=0.05), 6)
        0.289234
    """
    name = check_choice("name", name, _TOY_NAMES)
    checked = _toy_params(name, params)
    if _TOYS[name].entropy is None:
        raise ValueError(
            f"name {name!r} has no exact density in course_lib.datasets, hence no true "
            "entropy; see the docstring of pinwheel for why."
        )
    return _cached_entropy(name, tuple(sorted(checked.items())))


class ToyDistribution(Distribution):
    r"""A two-dimensional toy distribution as a ``torch.distributions.Distribution``.

    ``ToyDistribution(name, **params)`` samples exactly as the generator ``name`` of
    this module does and scores points with the exact log-density, so a flow can be
    compared with the truth: ``target.log_prob(x) - flow.log_prob(x)`` on
    ``x = target.sample((n,))`` averages to :math:`\mathrm{KL}(p\,\|\,q)`, and
    :meth:`entropy` is :func:`true_entropy`.

    Log-densities, in float64 internally:

    * ``two_moons``: :math:`\tfrac12\sum_{m} \frac1\pi\int_0^\pi \mathcal N(x;
      c_m(t), \sigma^2 I)\,dt` with :math:`c_m` the two arcs; the integral over each arc
      is reduced analytically to :math:`\int e^{-2\kappa\sin^2((\theta-\varphi)/2)}
      d\theta` and done by Gauss-Legendre quadrature on the part of the arc where the
      integrand matters, so it stays accurate far from the moons and for small noise
      (relative error below 1e-11 against ``scipy.integrate.quad``).
    * ``two_spirals``: composite Gauss-Legendre over the spiral parameter of the
      jitter-square-times-Gaussian kernel (error below 1e-10 where the log-density
      exceeds -20, below 1e-7 down to -1000).
    * ``two_blobs``, ``eight_gaussians``: log-sum-exp over the components.
    * ``boomerang``: :math:`\log\mathcal N(x_2; 0.5, 3.7^2) + \log\mathcal N(x_1;
      0.25 x_2^2, 1)`.
    * ``checkerboard``: :math:`-\log 8` on the dark squares, :math:`-\infty` elsewhere.
    * ``pinwheel``: none; :meth:`log_prob` and :meth:`entropy` raise
      ``NotImplementedError``.

    ``log_prob`` is differentiable in its input (autograd runs through the quadratures).
    ``sample`` takes no generator, as in ``torch.distributions``; it draws a seed from
    torch's global generator, so ``torch.manual_seed`` (or ``seed_everything``) makes
    it repeat. For a seeded draw without touching global state, call the generator
    function itself.

    Args:
        name: One of ``"boomerang"``, ``"checkerboard"``, ``"eight_gaussians"``,
            ``"pinwheel"``, ``"two_blobs"``, ``"two_moons"``, ``"two_spirals"``.
        dtype: Floating-point dtype of samples and of :meth:`entropy`; ``log_prob``
            returns the dtype of its input.
        validate_args: As for any ``torch.distributions.Distribution``.
        **params: The distribution's parameters, as for its generator; missing ones take
            the generator's defaults.

    Raises:
        TypeError: If a parameter is unknown or not a number, or ``dtype`` is not a
            floating-point dtype.
        ValueError: If ``name`` is unknown or a parameter is not positive.

    Example:
        >>> target = ToyDistribution("two_moons", noise=0.1)
        >>> target
        ToyDistribution('two_moons', noise=0.1)
        >>> x = target.sample((4, 250))
        >>> tuple(x.shape), tuple(target.log_prob(x).shape)
        ((4, 250, 2), (4, 250))
        >>> checkerboard_ = ToyDistribution("checkerboard")
        >>> log_p = checkerboard_.log_prob(torch.tensor([[0.5, 0.5], [0.5, -0.5]]))
        >>> [round(v, 4) for v in log_p.tolist()]  # log(1/8) on a dark square, else -inf
        [-2.0794, -inf]
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = False

    def __init__(
        self,
        name: str,
        *,
        dtype: torch.dtype = torch.float32,
        validate_args: bool | None = None,
        **params: float,
    ) -> None:
        self.name = check_choice("name", name, _TOY_NAMES)
        self.params = _toy_params(self.name, params)
        _check_float_dtype(dtype)
        self.dtype = dtype
        super().__init__(torch.Size(), torch.Size([2]), validate_args=validate_args)

    def __repr__(self) -> str:
        params = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"{type(self).__name__}({self.name!r}{params})"

    def sample(self, sample_shape: torch.Size | Sequence[int] = torch.Size()) -> Tensor:
        """Draws points, shape ``(*sample_shape, 2)``, seeded from torch's global generator."""
        shape = torch.Size(sample_shape)
        if shape.numel() == 0:
            return torch.empty(*shape, 2, dtype=self.dtype)
        x, _ = _TOYS[self.name].sample(shape.numel(), check_seed(None), **self.params)
        return x.to(self.dtype).reshape(*shape, 2)

    def log_prob(self, value: Tensor) -> Tensor:
        """Exact log-density of points ``value``, shape ``(*, 2)``; returns shape ``(*)``."""
        log_prob = _TOYS[self.name].log_prob
        if log_prob is None:
            raise NotImplementedError(
                f"ToyDistribution({self.name!r}) has no exact log_prob; see the docstring "
                f"of {self.name} for why."
            )
        check_tensor("value", value, floating=True, finite=True)
        if value.ndim == 0 or value.shape[-1] != 2:
            raise ValueError(
                f"value must have shape (*, 2), one point per row; got a tensor of shape "
                f"{tuple(value.shape)}. Pass points as rows, e.g. value.reshape(-1, 2)."
            )
        if self._validate_args:
            self._validate_sample(value)
        flat = value.reshape(-1, 2).to(torch.float64)
        return log_prob(flat, **self.params).to(value.dtype).reshape(value.shape[:-1])

    def entropy(self) -> Tensor:
        """The exact differential entropy (a scalar); see :func:`true_entropy`."""
        if _TOYS[self.name].entropy is None:
            raise NotImplementedError(
                f"ToyDistribution({self.name!r}) has no exact density, hence no entropy."
            )
        return torch.tensor(true_entropy(self.name, **self.params), dtype=self.dtype)


_IRIS_FEATURES = ("sepal length", "sepal width", "petal length", "petal width")


def _iris_columns(features: object) -> list[int]:
    """Column indices of ``features``: names (any case, ``_`` or ``' (cm)'`` allowed) or ints."""
    if isinstance(features, str | numbers.Integral):
        features = (features,)
    if not isinstance(features, Sequence):
        raise TypeError(
            f"features must be a sequence of feature names or indices; got "
            f"{describe(features)}. Pass e.g. features=('petal length', 'petal width')."
        )
    columns = []
    for feature in features:
        if isinstance(feature, bool) or not isinstance(feature, str | numbers.Integral):
            raise TypeError(
                f"features must hold names or integer indices; got {describe(feature)}."
            )
        if isinstance(feature, str):
            key = feature.strip().lower().replace("_", " ").removesuffix("(cm)").strip()
            if key not in _IRIS_FEATURES:
                raise ValueError(
                    f"features: unknown iris feature {feature!r}; the features are "
                    f"{', '.join(repr(f) for f in _IRIS_FEATURES)} (or indices 0 to 3)."
                )
            columns.append(_IRIS_FEATURES.index(key))
        else:
            if not 0 <= feature < len(_IRIS_FEATURES):
                raise ValueError(
                    f"features: index {feature} is out of range; iris has 4 features, "
                    "indices 0 to 3."
                )
            columns.append(int(feature))
    if not columns:
        raise ValueError("features must name at least one feature; got an empty sequence.")
    if len(set(columns)) < len(columns):
        raise ValueError(
            f"features must not repeat a feature; got {list(features)!r}, which names "
            f"{[_IRIS_FEATURES[c] for c in columns]}."
        )
    return columns


def iris(
    *,
    features: Sequence[str | int] | str | int = ("petal length", "petal width"),
    standardize: bool = False,
    dtype: torch.dtype = torch.float32,
) -> tuple[Tensor, Tensor]:
    """Loads Fisher's iris data from the copy bundled with scikit-learn (no download).

    150 flowers, 50 of each species, measured in centimetres: sepal length, sepal
    width, petal length and petal width (indices 0 to 3). The default is the two petal
    measurements: the classic two-dimensional view, in which setosa stands apart and
    versicolor and virginica barely overlap, so both a density and a classifier have
    something to show.

    Args:
        features: Features to keep, in order: names such as ``"petal length"``
            (case and a trailing ``" (cm)"`` are ignored, ``_`` may replace spaces),
            indices 0 to 3, or a mix; a single name or index keeps one.
        standardize: Whether to centre each kept feature and divide it by its standard
            deviation (over the 150 flowers, population formula).
        dtype: Floating-point dtype of ``x``.

    Returns:
        ``(x, labels)``: ``x`` of shape ``(150, k)`` for ``k`` features, and int64
        ``labels`` of shape ``(150,)``: 0 setosa, 1 versicolor, 2 virginica.

    Raises:
        TypeError: If ``features`` holds something other than names and integers, or
            ``dtype`` is not a floating-point dtype.
        ValueError: If a feature is unknown or repeated, or ``features`` is empty.

    References:
        Fisher (1936), The use of multiple measurements in taxonomic problems.

    Example:
        >>> x, labels = iris()
        >>> tuple(x.shape), labels.bincount().tolist()
        ((150, 2), [50, 50, 50])
        >>> x, _ = iris(features=[0, "petal width"], standardize=True, dtype=torch.float64)
        >>> x.mean(0).abs().max().item() < 1e-12
        True
        >>> x.std(0, unbiased=False).round(decimals=6).tolist()
        [1.0, 1.0]
    """
    columns = _iris_columns(features)
    if not isinstance(standardize, bool):
        raise TypeError(f"standardize must be True or False; got {describe(standardize)}.")
    _check_float_dtype(dtype)
    from sklearn.datasets import load_iris  # imported here: scikit-learn is slow to load

    bunch = load_iris()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)[:, columns]
    if standardize:
        x = (x - x.mean(0)) / x.std(0, unbiased=False)
    return x.to(dtype), torch.as_tensor(bunch.target, dtype=torch.int64)
