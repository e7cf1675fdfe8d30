"""The iris measurements bundled with scikit-learn, as tensors (no download)."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import torch
from torch import Tensor

from course_lib._validation import check_float_dtype, describe

__all__ = ["iris"]


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
    check_float_dtype(dtype)
    from sklearn.datasets import load_iris  # imported here: scikit-learn is slow to load

    bunch = load_iris()
    x = torch.as_tensor(bunch.data, dtype=torch.float64)[:, columns]
    if standardize:
        x = (x - x.mean(0)) / x.std(0, unbiased=False)
    return x.to(dtype), torch.as_tensor(bunch.target, dtype=torch.int64)
