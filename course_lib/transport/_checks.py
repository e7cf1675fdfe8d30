"""Argument checks shared by the transport modules: point clouds, weights and blur."""

from __future__ import annotations

import math
import numbers

from torch import Tensor

from course_lib._validation import check_dtype, check_tensor, describe, format_shape

__all__ = ["check_blur", "check_cloud", "check_pair", "check_weights"]


def check_cloud(name: str, x: object) -> Tensor:
    """Checks a point cloud: a finite floating tensor ``(points, features)``, not empty."""
    check_tensor(
        name,
        x,
        ndim=2,
        floating=True,
        hint=f"Pass one point per row; a 1-D sample becomes {name}.unsqueeze(-1).",
    )
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(
            f"{name} must hold at least one point with at least one feature; got shape "
            f"{format_shape(x.shape)}."
        )
    return x


def check_pair(
    x: object, y: object, x_name: str = "x", y_name: str = "y"
) -> tuple[Tensor, Tensor]:
    """Checks two clouds that are compared: same number of features, dtype and device."""
    check_cloud(x_name, x)
    check_cloud(y_name, y)
    if x.shape[1] != y.shape[1]:
        raise ValueError(
            f"{x_name} and {y_name} must have the same number of features (columns); got "
            f"{x.shape[1]} and {y.shape[1]} (shapes {format_shape(x.shape)} and "
            f"{format_shape(y.shape)})."
        )
    check_dtype(y_name, y, like=x, like_name=x_name)
    if x.device != y.device:
        raise ValueError(
            f"{x_name} and {y_name} must sit on one device; got {x.device} and {y.device}. "
            f"Move one, e.g. {y_name}.to({x_name}.device)."
        )
    return x, y


def check_weights(name: str, weights: object, cloud: Tensor, cloud_name: str) -> Tensor:
    """Returns the weights of ``cloud``'s points: uniform for ``None``, else checked.

    Weights must be non-negative, one per point, and sum to 1 (balanced transport).
    """
    points = cloud.shape[0]
    if weights is None:
        return cloud.new_full((points,), 1.0 / points)
    check_tensor(
        name,
        weights,
        shape=(points,),
        floating=True,
        hint=f"Pass one weight per row of {cloud_name}, shape ({points},).",
    )
    check_dtype(name, weights, like=cloud, like_name=cloud_name)
    if bool((weights < 0).any()):
        raise ValueError(
            f"{name} must be non-negative; got a minimum of {float(weights.detach().min()):g}."
        )
    total = float(weights.detach().sum())
    if abs(total - 1.0) > 1e-4:
        raise ValueError(
            f"{name} must sum to 1 (both measures carry the same mass); got {total:g}. "
            f"Normalize it, e.g. {name} / {name}.sum()."
        )
    return weights.to(cloud.device)


def check_blur(blur: object) -> float:
    """Checks the blur, the length scale of the entropic regularization: a finite number > 0."""
    if isinstance(blur, bool) or not isinstance(blur, numbers.Real):
        raise TypeError(f"blur must be a positive number such as 0.05; got {describe(blur)}.")
    blur = float(blur)
    if not (math.isfinite(blur) and blur > 0):
        raise ValueError(
            f"blur must be a finite positive number (a length, in the data's units) such as "
            f"0.05; got {blur}."
        )
    return blur
