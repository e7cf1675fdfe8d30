r"""Pushforward generators: a network that maps noise to data, fitted by a sample divergence.

A generator :math:`G_\theta` defines a distribution only implicitly, as the law of
:math:`x = G_\theta(z)` with :math:`z \sim \mathcal N(0, I)`. Nothing constrains
:math:`G_\theta` to be invertible or to have a tractable Jacobian, so there is no density
and no likelihood to maximize; instead :func:`fit_pushforward` minimizes a divergence that
needs only samples of both sides, by default the Sinkhorn divergence of geomloss
(``SamplesLoss("sinkhorn", p=2, blur=...)``; :mod:`course_lib.transport.sinkhorn` explains
its convention), or the energy distance or a Gaussian-kernel MMD.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from course_lib._validation import (
    check_choice,
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    seeded_init,
)
from course_lib.flows.coupling import mlp
from course_lib.training import History, fit
from course_lib.transport._checks import check_blur, check_cloud, check_pair

__all__ = ["DIVERGENCES", "PushforwardGenerator", "fit_pushforward", "sample_divergence"]

#: The sample divergences of geomloss that :func:`sample_divergence` builds.
DIVERGENCES = ("sinkhorn", "energy", "gaussian")


class PushforwardGenerator(nn.Module):
    r"""A ReLU network :math:`G_\theta` pushing standard normal noise onto the data space.

    Samples are :math:`x = G_\theta(z)`, :math:`z \sim \mathcal N(0, I_{\text{base}})`: the
    model can be sampled and differentiated, but has no density.

    Args:
        features: Dimension of the data.
        base_features: Dimension of the noise; ``features`` when ``None``.
        hidden_features: Width of the hidden layers.
        hidden_layers: Number of hidden layers.
        seed: Seed of the weights' initialization; see ``check_seed``.

    Example:
        >>> generator = PushforwardGenerator(2, hidden_features=16, seed=0)
        >>> tuple(generator.sample(5, generator=torch.Generator().manual_seed(0)).shape)
        (5, 2)
    """

    def __init__(
        self,
        features: int,
        *,
        base_features: int | None = None,
        hidden_features: int = 32,
        hidden_layers: int = 2,
        seed: int | torch.Generator | None = None,
    ):
        super().__init__()
        self.features = check_positive_int("features", features)
        self.base_features = check_positive_int(
            "base_features", features if base_features is None else base_features
        )
        with seeded_init(seed):
            self.net = mlp(
                self.base_features,
                self.features,
                hidden_features=hidden_features,
                hidden_layers=hidden_layers,
            )
            # mlp starts its last layer at zero (a coupling's identity); a generator that
            # sent every z to 0 would start from a point mass, so it gets the usual init.
            self.net[-1].reset_parameters()

    def forward(self, z: Tensor) -> Tensor:
        """Maps noise of shape ``(batch, base_features)`` to points ``(batch, features)``."""
        check_tensor("z", z, shape=(None, self.base_features), floating=True)
        return self.net(z)

    def rsample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points, differentiable in the weights, shape ``(n, features)``.

        The noise is drawn on the CPU (from ``generator``, else torch's global generator)
        and moved to the weights' device and dtype, so every device sees the same noise.
        """
        n = check_positive_int("n", n)
        if generator is not None:
            generator = check_seed(generator)
        weight = self.net[0].weight
        z = torch.randn(n, self.base_features, generator=generator, dtype=torch.float64)
        return self(z.to(device=weight.device, dtype=weight.dtype))

    def sample(self, n: int, *, generator: torch.Generator | None = None) -> Tensor:
        """``n`` points without gradient tracking, shape ``(n, features)``."""
        with torch.no_grad():
            return self.rsample(n, generator=generator)

    def extra_repr(self) -> str:
        return f"features={self.features}, base_features={self.base_features}"


def sample_divergence(
    kind: str = "sinkhorn", *, blur: float = 0.05, scaling: float = 0.5
) -> Callable[[Tensor, Tensor], Tensor]:
    r"""A geomloss divergence between two point clouds, as a function ``(x, y) -> scalar``.

    * ``"sinkhorn"``: the debiased Sinkhorn divergence with cost :math:`\tfrac12\|x-y\|^2`
      and :math:`\varepsilon = \text{blur}^2`, annealed with ``scaling``;
    * ``"energy"``: the energy distance, an MMD with kernel :math:`-\|x-y\|` (no blur);
    * ``"gaussian"``: an MMD with the kernel :math:`e^{-\|x-y\|^2 / 2\,\text{blur}^2}`.

    The cost matrices are held in memory (geomloss' ``tensorized`` backend), so clouds of a
    few thousand points at most.

    Args:
        kind: One of :data:`DIVERGENCES`.
        blur: Length scale, > 0 (data units).
        scaling: geomloss' epsilon-scaling ratio, in (0, 1); near 1 is slower and closer to
            convergence (Sinkhorn only).

    Returns:
        The divergence, called with clouds of shape ``(n, features)`` and ``(m, features)``.

    Example:
        >>> loss = sample_divergence("energy")
        >>> x = torch.zeros(3, 1)
        >>> float(loss(x, x))
        0.0
    """
    from geomloss import SamplesLoss  # imported on demand: a large import

    kind = check_choice("kind", kind, DIVERGENCES)
    blur = check_blur(blur)
    scaling = check_positive_float("scaling", scaling)
    if scaling >= 1:
        raise ValueError(f"scaling must lie in (0, 1); got {scaling}.")
    if kind == "sinkhorn":
        loss = SamplesLoss("sinkhorn", p=2, blur=blur, scaling=scaling, backend="tensorized")
    elif kind == "energy":
        loss = SamplesLoss("energy", backend="tensorized")
    else:
        loss = SamplesLoss("gaussian", blur=blur, backend="tensorized")

    def divergence(x: Tensor, y: Tensor) -> Tensor:
        check_pair(x, y)
        return loss(x, y)

    divergence.__doc__ = f"geomloss' {kind} divergence (blur {blur}) between clouds x and y."
    return divergence


def fit_pushforward(
    generator: PushforwardGenerator,
    data: Tensor,
    *,
    loss: str | Callable[[Tensor, Tensor], Tensor] = "sinkhorn",
    blur: float = 0.05,
    scaling: float = 0.5,
    steps: int = 500,
    batch_size: int = 512,
    lr: float = 1e-3,
    seed: int | torch.Generator | None = 0,
    device: str | torch.device | None = None,
    progress: bool = True,
) -> History:
    r"""Fits a generator to data by minimizing a sample divergence, with Adam.

    Each step compares a mini-batch of ``data`` with as many fresh generated points
    :math:`G_\theta(z)`; the gradient reaches :math:`\theta` through the generated points
    only. The loop is :func:`course_lib.training.fit` (seeding, progress bar, history).

    Args:
        generator: The model, e.g. :class:`PushforwardGenerator`.
        data: Target sample, shape ``(points, features)``.
        loss: A name of :data:`DIVERGENCES` (built by :func:`sample_divergence` with
            ``blur`` and ``scaling``), or a function ``(x_generated, y_data) -> scalar`` such
            as ``functools.partial(sinkhorn_divergence, blur=0.1)``.
        blur: Length scale of the named divergences.
        scaling: Epsilon-scaling ratio of the Sinkhorn divergence.
        steps: Number of optimizer steps.
        batch_size: Data points (and generated points) per step.
        lr: Learning rate of Adam.
        seed: Seed of the batches and the noise; see :func:`course_lib.training.fit`.
        device: Where to compute; the data's device when ``None``.
        progress: Whether to show a progress bar (``False`` in graded cells).

    Returns:
        The :class:`~course_lib.training.History`; ``train_loss`` holds the divergence at
        each step.

    Example:
        >>> target = torch.randn(256, 1, generator=torch.Generator().manual_seed(0)) + 3.0
        >>> model = PushforwardGenerator(1, hidden_features=8, seed=0)
        >>> history = fit_pushforward(model, target, loss="energy", steps=200, batch_size=128,
        ...                           lr=1e-2, progress=False)
        >>> history.train_loss[-1] < history.train_loss[0]
        True
    """
    if not isinstance(generator, nn.Module) or not callable(getattr(generator, "rsample", None)):
        raise TypeError(
            "generator must be an nn.Module with an rsample(n) method, such as "
            f"PushforwardGenerator; got {describe(generator)}."
        )
    check_cloud("data", data)
    features = getattr(generator, "features", data.shape[1])
    if data.shape[1] != features:
        raise ValueError(
            f"data must have {features} feature(s) per row, as the generator makes; got shape "
            f"({data.shape[0]}, {data.shape[1]})."
        )
    parameter = next(generator.parameters(), None)
    if parameter is not None and parameter.dtype != data.dtype:
        raise TypeError(
            f"data must have the dtype of the generator's weights ({parameter.dtype}); got "
            f"{data.dtype}. Convert one, e.g. data.to({parameter.dtype}) or "
            f"generator.to({data.dtype})."
        )
    if isinstance(loss, str):
        divergence = sample_divergence(loss, blur=blur, scaling=scaling)
    elif callable(loss):
        divergence = loss
    else:
        raise TypeError(
            f"loss must be one of {', '.join(map(repr, DIVERGENCES))} or a function "
            f"(x, y) -> scalar tensor; got {describe(loss)}."
        )
    batch_size = check_positive_int("batch_size", batch_size)

    def objective(model: nn.Module, batch: Tensor) -> Tensor:
        return divergence(model.rsample(batch.shape[0]), batch)

    return fit(
        generator,
        objective,
        data,
        steps=steps,
        batch_size=min(batch_size, data.shape[0]),
        lr=lr,
        seed=seed,
        device=device,
        progress=progress,
    )
