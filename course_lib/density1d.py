"""One-dimensional densities built from a positive network, with and without normalisation."""

import torch
from torch import Tensor, nn

from course_lib._validation import check_positive_int, check_seed, check_tensor, seeded_init

__all__ = ["GridNormalizedDensity", "PositiveNetwork", "grid_integral"]


def _as_column(name: str, x: Tensor) -> Tensor:
    x = check_tensor(name, x, floating=True)
    if x.ndim == 2 and x.shape[1] == 1:
        return x
    if x.ndim == 1:
        return x[:, None]
    raise ValueError(
        f"{name} must have shape (batch,) or (batch, 1); got {tuple(x.shape)}. "
        "This model is one-dimensional."
    )


class PositiveNetwork(nn.Module):
    r"""A positive function of one variable, :math:`g(x) = \mathrm{softplus}(\mathrm{MLP}(x))`.

    It is *not* a density: nothing makes it integrate to one. Chapter
    :ref:`chap-mle` shows what maximum likelihood does with it.

    Args:
        hidden_features: Width of the two hidden layers.
        seed: Seed or generator for the initial weights.

    Example:
        >>> g = PositiveNetwork(hidden_features=8, seed=0)
        >>> values = g(torch.linspace(-1.0, 1.0, 5))
        >>> tuple(values.shape), bool((values > 0).all())
        ((5,), True)
    """

    def __init__(self, hidden_features: int = 32, *, seed: int | torch.Generator | None = None):
        super().__init__()
        check_positive_int("hidden_features", hidden_features)
        with seeded_init(seed):
            self.net = nn.Sequential(
                nn.Linear(1, hidden_features),
                nn.Tanh(),
                nn.Linear(hidden_features, hidden_features),
                nn.Tanh(),
                nn.Linear(hidden_features, 1),
            )

    def forward(self, x: Tensor) -> Tensor:
        """Values :math:`g(x) > 0`, shape ``(batch,)``; ``x`` has shape ``(batch,)`` or ``(batch, 1)``."""
        return nn.functional.softplus(self.net(_as_column("x", x)))[:, 0]


def grid_integral(function, low: float, high: float, points: int = 2001) -> Tensor:
    r"""Trapezoidal estimate of :math:`\int_{low}^{high} f(x)\,dx`, differentiable in ``f``.

    Args:
        function: Maps points of shape ``(points,)`` to values of shape ``(points,)``.
        low: Lower end of the interval.
        high: Upper end, greater than ``low``.
        points: Number of grid points (at least 2).

    Returns:
        A scalar tensor.

    Example:
        >>> round(float(grid_integral(torch.exp, 0.0, 1.0)), 6)  # e - 1
        1.718282
    """
    if not high > low:
        raise ValueError(f"high must be greater than low; got low={low}, high={high}")
    if not isinstance(points, int) or points < 2:
        raise ValueError(f"points must be an integer >= 2; got {points!r}")
    parameters = list(function.parameters()) if isinstance(function, nn.Module) else []
    like = parameters[0] if parameters else torch.empty(0)
    grid = torch.linspace(low, high, points, dtype=like.dtype, device=like.device)
    return torch.trapezoid(function(grid), grid)


class GridNormalizedDensity(nn.Module):
    r"""A density on :math:`[low, high]`: a positive network divided by its integral.

    .. math:: p(x) = \frac{g(x)}{\int_{low}^{high} g(t)\,dt}, \qquad low \le x \le high,

    with the integral computed by :func:`grid_integral`. This integrates to one for every
    value of the parameters, so maximum likelihood is well posed; the grid makes it feasible
    in one dimension only.

    Args:
        network: The positive function :math:`g`, e.g. :class:`PositiveNetwork`.
        low: Lower end of the support.
        high: Upper end of the support.
        points: Grid points for the integral.

    Example:
        >>> density = GridNormalizedDensity(PositiveNetwork(seed=0), low=-3.0, high=3.0)
        >>> with torch.no_grad():
        ...     total = grid_integral(lambda t: density.log_prob(t).exp(), -3.0, 3.0)
        >>> round(float(total), 4)
        1.0
    """

    def __init__(self, network: nn.Module, low: float, high: float, points: int = 2001):
        super().__init__()
        if not high > low:
            raise ValueError(f"high must be greater than low; got low={low}, high={high}")
        check_positive_int("points", points)
        self.network = network
        self.low, self.high, self.points = float(low), float(high), points

    def log_prob(self, x: Tensor) -> Tensor:
        """Log-density at ``x`` of shape ``(batch,)`` or ``(batch, 1)``; returns ``(batch,)``.

        Raises:
            ValueError: if a point lies outside ``[low, high]``, where the density is zero.
        """
        column = _as_column("x", x)
        outside = (column < self.low) | (column > self.high)
        if outside.any():
            index = int(outside.nonzero()[0, 0])
            raise ValueError(
                f"x must lie in [{self.low}, {self.high}], the support of this density; "
                f"x[{index}] = {float(column[index, 0]):.4g}. Widen low/high."
            )
        log_norm = grid_integral(self.network, self.low, self.high, self.points).log()
        return self.network(column).log() - log_norm
