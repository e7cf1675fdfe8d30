"""Flows from peer libraries (nflows, Pyro, zuko, normflows), built for the toy benchmark.

Every builder returns an ``nn.Module`` with ``log_prob(x)`` for points ``x`` of shape
``(batch, 2)`` in the data's units. As ``course_lib``'s flows end in
``standardizing_affine(train)``, each peer flow sees the training data standardised
(feature means 0, standard deviations 1) through :class:`Standardized`, which adds the
same log-determinant: the models differ only in their learnable part.

nflows and zuko flows map data to noise; their ``log_prob`` of data points is what the
benchmark needs, so no direction is flipped here. Pyro and course_lib go noise to data.
Only public classes of each library are used. A peer that is not installed raises
``ModuleNotFoundError`` when built, and the runner records the case as skipped.

zuko changes torch at import time (``Distribution._validate_args = False`` for every
distribution). The runner therefore orders zuko's cases last, so that the other
libraries run under torch's defaults.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = [
    "Standardized",
    "nflows_maf",
    "normflows_realnvp",
    "parameter_count",
    "pyro_spline_coupling",
    "zuko_maf",
    "zuko_nsf",
]


class Standardized(nn.Module):
    r"""A density on standardised points, scored in the data's units.

    .. math:: \log q(x) = \log q_0\big((x - m) / s\big) - \sum_i \log s_i,

    with :math:`m` and :math:`s` the feature means and standard deviations of the
    training data, frozen; exactly what a flow ending in ``standardizing_affine`` does.

    Args:
        inner: The module holding the peer flow's parameters.
        log_prob: Scores standardised points with ``inner``: ``(inner, z) -> (batch,)``.
        train: Training points, shape ``(batch, features)``.
    """

    def __init__(self, inner: nn.Module, log_prob, train: Tensor):
        super().__init__()
        self.inner = inner
        self._log_prob = log_prob
        self.register_buffer("mean", train.mean(dim=0))
        self.register_buffer("std", train.std(dim=0))

    def log_prob(self, x: Tensor) -> Tensor:
        z = (x - self.mean) / self.std
        return self._log_prob(self.inner, z) - self.std.log().sum()


def nflows_maf(train: Tensor, *, layers: int, hidden_features: int) -> Standardized:
    """nflows' masked affine autoregressive flow: MADE layers with reversals between them.

    Each MADE has two masked hidden layers of ``hidden_features`` (no residual blocks), the
    size of course_lib's coupling networks.
    """
    from nflows.distributions import StandardNormal
    from nflows.flows import Flow
    from nflows.transforms import (
        CompositeTransform,
        MaskedAffineAutoregressiveTransform,
        ReversePermutation,
    )

    features = train.shape[1]
    transforms = []
    for _ in range(layers):
        transforms += [
            MaskedAffineAutoregressiveTransform(
                features, hidden_features, num_blocks=2, use_residual_blocks=False
            ),
            ReversePermutation(features),
        ]
    flow = Flow(CompositeTransform(transforms), StandardNormal([features]))
    return Standardized(flow, lambda flow, z: flow.log_prob(z), train)


def pyro_spline_coupling(
    train: Tensor, *, layers: int, hidden_features: int, bins: int
) -> Standardized:
    """Pyro's rational-quadratic spline coupling (Durkan et al., 2019), swaps between layers.

    Pyro's default bound (splines on ``[-3, 3]``, identity outside) suits standardised data.
    """
    import pyro.distributions as dist
    from pyro.distributions.transforms import Permute, spline_coupling

    features = train.shape[1]
    swap = torch.arange(features - 1, -1, -1)
    transforms = []
    for k in range(layers):
        if k > 0:
            transforms.append(Permute(swap))
        transforms.append(
            spline_coupling(features, hidden_dims=[hidden_features] * 2, count_bins=bins)
        )
    modules = nn.ModuleList(t for t in transforms if isinstance(t, nn.Module))
    base = dist.Normal(torch.zeros(features), torch.ones(features)).to_event(1)

    def log_prob(modules: nn.ModuleList, z: Tensor) -> Tensor:
        return dist.TransformedDistribution(base, transforms).log_prob(z)

    return Standardized(modules, log_prob, train)


def zuko_maf(train: Tensor, *, layers: int, hidden_features: int) -> Standardized:
    """zuko's masked autoregressive flow (affine), order reversed between layers."""
    import zuko

    flow = zuko.flows.MAF(
        train.shape[1], transforms=layers, hidden_features=(hidden_features,) * 2
    )
    return Standardized(flow, lambda flow, z: flow().log_prob(z), train)


def zuko_nsf(train: Tensor, *, layers: int, hidden_features: int, bins: int) -> Standardized:
    """zuko's neural spline flow: autoregressive monotonic rational-quadratic splines."""
    import zuko

    flow = zuko.flows.NSF(
        train.shape[1], bins=bins, transforms=layers, hidden_features=(hidden_features,) * 2
    )
    return Standardized(flow, lambda flow, z: flow().log_prob(z), train)


def normflows_realnvp(train: Tensor, *, layers: int, hidden_features: int) -> Standardized:
    """normflows' RealNVP: affine coupling blocks (zero-initialised MLPs) and swaps.

    This is the construction of normflows' own two-dimensional RealNVP example.
    """
    import normflows

    features = train.shape[1]
    half = features // 2
    flows = []
    for _ in range(layers):
        network = normflows.nets.MLP(
            [half, hidden_features, hidden_features, 2 * (features - half)], init_zeros=True
        )
        flows += [
            normflows.flows.AffineCouplingBlock(network),
            normflows.flows.Permute(features, "swap"),
        ]
    base = normflows.distributions.DiagGaussian(features, trainable=False)
    model = normflows.NormalizingFlow(base, flows)
    return Standardized(model, lambda model, z: model.log_prob(z), train)


def parameter_count(model: nn.Module) -> int:
    """Number of trainable scalars."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
