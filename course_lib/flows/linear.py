r"""Linear transforms: triangular (Cholesky) affine maps, permutations, Householder reflections.

A linear map :math:`x = \mu + A z` has the constant log-det :math:`\log|\det A|`;
here :math:`A` is triangular (log-det from its diagonal) or orthogonal
(log-det zero). Signs follow the convention of :mod:`course_lib.flows.base`.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from course_lib._validation import check_positive_int, check_seed, describe
from course_lib.flows.base import Transform

__all__ = [
    "CholeskyAffine",
    "HouseholderReflection",
    "Permutation",
    "RandomPermutation",
    "ReversePermutation",
]


class CholeskyAffine(Transform):
    r"""The affine map :math:`x = \mu + L z` with :math:`L` lower triangular.

    :math:`L` has free entries below the diagonal and the positive diagonal
    :math:`L_{ii} = e^{\lambda_i}`, so the map is invertible for every value of the
    parameters and

    .. math:: \log\left|\det \frac{\partial x}{\partial z}\right| = \sum_i \lambda_i .

    With :math:`z \sim \mathcal{N}(0, I)`, :math:`x \sim \mathcal{N}(\mu, L L^\top)`:
    every Gaussian arises this way, :math:`L` being the Cholesky factor of the
    covariance. The inverse solves a triangular system, :math:`O(features^2)` per
    point. Starts at the identity (:math:`\mu = 0, L = I`).

    Args:
        features: Number of features.

    Attributes:
        loc: :math:`\mu`, shape ``(features,)``.
        log_diagonal: :math:`\lambda`, shape ``(features,)``.
        off_diagonal: The entries of :math:`L` below the diagonal, row by row,
            shape ``(features * (features - 1) // 2,)``.

    Example:
        >>> f = CholeskyAffine(2)
        >>> with torch.no_grad():
        ...     _ = f.off_diagonal.fill_(0.5)
        >>> f.scale_tril.tolist(), f.covariance.tolist()
        ([[1.0, 0.0], [0.5, 1.0]], [[1.0, 0.5], [0.5, 1.25]])
    """

    def __init__(self, features: int):
        super().__init__(features)
        self.loc = nn.Parameter(torch.zeros(self.features))
        self.log_diagonal = nn.Parameter(torch.zeros(self.features))
        rows, cols = torch.tril_indices(self.features, self.features, offset=-1)
        self.off_diagonal = nn.Parameter(torch.zeros(rows.numel()))
        self.register_buffer("_rows", rows, persistent=False)
        self.register_buffer("_cols", cols, persistent=False)

    @property
    def scale_tril(self) -> Tensor:
        """:math:`L`, lower triangular with a positive diagonal, shape ``(features, features)``."""
        diagonal = torch.diag_embed(torch.exp(self.log_diagonal))
        return diagonal.index_put((self._rows, self._cols), self.off_diagonal)

    @property
    def covariance(self) -> Tensor:
        r""":math:`L L^\top`, the covariance of :math:`x` when :math:`z \sim \mathcal{N}(0, I)`."""
        scale_tril = self.scale_tril
        return scale_tril @ scale_tril.mT

    def _log_det(self, z: Tensor) -> Tensor:
        return self.log_diagonal.sum().expand(z.shape[:-1])

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return self.loc + z @ self.scale_tril.mT, self._log_det(z)

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        centered = (x - self.loc).unsqueeze(-1)
        z = torch.linalg.solve_triangular(self.scale_tril, centered, upper=False).squeeze(-1)
        return z, -self._log_det(x)


class Permutation(Transform):
    r"""Reorders the features: :math:`x_i = z_{\pi(i)}`.

    A permutation matrix has determinant :math:`\pm 1`, so the log-det is zero.
    Placed between coupling layers, it lets every feature be transformed.

    Args:
        permutation: :math:`\pi`, a 1-D integer tensor holding each of
            ``0, ..., features - 1`` once. Stored as a buffer.

    Raises:
        TypeError: If ``permutation`` is not an integer tensor.
        ValueError: If it is not 1-D or not a permutation of ``0, ..., features - 1``.

    Example:
        >>> f = Permutation(torch.tensor([2, 0, 1]))
        >>> x, log_det = f(torch.tensor([[10.0, 11.0, 12.0]]))
        >>> x.tolist(), log_det.tolist()
        ([[12.0, 10.0, 11.0]], [0.0])
    """

    def __init__(self, permutation: Tensor):
        permutation = _check_permutation(permutation)
        super().__init__(permutation.numel())
        self.register_buffer("permutation", permutation.clone())
        self.register_buffer("inverse_permutation", torch.argsort(permutation))

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        return z[..., self.permutation], z.new_zeros(z.shape[:-1])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return x[..., self.inverse_permutation], x.new_zeros(x.shape[:-1])

    def extra_repr(self) -> str:
        return f"permutation={self.permutation.tolist()}"


def _check_permutation(permutation: object) -> Tensor:
    if not isinstance(permutation, Tensor):
        raise TypeError(
            f"permutation must be a torch.Tensor of integers; got {describe(permutation)}. "
            "Convert it, e.g. torch.tensor([1, 0])."
        )
    integer = not (permutation.is_floating_point() or permutation.is_complex())
    if permutation.dtype == torch.bool or not integer:
        raise TypeError(
            f"permutation must have an integer dtype; got {permutation.dtype}. "
            "Convert it, e.g. permutation.long()."
        )
    if permutation.ndim != 1 or permutation.numel() == 0:
        raise ValueError(
            f"permutation must be a non-empty 1-D tensor; got shape {tuple(permutation.shape)}."
        )
    permutation = permutation.long()
    features = permutation.numel()
    expected = torch.arange(features, device=permutation.device)
    if not torch.equal(torch.sort(permutation).values, expected):
        raise ValueError(
            f"permutation must hold each of 0, ..., {features - 1} exactly once; got "
            f"{permutation.tolist()}. Build one with torch.randperm({features})."
        )
    return permutation


class ReversePermutation(Permutation):
    r"""Reverses the order of the features, :math:`x_i = z_{D - 1 - i}`; log-det zero.

    Args:
        features: Number of features :math:`D`.

    Example:
        >>> ReversePermutation(3)(torch.tensor([1.0, 2.0, 3.0]))[0].tolist()
        [3.0, 2.0, 1.0]
    """

    def __init__(self, features: int):
        features = check_positive_int("features", features)
        super().__init__(torch.arange(features - 1, -1, -1))


class RandomPermutation(Permutation):
    r"""A fixed permutation of the features drawn uniformly at random; log-det zero.

    Args:
        features: Number of features.
        seed: Seed or CPU generator for the draw (see
            :func:`course_lib._validation.check_seed`).

    Example:
        >>> RandomPermutation(5, seed=0).permutation.tolist() == (
        ...     RandomPermutation(5, seed=0).permutation.tolist())
        True
    """

    def __init__(self, features: int, *, seed: int | torch.Generator | None = None):
        features = check_positive_int("features", features)
        super().__init__(torch.randperm(features, generator=check_seed(seed)))


class HouseholderReflection(Transform):
    r"""A product of Householder reflections, an orthogonal map with log-det zero.

    .. math:: x = H_K \cdots H_1 z, \qquad
              H_k = I - 2 \frac{v_k v_k^\top}{\lVert v_k \rVert^2} .

    Each :math:`H_k` reflects across the hyperplane orthogonal to :math:`v_k`; it
    is symmetric and orthogonal, its own inverse, with determinant :math:`-1`.
    So the inverse is :math:`z = H_1 \cdots H_K x` and
    :math:`\log|\det| = 0`. It needs :math:`v_k \neq 0`. A product of
    :math:`D` reflections can express any orthogonal matrix, with
    :math:`O(K \cdot features)` parameters and cost per point.

    Args:
        features: Number of features.
        reflections: Number :math:`K` of reflections.
        seed: Seed or CPU generator for the initial vectors (standard normal).

    Attributes:
        vectors: :math:`v_1, \dots, v_K` as rows, shape ``(reflections, features)``.

    Raises:
        ValueError: When applied, if some :math:`v_k` is zero (or not finite).

    Example:
        >>> f = HouseholderReflection(3, reflections=2, seed=0)
        >>> z = torch.randn(4, 3)
        >>> x, log_det = f(z)
        >>> torch.allclose(x.norm(dim=-1), z.norm(dim=-1)), log_det.tolist()
        (True, [0.0, 0.0, 0.0, 0.0])

    References:
        Tomczak, J. M. & Welling, M. (2016). Improving Variational Auto-Encoders
        using Householder Flow. https://arxiv.org/abs/1611.09630
    """

    def __init__(
        self, features: int, reflections: int = 1, *, seed: int | torch.Generator | None = None
    ):
        super().__init__(features)
        reflections = check_positive_int("reflections", reflections)
        generator = check_seed(seed)
        self.vectors = nn.Parameter(torch.randn(reflections, self.features, generator=generator))

    def _unit_vectors(self) -> Tensor:
        squared_norms = (self.vectors * self.vectors).sum(-1)
        good = (squared_norms > 0) & torch.isfinite(squared_norms)
        if not good.all():
            k = int(torch.nonzero(~good)[0, 0])
            raise ValueError(
                f"HouseholderReflection.vectors[{k}] has squared norm "
                f"{float(squared_norms[k].detach()):.3g}; a reflection needs a finite nonzero "
                "vector. Re-initialise it, e.g. with torch.nn.init.normal_(module.vectors)."
            )
        return self.vectors / squared_norms.sqrt().unsqueeze(-1)

    def _reflect(self, z: Tensor, order: range) -> Tensor:
        units = self._unit_vectors()
        for k in order:
            v = units[k]
            z = z - 2.0 * (z @ v).unsqueeze(-1) * v
        return z

    def _forward(self, z: Tensor) -> tuple[Tensor, Tensor]:
        x = self._reflect(z, range(self.vectors.shape[0]))
        return x, z.new_zeros(z.shape[:-1])

    def _inverse(self, x: Tensor) -> tuple[Tensor, Tensor]:
        z = self._reflect(x, range(self.vectors.shape[0] - 1, -1, -1))
        return z, x.new_zeros(x.shape[:-1])

    def extra_repr(self) -> str:
        return f"features={self.features}, reflections={self.vectors.shape[0]}"
