"""Samplers, exact log-densities and entropies of the two-dimensional toy distributions.

Private to :mod:`course_lib.datasets`: the public generators and ``ToyDistribution``
validate their arguments and call these.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import torch
from torch import Tensor

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
