r"""Transforms, their composition, and ``Flow``: a torch Distribution from a base and transforms.

**The log-determinant convention of** :mod:`course_lib.flows`, stated here once.

* ``forward`` is the generative direction: it maps a base point :math:`z` to a
  data point :math:`x = f(z)`; ``inverse`` maps :math:`x` back to :math:`z = f^{-1}(x)`.
* Every transform method returns a pair ``(outputs, log_det)`` in which
  ``log_det`` refers to the map that was just applied,

  .. math:: \text{log\_det} = \log \left| \det \frac{\partial\, \text{outputs}}
            {\partial\, \text{inputs}} \right|,

  summed over the event (feature) dimension. For inputs of shape
  ``(*batch, features)`` it has shape ``batch``, e.g. ``(batch,)``.
* Hence ``inverse(x)`` returns ``(z, -forward_log_det(z))``: the two log-dets of a
  round trip sum to zero.
* ``log_abs_det_jacobian(z, x)`` is the forward log-det, as in
  ``torch.distributions.Transform``.
* By the change of variables, a flow with base density :math:`p_Z` scores

  .. math:: \log p_X(x) = \log p_Z\big(f^{-1}(x)\big)
            + \log \left| \det \frac{\partial f^{-1}(x)}{\partial x} \right|,

  i.e. ``log_prob(x) = base.log_prob(z) + log_det`` with ``(z, log_det) = inverse(x)``.

This is the convention of ``torch.distributions.TransformedDistribution`` and
Pyro. nflows and zuko go the other way (data to noise): tests that compare with
them flip the direction explicitly.

References:
    Papamakarios et al. (2021). Normalizing Flows for Probabilistic Modeling and
    Inference. JMLR 22(57). https://arxiv.org/abs/1912.02762
"""

from __future__ import annotations

import abc
import copy
from collections.abc import Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal, constraints

from course_lib._validation import check_positive_int, describe
from course_lib.flows._checks import check_points, reference_tensor

__all__ = ["Compose", "Flow", "Transform", "standard_normal", "to_torch_transform"]


class Transform(nn.Module, abc.ABC):
    r"""An invertible map :math:`x = f(z)` of :math:`\mathbb{R}^{features}` with a tractable
    log-determinant; the module holds its parameters.

    Subclasses implement ``_forward(z)`` and ``_inverse(x)``, each returning
    ``(outputs, log_det)`` as in the convention of :mod:`course_lib.flows.base`;
    the public :meth:`forward` and :meth:`inverse` check their input first.

    Args:
        features: Size of the last dimension of inputs and outputs.

    Attributes:
        features: As above.
    """

    def __init__(self, features: int):
        super().__init__()
        self.features = check_positive_int("features", features)

    def forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        r"""Applies the map in the generative direction.

        Args:
            z: Base points, shape ``(*batch, features)``.

        Returns:
            ``(x, log_det)``: data points, shape ``(*batch, features)``, and
            :math:`\log|\det \partial x / \partial z|`, shape ``batch``.

        Raises:
            TypeError: If ``z`` is not a floating tensor of the parameters' dtype.
            ValueError: If ``z`` has the wrong feature size or device, or a non-finite value.
        """
        return self._forward(self._check("z", z))

    def inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        r"""Applies the inverse map, data to base.

        Args:
            x: Data points, shape ``(*batch, features)``.

        Returns:
            ``(z, log_det)``: base points, shape ``(*batch, features)``, and
            :math:`\log|\det \partial z / \partial x|`, shape ``batch``
            (minus the forward log-det at ``z``).

        Raises:
            TypeError: If ``x`` is not a floating tensor of the parameters' dtype.
            ValueError: If ``x`` has the wrong feature size or device, or a non-finite value.
        """
        return self._inverse(self._check("x", x))

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor | None = None) -> Tensor:
        r"""The forward log-det :math:`\log|\det \partial x / \partial z|` at ``z``.

        ``x = forward(z)[0]`` is accepted for compatibility with
        ``torch.distributions.Transform`` and not used.
        """
        return self.forward(z)[1]

    def _check(self, name: str, value: object) -> Tensor:
        return check_points(name, value, self.features, like=reference_tensor(self))

    @abc.abstractmethod
    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """``(x, log_det)`` for checked ``z``."""

    @abc.abstractmethod
    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, log_det)`` for checked ``x``."""

    def extra_repr(self) -> str:
        return f"features={self.features}"


def _as_transform_list(transforms: object) -> list[Transform]:
    if isinstance(transforms, Transform) and not isinstance(transforms, Compose):
        raise TypeError(
            "transforms must be a sequence of Transform; got a single "
            f"{type(transforms).__name__}. Wrap it in a list: [transform]."
        )
    if not isinstance(transforms, Iterable):
        raise TypeError(f"transforms must be a sequence of Transform; got {describe(transforms)}.")
    result = list(transforms)
    if not result:
        raise ValueError("transforms must hold at least one Transform; got an empty sequence.")
    for i, transform in enumerate(result):
        if not isinstance(transform, Transform):
            raise TypeError(
                f"transforms[{i}] must be a course_lib.flows Transform; got {describe(transform)}."
            )
    features = result[0].features
    for i, transform in enumerate(result):
        if transform.features != features:
            raise ValueError(
                f"transforms must all act on the same number of features; transforms[0] has "
                f"{features} and transforms[{i}] has {transform.features}."
            )
    return result


class Compose(Transform):
    r"""The composition :math:`f = f_K \circ \dots \circ f_1` of transforms, applied in order.

    The log-dets of the steps add up (chain rule, and the determinant of a
    product is the product of determinants), and the inverse applies the
    inverses backwards, :math:`f^{-1} = f_1^{-1} \circ \dots \circ f_K^{-1}`.
    Invertible when every step is.

    Args:
        transforms: The steps :math:`f_1, \dots, f_K`, at least one, all with the
            same ``features``.

    Example:
        >>> from course_lib.flows import Affine, ReversePermutation
        >>> f = Compose([Affine(2), ReversePermutation(2)])
        >>> x, log_det = f(torch.zeros(5, 2))
        >>> tuple(x.shape), tuple(log_det.shape), len(f)
        ((5, 2), (5,), 2)
    """

    def __init__(self, transforms: Iterable[Transform]):
        steps = _as_transform_list(transforms)
        super().__init__(steps[0].features)
        self.transforms = nn.ModuleList(steps)

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[Transform]:
        return iter(self.transforms)

    def __getitem__(self, index: int) -> Transform:
        return self.transforms[index]

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        total = None
        for transform in self.transforms:
            z, log_det = transform._forward(z)
            total = log_det if total is None else total + log_det
        return z, total

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        total = None
        for transform in reversed(self.transforms):
            x, log_det = transform._inverse(x)
            total = log_det if total is None else total + log_det
        return x, total

    def extra_repr(self) -> str:
        return ""


def standard_normal(
    features: int, *, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> Distribution:
    r"""The standard normal distribution :math:`\mathcal{N}(0, I)` of dimension ``features``.

    Args:
        features: Dimension of the event.
        device: Device of its tensors (torch's default when ``None``).
        dtype: Floating dtype of its tensors (torch's default when ``None``).

    Returns:
        ``Independent(Normal(zeros, ones), 1)``, with ``event_shape == (features,)``.

    Example:
        >>> base = standard_normal(3)
        >>> tuple(base.event_shape), round(float(base.log_prob(torch.zeros(3))), 4)
        ((3,), -2.7568)
    """
    features = check_positive_int("features", features)
    loc = torch.zeros(features, device=device, dtype=dtype)
    return Independent(Normal(loc, torch.ones_like(loc)), 1)


def _tensor_paths(dist: Distribution, prefix: tuple[str, ...] = ()) -> Iterator:
    """``(path, tensor)`` for every tensor a distribution holds, looking into wrapped ones."""
    for name, value in vars(dist).items():
        if isinstance(value, Tensor):
            yield prefix + (name,), value
        elif isinstance(value, Distribution):
            yield from _tensor_paths(value, prefix + (name,))


def _rebuilt(template: Distribution, tensors: dict[tuple[str, ...], Tensor]) -> Distribution:
    """A shallow copy of ``template`` whose tensors at the given paths are replaced."""
    dist = copy.copy(template)
    for name, value in vars(template).items():
        if isinstance(value, Distribution):
            inner = {path[1:]: t for path, t in tensors.items() if path[0] == name}
            setattr(dist, name, _rebuilt(value, inner))
        elif (name,) in tensors:
            setattr(dist, name, tensors[(name,)])
    return dist


class Flow(Distribution, nn.Module):
    r"""A normalizing flow: the distribution of :math:`x = f(z)` with :math:`z \sim p_Z`.

    .. math:: \log p_X(x) = \log p_Z(z) + \log\left|\det \frac{\partial f^{-1}(x)}{\partial x}
              \right|, \qquad z = f^{-1}(x),

    with :math:`f` the composition of ``transforms`` (see the convention in
    :mod:`course_lib.flows.base`). A flow is both a ``torch.distributions.Distribution``
    (``log_prob``, ``sample``, ``rsample``) and an ``nn.Module`` whose
    ``parameters()`` are those of its transforms, so it trains with
    :func:`course_lib.training.fit`.

    The base's tensors (e.g. the ``loc`` and ``scale`` of a normal) become buffers
    of the flow, or parameters when they are ``nn.Parameter``, so ``.to(device)``
    and ``.double()`` move them; :attr:`base` rebuilds the distribution on them.

    Args:
        base: The base distribution :math:`p_Z`, with ``event_shape == (features,)``
            and ``batch_shape == ()``, e.g. :func:`standard_normal` ``(features)``.
        transforms: The transforms :math:`f_1, \dots, f_K`, applied in this order to
            base samples; at least one.

    Attributes:
        transform: The :class:`Compose` of ``transforms``.
        features: Dimension of the event.

    Example:
        >>> from course_lib.flows import Affine
        >>> flow = Flow(standard_normal(2), [Affine(2)])
        >>> x = flow.sample((100,))
        >>> tuple(x.shape), tuple(flow.log_prob(x).shape)
        ((100, 2), (100,))
        >>> round(flow.log_prob(torch.zeros(2)).item(), 4)  # Affine starts at the identity
        -1.8379
    """

    arg_constraints: dict = {}
    support = constraints.real_vector

    def __init__(self, base: Distribution, transforms: Iterable[Transform]):
        if not isinstance(base, Distribution):
            raise TypeError(
                f"base must be a torch.distributions.Distribution; got {describe(base)}. "
                "Use e.g. course_lib.flows.standard_normal(features)."
            )
        if len(base.event_shape) != 1 or len(base.batch_shape) != 0:
            hint = ""
            if len(base.event_shape) == 0 and len(base.batch_shape) == 1:
                hint = " Make its batch dimension an event dimension: Independent(base, 1)."
            raise ValueError(
                "base must have event_shape (features,) and batch_shape (); got event_shape "
                f"{tuple(base.event_shape)} and batch_shape {tuple(base.batch_shape)}.{hint}"
            )
        features = base.event_shape[0]
        # Distribution.__init__ ends with super().__init__(), which runs nn.Module.__init__.
        super().__init__(torch.Size(), torch.Size([features]), validate_args=False)
        steps = _as_transform_list(transforms)
        if steps[0].features != features:
            raise ValueError(
                f"transforms must act on the base's {features} features; got transforms with "
                f"features={steps[0].features}."
            )
        self.features = features
        self.transform = Compose(steps)
        self._base_template = base
        self._base_names: dict[tuple[str, ...], str] = {}
        for path, tensor in _tensor_paths(base):
            # Independent(Normal(loc, scale), 1) gives buffers base_loc and base_scale.
            name = "base_" + "_".join(part.strip("_") for part in path if part != "base_dist")
            if name in self._base_names.values():
                name = "base_" + "_".join(part.strip("_") for part in path)
            self._base_names[path] = name
            if isinstance(tensor, nn.Parameter):
                self.register_parameter(name, tensor)
            else:
                self.register_buffer(name, tensor)

    @property
    def base(self) -> Distribution:
        """The base distribution, on the flow's current device and dtype."""
        tensors = {path: getattr(self, name) for path, name in self._base_names.items()}
        return _rebuilt(self._base_template, tensors)

    @property
    def has_rsample(self) -> bool:
        """Whether the base, hence the flow, supports reparametrized sampling."""
        return self._base_template.has_rsample

    def log_prob(self, x: Tensor) -> Tensor:
        r"""Log-density :math:`\log p_X(x)`.

        Args:
            x: Points, shape ``(*batch, features)``.

        Returns:
            Log-densities, shape ``batch``.

        Raises:
            TypeError: If ``x`` is not a floating tensor of the flow's dtype.
            ValueError: If ``x`` has the wrong feature size or device, or a non-finite value.
        """
        x = check_points("x", x, self.features, like=reference_tensor(self))
        z, log_det = self.transform._inverse(x)
        return self.base.log_prob(z) + log_det

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        r"""Reparametrized samples :math:`x = f(z)`, :math:`z \sim p_Z`: gradients reach the
        parameters.

        Args:
            sample_shape: Leading shape of the samples.

        Returns:
            Samples, shape ``(*sample_shape, features)``.
        """
        return self.rsample_and_log_prob(sample_shape)[0]

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        """Samples without gradients, shape ``(*sample_shape, features)``."""
        with torch.no_grad():
            z = self.base.sample(_check_sample_shape(sample_shape))
            return self.transform._forward(z)[0]

    def sample_and_log_prob(
        self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()
    ) -> tuple[Tensor, Tensor]:
        """Samples and their log-densities in one forward pass, without gradients.

        Cheaper than ``log_prob(sample(...))``, which would invert the flow.

        Returns:
            ``(x, log_prob)`` of shapes ``(*sample_shape, features)`` and ``sample_shape``.
        """
        with torch.no_grad():
            z = self.base.sample(_check_sample_shape(sample_shape))
            x, log_det = self.transform._forward(z)
            return x, self.base.log_prob(z) - log_det

    def rsample_and_log_prob(
        self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()
    ) -> tuple[Tensor, Tensor]:
        r"""Reparametrized samples and their log-densities, for objectives such as the
        reverse KL of variational inference.

        .. math:: \log p_X(x) = \log p_Z(z) - \log\left|\det \frac{\partial f(z)}
                  {\partial z}\right|, \qquad x = f(z).

        Returns:
            ``(x, log_prob)`` of shapes ``(*sample_shape, features)`` and ``sample_shape``.

        Raises:
            NotImplementedError: If the base has no ``rsample``.
        """
        sample_shape = _check_sample_shape(sample_shape)
        base = self.base
        if not base.has_rsample:
            raise NotImplementedError(
                f"the base {type(base).__name__} has no rsample, so gradients cannot flow "
                "through samples; use sample() or a reparametrizable base such as "
                "standard_normal(features)."
            )
        z = base.rsample(sample_shape)
        x, log_det = self.transform._forward(z)
        return x, base.log_prob(z) - log_det

    def __repr__(self) -> str:
        return nn.Module.__repr__(self)

    def extra_repr(self) -> str:
        return f"base={self._base_template!r}"


def _check_sample_shape(sample_shape: object) -> torch.Size:
    if isinstance(sample_shape, int) and not isinstance(sample_shape, bool):
        sample_shape = (sample_shape,)
    try:
        shape = torch.Size(sample_shape)
    except TypeError:
        shape = None
    if shape is None or any(size < 0 for size in shape):
        raise ValueError(
            f"sample_shape must be a tuple of non-negative integers such as (100,); got "
            f"{sample_shape!r}."
        )
    return shape


class _TorchTransform(torch.distributions.Transform):
    """A :class:`Transform` seen as a ``torch.distributions.Transform``."""

    domain = constraints.real_vector
    codomain = constraints.real_vector
    bijective = True

    def __init__(self, transform: Transform):
        super().__init__(cache_size=0)
        self.transform = transform

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _TorchTransform) and other.transform is self.transform

    def __hash__(self) -> int:
        return id(self.transform)

    def _call(self, z: Tensor) -> Tensor:
        return self.transform(z)[0]

    def _inverse(self, x: Tensor) -> Tensor:
        return self.transform.inverse(x)[0]

    def log_abs_det_jacobian(self, z: Tensor, x: Tensor) -> Tensor:
        return self.transform.log_abs_det_jacobian(z, x)


def to_torch_transform(transform: Transform) -> torch.distributions.Transform:
    r"""Wraps a :class:`Transform` as a ``torch.distributions.Transform`` (``event_dim = 1``).

    The result works inside ``torch.distributions.TransformedDistribution``, which
    uses the same direction (base to data). It holds no state: gradients reach
    the parameters of ``transform``, and nothing is cached between calls.

    Args:
        transform: The transform to wrap.

    Returns:
        A bijective ``torch.distributions.Transform`` on real vectors.

    Example:
        >>> from torch.distributions import TransformedDistribution
        >>> from course_lib.flows import Affine
        >>> flow = Flow(standard_normal(2), [Affine(2)])
        >>> same = TransformedDistribution(flow.base, [to_torch_transform(flow.transform)])
        >>> x = torch.randn(4, 2)
        >>> torch.allclose(same.log_prob(x), flow.log_prob(x))
        True
    """
    if not isinstance(transform, Transform):
        raise TypeError(
            f"transform must be a course_lib.flows Transform; got {describe(transform)}."
        )
    return _TorchTransform(transform)
