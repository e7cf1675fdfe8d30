r"""``TransformationModel``: the interface every distributional regression model here shares.

A transformation model describes the conditional distribution of a scalar response
:math:`Y` given features :math:`x` by a transformation :math:`h(y \mid x)`, strictly
increasing in :math:`y`, with :math:`h(Y \mid x) \sim F_Z` for a fixed base distribution
(:mod:`course_lib.drift.bases`). Hence

.. math:: P(Y \le y \mid x) = F_Z\big(h(y \mid x)\big), \qquad
          \log p(y \mid x) = \log f_Z\big(h(y \mid x)\big) + \log h'(y \mid x),

with :math:`h'` the derivative in :math:`y` (the change of variables; leaving it out, as
an earlier port of DRIFT did, scores a model that is not a density).

**Scaling.** The networks work on standardized values: ``u = (y - y_loc) / y_scale`` and
``(x - x_loc) / x_scale``, with the buffers set from training data by
:meth:`TransformationModel.fit_scaling` (identity until then). Every public method takes
and returns raw values; ``log_prob`` includes the Jacobian ``-log(y_scale)`` of the
scaling, so log-scores are on the raw scale of ``y``.

Subclasses implement two methods on standardized values: ``_context(x)``, whatever of
:math:`x` does not depend on :math:`y` (computed once when :math:`h` is evaluated many
times, as in bisection), and ``_transform(u, context) -> (h, dh/du)``.
"""

from __future__ import annotations

import abc

import torch
from torch import Tensor, nn

from course_lib._validation import (
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    format_shape,
)
from course_lib.drift.bases import base_distribution

__all__ = ["TransformationModel"]

# Bisection: bracket expansion doublings and halvings (2**-60 of the bracket is below
# float64 resolution for any bracket found).
_EXPANSIONS = 60
_HALVINGS = 64


class TransformationModel(nn.Module, abc.ABC):
    """A conditional distribution :math:`p(y \\mid x)` by an increasing transformation.

    Args:
        features: Number of features of ``x``.
        base: The base distribution, one of :data:`course_lib.drift.BASES`.

    Attributes:
        features: As above.
        base: The :class:`~course_lib.drift.bases.BaseDistribution`.
        x_loc, x_scale: Buffers, shape ``(features,)``: the feature standardization.
        y_loc, y_scale: Buffers, shape ``()``: the response standardization.
        training_record: What :func:`course_lib.drift.fit_regression` did (optimizer,
            batch size, epochs, best epoch), or ``None`` before training.
    """

    def __init__(self, features: int, *, base: str = "normal"):
        super().__init__()
        self.features = check_positive_int("features", features)
        self.base = base_distribution(base)
        self.register_buffer("x_loc", torch.zeros(features))
        self.register_buffer("x_scale", torch.ones(features))
        self.register_buffer("y_loc", torch.tensor(0.0))
        self.register_buffer("y_scale", torch.tensor(1.0))
        self.training_record: dict | None = None

    # What subclasses provide.

    @abc.abstractmethod
    def _context(self, x: Tensor) -> object:
        """What :meth:`_transform` needs of standardized ``x``, shape ``(n, features)``."""

    @abc.abstractmethod
    def _transform(self, u: Tensor, context: object) -> tuple[Tensor, Tensor]:
        """``(h, dh/du)`` at standardized ``u``, shape ``(n,)``, both of shape ``(n,)``."""

    @abc.abstractmethod
    def _components(self) -> list[tuple[str, str, list[nn.Parameter]]]:
        """``(name, description, parameters)`` of each part, for :meth:`summary`."""

    # Checks and scaling.

    def _reference(self) -> Tensor:
        return self.y_scale

    def _check_x(self, x: object, rows: int | None = None) -> Tensor:
        ref = self._reference()
        check_tensor(
            "x",
            x,
            shape=(None, self.features),
            hint=f"Pass one row of {self.features} features per observation.",
        )
        if not x.is_floating_point() or x.dtype != ref.dtype:
            raise TypeError(
                f"x must have the model's dtype ({ref.dtype}); got {x.dtype}. "
                f"Convert it, e.g. x.to({ref.dtype})."
            )
        if x.device != ref.device:
            raise ValueError(f"x must be on the model's device ({ref.device}); got {x.device}.")
        if rows is not None and x.shape[0] != rows:
            raise ValueError(
                f"x must have one row per value of y ({rows}); got shape {format_shape(x.shape)}."
            )
        return x

    def _check_y(self, name: str, y: object) -> Tensor:
        ref = self._reference()
        check_tensor(name, y, ndim=1, hint=f"Pass a 1-D tensor, one {name} per row of x.")
        if not y.is_floating_point() or y.dtype != ref.dtype:
            raise TypeError(
                f"{name} must have the model's dtype ({ref.dtype}); got {y.dtype}. "
                f"Convert it, e.g. {name}.to({ref.dtype})."
            )
        if y.device != ref.device:
            raise ValueError(
                f"{name} must be on the model's device ({ref.device}); got {y.device}."
            )
        return y

    def _check(self, y: object, x: object, name: str = "y") -> tuple[Tensor, Tensor]:
        y = self._check_y(name, y)
        return y, self._check_x(x, rows=y.shape[0])

    def fit_scaling(self, y: Tensor, x: Tensor) -> TransformationModel:
        """Sets the standardization of ``y`` and ``x`` from training data.

        Features with zero spread keep scale 1. Call it on training data only (in
        cross-validation, on each training fold).

        Args:
            y: Responses, shape ``(n,)``, at least two distinct values.
            x: Features, shape ``(n, features)``.

        Returns:
            The model itself.
        """
        y, x = self._check(y, x)
        if y.shape[0] < 2 or float(y.std()) == 0:
            raise ValueError("y must hold at least two distinct values to set its scale.")
        with torch.no_grad():
            self.y_loc.copy_(y.mean())
            self.y_scale.copy_(y.std())
            spread = x.std(dim=0) if x.shape[0] > 1 else torch.ones_like(self.x_scale)
            self.x_loc.copy_(x.mean(dim=0))
            self.x_scale.copy_(torch.where(spread > 0, spread, torch.ones_like(spread)))
        return self

    def _standardize(self, y: Tensor | None, x: Tensor) -> tuple[Tensor | None, Tensor]:
        u = None if y is None else (y - self.y_loc) / self.y_scale
        return u, (x - self.x_loc) / self.x_scale

    # The public interface, on raw values.

    def transform(self, y: Tensor, x: Tensor) -> Tensor:
        r"""The transformation :math:`h(y \mid x)`, shape ``(n,)``, for ``y`` of shape
        ``(n,)`` and ``x`` of shape ``(n, features)``."""
        return self.transform_and_derivative(y, x)[0]

    def transform_and_derivative(self, y: Tensor, x: Tensor) -> tuple[Tensor, Tensor]:
        r""":math:`h(y \mid x)` and :math:`h'(y \mid x) = \partial h / \partial y` (raw
        scale of ``y``), both of shape ``(n,)``."""
        y, x = self._check(y, x)
        u, xs = self._standardize(y, x)
        h, dh_du = self._transform(u, self._context(xs))
        return h, dh_du / self.y_scale

    def log_prob(self, y: Tensor, x: Tensor) -> Tensor:
        r""":math:`\log p(y \mid x) = \log f_Z(h) + \log h'`, shape ``(n,)``, raw scale of
        ``y`` (the Jacobian of the standardization included).

        Raises:
            TypeError: If ``y`` or ``x`` is not a tensor of the model's dtype.
            ValueError: If ``y`` is not 1-D, ``x`` not ``(n, features)``, or a value is
                not finite.
        """
        y, x = self._check(y, x)
        u, xs = self._standardize(y, x)
        h, dh_du = self._transform(u, self._context(xs))
        return self.base.log_prob(h) + torch.log(dh_du) - torch.log(self.y_scale)

    def nll(self, y: Tensor, x: Tensor) -> Tensor:
        """Mean negative log-likelihood per observation (raw scale), a scalar: the loss."""
        return -self.log_prob(y, x).mean()

    def cdf(self, y: Tensor, x: Tensor) -> Tensor:
        r""":math:`P(Y \le y \mid x) = F_Z(h(y \mid x))`, shape ``(n,)``."""
        return self.base.cdf(self.transform(y, x))

    def _invert(self, z: Tensor, context: object) -> Tensor:
        """Standardized ``u`` with ``h(u) = z`` row by row, by bracketing and bisection."""
        low = torch.full_like(z, -1.0)
        high = torch.full_like(z, 1.0)
        for _ in range(_EXPANSIONS):
            below = self._transform(low, context)[0] > z
            above = self._transform(high, context)[0] < z
            if not (below.any() or above.any()):
                break
            low = torch.where(below, 2 * low, low)
            high = torch.where(above, 2 * high, high)
        else:
            raise RuntimeError("could not bracket h(y | x) = z; is h increasing and unbounded?")
        for _ in range(_HALVINGS):
            middle = 0.5 * (low + high)
            right = self._transform(middle, context)[0] < z
            low = torch.where(right, middle, low)
            high = torch.where(right, high, middle)
        return 0.5 * (low + high)

    @torch.no_grad()
    def quantile(self, p: Tensor | float, x: Tensor) -> Tensor:
        r"""The conditional quantile :math:`y` with :math:`F_Z(h(y \mid x)) = p`.

        Found by bisection on the increasing :math:`h` (to machine precision).

        Args:
            p: Probabilities in (0, 1): a float (the same for every row) or shape ``(n,)``.
            x: Features, shape ``(n, features)``.

        Returns:
            Quantiles on the raw scale, shape ``(n,)``.
        """
        x = self._check_x(x)
        if isinstance(p, bool) or not isinstance(p, float | int | Tensor):
            raise TypeError(f"p must be a float or a tensor of probabilities; got {describe(p)}.")
        ref = self._reference()
        p = torch.as_tensor(p, dtype=ref.dtype, device=ref.device)
        if p.ndim > 1 or (p.ndim == 1 and p.shape[0] != x.shape[0]):
            raise ValueError(
                f"p must be a float or a 1-D tensor with one probability per row of x "
                f"({x.shape[0]}); got shape {format_shape(p.shape)}."
            )
        p = p.expand(x.shape[0]).clone()
        self._check_y("p", p)
        if not ((p > 0) & (p < 1)).all():
            raise ValueError("p must lie strictly between 0 and 1; got a value outside (0, 1).")
        _, xs = self._standardize(None, x)
        u = self._invert(self.base.icdf(p), self._context(xs))
        return self.y_loc + self.y_scale * u

    @torch.no_grad()
    def sample(
        self, x: Tensor, n: int = 1, *, seed: int | torch.Generator | None = None
    ) -> Tensor:
        """``n`` draws of :math:`Y \\mid x` for every row of ``x``, by inverting ``h`` at
        base draws :math:`z \\sim F_Z` (drawn through uniforms on a CPU generator).

        Args:
            x: Features, shape ``(rows, features)``.
            n: Draws per row.
            seed: As for :func:`course_lib._validation.check_seed`.

        Returns:
            Samples, shape ``(n, rows)``.
        """
        x = self._check_x(x)
        n = check_positive_int("n", n)
        ref = self._reference()
        generator = check_seed(seed)
        uniform = torch.rand(n, x.shape[0], generator=generator, dtype=torch.float64)
        # Keep away from 0 and 1, where icdf is infinite.
        tiny = torch.finfo(ref.dtype).tiny
        uniform = uniform.clamp(tiny, 1 - torch.finfo(ref.dtype).eps).to(ref.device, ref.dtype)
        _, xs = self._standardize(None, x)
        rows = xs.repeat(n, 1)
        u = self._invert(self.base.icdf(uniform.reshape(-1)), self._context(rows))
        return (self.y_loc + self.y_scale * u).reshape(n, x.shape[0])

    def summary(self) -> str:
        """Architecture, parameter counts and (once trained) the optimizer, as text."""
        lines = [f"{type(self).__name__}: {self.features} features, base {self.base.name}"]
        total = 0
        for name, text, params in self._components():
            count = sum(p.numel() for p in params)
            total += count
            lines.append(f"  {name}: {text} ({count:,} parameters)")
        lines.append(f"  total: {total:,} trainable parameters")
        record = self.training_record
        if record is None:
            lines.append("  optimizer: not trained yet")
        else:
            lines.append(
                f"  optimizer: {record['optimizer']}(lr={record['lr']:g}), batch "
                f"{record['batch_size']}, at most {record['epochs']} epochs, patience "
                f"{record['patience']}; best epoch {record['best_epoch']} of "
                f"{record['epochs_run']}"
            )
        return "\n".join(lines)

    def extra_repr(self) -> str:
        return f"features={self.features}, base={self.base.name!r}"
