r"""Element-wise transforms: affine (location-scale) and sinh-arcsinh (skewness and tails).

Each acts on every feature separately, so its Jacobian is diagonal and the
log-det is a sum over features. Signs follow the convention of
:mod:`course_lib.flows.base`.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from course_lib._validation import check_tensor
from course_lib.flows._checks import check_parameter, check_points
from course_lib.flows.base import Transform

__all__ = ["Affine", "SinhArcsinh", "affine", "sinh_arcsinh", "standardizing_affine"]


def affine(
    z: Tensor, loc: Tensor, log_scale: Tensor, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    r"""The element-wise affine map :math:`x = \mu + e^{s} \odot z` and its log-det.

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right| = \sum_i s_i .

    Invertible for every finite :math:`s` (the scale :math:`e^{s}` is positive):
    :math:`z = (x - \mu) \odot e^{-s}`.

    Args:
        z: Inputs, shape ``(*batch, features)``; data points ``x`` when ``inverse``.
        loc: Shift :math:`\mu`, broadcastable to ``z``, e.g. shape ``(features,)``.
        log_scale: Log-scale :math:`s`, broadcastable to ``z``.
        inverse: Whether to apply the inverse map.

    Returns:
        ``(outputs, log_det)`` with shapes ``(*batch, features)`` and ``batch``; the
        log-det of the map applied (``-sum(s)`` when ``inverse``).

    Raises:
        TypeError: If an argument is not a floating tensor of ``z``'s dtype.
        ValueError: If shapes do not broadcast to ``z``'s, or a value is not finite.

    Example:
        >>> x, log_det = affine(torch.tensor([[1.0, 2.0]]), torch.tensor([0.0, 1.0]),
        ...                     torch.tensor([0.0, math.log(3.0)]))
        >>> x.tolist(), round(float(log_det), 4)
        ([[1.0, 7.0]], 1.0986)
    """
    z = _check_input("z", z)
    loc = check_parameter("loc", loc, "z", z)
    log_scale = check_parameter("log_scale", log_scale, "z", z)
    return _affine(z, loc, log_scale, inverse)


def _affine(z: Tensor, loc: Tensor, log_scale: Tensor, inverse: bool) -> tuple[Tensor, Tensor]:
    log_det = log_scale.expand_as(z).sum(-1)
    if inverse:
        return (z - loc) * torch.exp(-log_scale), -log_det
    return loc + torch.exp(log_scale) * z, log_det


class Affine(Transform):
    r"""Learnable element-wise affine transform :math:`x = \mu + e^{s} \odot z`.

    Computed by :func:`affine`; :math:`\mu` (``loc``) and :math:`s`
    (``log_scale``) start at zero, so the transform starts at the identity.
    Costs :math:`O(features)` per point, both directions.

    Args:
        features: Number of features.

    Example:
        >>> f = Affine(3)
        >>> z = torch.randn(4, 3)
        >>> x, log_det = f(z)
        >>> torch.equal(x, z), log_det.tolist()
        (True, [0.0, 0.0, 0.0, 0.0])
    """

    def __init__(self, features: int):
        super().__init__(features)
        self.loc = nn.Parameter(torch.zeros(self.features))
        self.log_scale = nn.Parameter(torch.zeros(self.features))

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return _affine(z, self.loc, self.log_scale, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return _affine(x, self.loc, self.log_scale, inverse=True)


def standardizing_affine(data: Tensor) -> Affine:
    r"""A frozen :class:`Affine` that maps standardised points to the scale of ``data``.

    Put it last in a flow, :math:`x = \bar x + \hat\sigma \odot f(z)`, and the
    learnable transforms before it work on data with mean 0 and standard deviation 1
    per feature, whatever the units of ``data``; log-densities stay in ``data``'s
    units. Its parameters do not train (``requires_grad`` is off).

    Args:
        data: Training points, shape ``(batch, features)``, ``batch >= 2``.

    Returns:
        An :class:`Affine` with ``loc`` the feature means and ``log_scale`` the log of
        the feature standard deviations.

    Raises:
        ValueError: If ``data`` is not 2-D with at least two rows, is not finite, or a
            feature is constant.

    Example:
        >>> data = torch.tensor([[0.0, 10.0], [2.0, 30.0]])
        >>> f = standardizing_affine(data)
        >>> x, log_det = f(torch.tensor([[1.0, 1.0]]))
        >>> [round(v, 3) for v in x[0].tolist()], f.loc.requires_grad
        ([2.414, 34.142], False)
    """
    data = check_tensor("data", data, ndim=2, floating=True)
    if data.shape[0] < 2:
        raise ValueError(
            f"data must have at least 2 rows to estimate a scale; got {data.shape[0]}"
        )
    scale = data.detach().std(dim=0)
    if not bool((scale > 0).all()):
        feature = int((scale <= 0).nonzero()[0, 0])
        raise ValueError(f"data must vary in every feature; feature {feature} is constant")
    transform = Affine(data.shape[1]).to(dtype=data.dtype, device=data.device)
    with torch.no_grad():
        transform.loc.copy_(data.detach().mean(dim=0))
        transform.log_scale.copy_(scale.log())
    return transform.requires_grad_(False)


def _log_cosh(a: Tensor) -> Tensor:
    r""":math:`\log\cosh a` without overflow: :math:`|a| + \log(1 + e^{-2|a|}) - \log 2`."""
    a = a.abs()
    return a + torch.log1p(torch.exp(-2.0 * a)) - math.log(2.0)


def sinh_arcsinh(
    z: Tensor, skewness: Tensor, tailweight: Tensor, inverse: bool = False
) -> tuple[Tensor, Tensor]:
    r"""The sinh-arcsinh map of Jones & Pewsey (2009) and its log-det.

    .. math:: x = \sinh\!\left(\frac{\operatorname{arcsinh}(z) + \epsilon}{\delta}\right),
              \qquad \epsilon \in \mathbb{R}, \ \delta > 0,

    with skewness :math:`\epsilon` and tail weight :math:`\delta`. Applied to
    :math:`z \sim \mathcal{N}(0, 1)`, :math:`\epsilon` skews the density and
    :math:`\delta < 1` gives heavier tails, :math:`\delta > 1` lighter ones;
    :math:`\epsilon = 0, \delta = 1` is the identity. The map is increasing, hence
    invertible, for every :math:`\delta > 0`:
    :math:`z = \sinh(\delta \operatorname{arcsinh}(x) - \epsilon)`. With
    :math:`a = (\operatorname{arcsinh}(z) + \epsilon) / \delta`,

    .. math:: \log\left|\frac{\partial x}{\partial z}\right|
              = \log\cosh a - \log \delta - \log\cosh(\operatorname{arcsinh} z),

    using :math:`\sqrt{1 + z^2} = \cosh(\operatorname{arcsinh} z)`, summed over features.

    Args:
        z: Inputs, shape ``(*batch, features)``; data points ``x`` when ``inverse``.
        skewness: :math:`\epsilon`, broadcastable to ``z``, e.g. shape ``(features,)``.
        tailweight: :math:`\delta > 0`, broadcastable to ``z``.
        inverse: Whether to apply the inverse map.

    Returns:
        ``(outputs, log_det)`` with shapes ``(*batch, features)`` and ``batch``.

    Raises:
        TypeError: If an argument is not a floating tensor of ``z``'s dtype.
        ValueError: If shapes do not broadcast, a value is not finite, or
            ``tailweight`` is not positive.

    Example:
        >>> z = torch.tensor([[-1.0, 0.0, 2.0]])
        >>> x, log_det = sinh_arcsinh(z, torch.zeros(3), torch.ones(3))  # the identity
        >>> torch.allclose(x, z), float(log_det)
        (True, 0.0)
        >>> x, _ = sinh_arcsinh(z, torch.full((3,), 0.5), torch.full((3,), 0.5))
        >>> back, _ = sinh_arcsinh(x, torch.full((3,), 0.5), torch.full((3,), 0.5), inverse=True)
        >>> torch.allclose(back, z, atol=1e-5)
        True

    References:
        Jones, M. C. & Pewsey, A. (2009). Sinh-arcsinh distributions.
        Biometrika 96(4), 761-780. https://doi.org/10.1093/biomet/asp053
    """
    z = _check_input("z", z)
    skewness = check_parameter("skewness", skewness, "z", z)
    tailweight = check_parameter("tailweight", tailweight, "z", z)
    if not (tailweight > 0).all():
        raise ValueError(
            "tailweight must be positive; got a minimum of "
            f"{float(tailweight.detach().min()):.4g}. Parametrize it as "
            "tailweight = log_tailweight.exp() or softplus(raw)."
        )
    return _sinh_arcsinh(z, skewness, tailweight, inverse)


def _sinh_arcsinh(
    z: Tensor, skewness: Tensor, tailweight: Tensor, inverse: bool
) -> tuple[Tensor, Tensor]:
    asinh_in = torch.asinh(z)
    if inverse:
        a = tailweight * asinh_in - skewness
        out = torch.sinh(a)
        log_det = torch.log(tailweight) + _log_cosh(a) - _log_cosh(asinh_in)
    else:
        a = (asinh_in + skewness) / tailweight
        out = torch.sinh(a)
        log_det = _log_cosh(a) - torch.log(tailweight) - _log_cosh(asinh_in)
    return out, log_det.sum(-1)


class SinhArcsinh(Transform):
    r"""Learnable sinh-arcsinh transform, one skewness and one tail weight per feature.

    .. math:: x_i = \sinh\!\left(\frac{\operatorname{arcsinh}(z_i) + \epsilon_i}{\delta_i}\right),

    computed by :func:`sinh_arcsinh`. The tail weight is :math:`\delta = e^{\rho}`
    with a free parameter :math:`\rho` (``log_tailweight``), so every parameter
    value gives an invertible map. Both parameters start at zero: the identity.
    Followed by an :class:`Affine`, as in ``[SinhArcsinh(d), Affine(d)]``, it gives
    the location-scale sinh-arcsinh family.

    Args:
        features: Number of features.

    Example:
        >>> f = SinhArcsinh(2)
        >>> z = torch.randn(5, 2)
        >>> x, log_det = f(z)
        >>> torch.allclose(x, z), bool((log_det.abs() < 1e-6).all())
        (True, True)

    References:
        Jones, M. C. & Pewsey, A. (2009). Sinh-arcsinh distributions.
        Biometrika 96(4), 761-780. https://doi.org/10.1093/biomet/asp053
    """

    def __init__(self, features: int):
        super().__init__(features)
        self.skewness = nn.Parameter(torch.zeros(self.features))
        self.log_tailweight = nn.Parameter(torch.zeros(self.features))

    @property
    def tailweight(self) -> Tensor:
        r"""The tail weight :math:`\delta = e^{\rho} > 0`, shape ``(features,)``."""
        return torch.exp(self.log_tailweight)

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return _sinh_arcsinh(z, self.skewness, self.tailweight, inverse=False)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return _sinh_arcsinh(x, self.skewness, self.tailweight, inverse=True)


def _check_input(name: str, z: object) -> Tensor:
    """Points of any feature size, checked for type and finiteness."""
    return check_points(name, z, None)
