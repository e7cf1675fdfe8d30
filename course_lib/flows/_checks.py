"""Argument checks shared by the flow modules, built on :mod:`course_lib._validation`."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from course_lib._validation import check_dtype, check_tensor, describe, format_shape

__all__ = ["check_parameter", "check_points", "check_same_device", "reference_tensor"]


def check_points(
    name: str, x: object, features: int | None, *, like: Tensor | None = None
) -> Tensor:
    """Checks that ``x`` is a finite floating tensor of shape ``(*batch, features)``.

    Args:
        name: The argument's name, used in messages (``"z"`` or ``"x"``).
        x: The value to check.
        features: The required size of the last dimension; ``None`` for any size.
        like: A parameter of the transform; ``x`` must share its dtype and device.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a floating-point tensor, or its dtype differs from ``like``'s.
        ValueError: If the last dimension is not ``features``, the device differs from
            ``like``'s, or a value is not finite.
    """
    size = "features" if features is None else features
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor of shape (*batch, {size}); got {describe(x)}. "
            f"Convert it first, e.g. torch.as_tensor({name}, dtype=torch.float32)."
        )
    if x.ndim == 0 or (features is not None and x.shape[-1] != features):
        if x.ndim == 0:
            hint = f"Give it a feature dimension, e.g. {name}.reshape(1, -1)."
        elif features == 1:
            hint = f"With one feature, add it last: {name}.unsqueeze(-1)."
        elif x.ndim >= 2 and x.shape[-2] == features:
            hint = f"The features seem to be in the second-to-last dimension: use {name}.mT."
        else:
            hint = f"Pass points with {features} features each, features last."
        raise ValueError(
            f"{name} must have shape (*batch, {size}), features last; got "
            f"{format_shape(x.shape)}. {hint}"
        )
    check_dtype(name, x)
    if like is not None:
        if x.dtype != like.dtype:
            raise TypeError(
                f"{name} must have the dtype of the flow's parameters ({like.dtype}); got "
                f"{x.dtype}. Convert one of them, e.g. {name}.to({like.dtype}) or "
                f"module.to({x.dtype})."
            )
        check_same_device(name, x, like)
    return check_tensor(name, x, finite=True)


def check_same_device(name: str, x: Tensor, like: Tensor) -> None:
    """Checks that ``x`` is on the device of the flow's parameters ``like``."""
    if x.device != like.device:
        raise ValueError(
            f"{name} must be on the device of the flow's parameters ({like.device}); got "
            f"{x.device}. Move one of them, e.g. {name}.to('{like.device}') or "
            f"module.to('{x.device}')."
        )


def check_parameter(
    name: str, value: object, x_name: str, x: Tensor, shape: Sequence[int] | None = None
) -> Tensor:
    """Checks a parameter passed to a pure transform function.

    It must be a finite floating tensor with the dtype and device of the input ``x``,
    of shape ``shape`` if given, otherwise broadcastable to ``x.shape`` without
    enlarging it.

    Raises:
        TypeError: If ``value`` is not a floating tensor of ``x``'s dtype.
        ValueError: If its shape, device or values are wrong.
    """
    if not isinstance(value, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor; got {describe(value)}. "
            f"Convert it, e.g. torch.as_tensor({name}, dtype={x_name}.dtype)."
        )
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ValueError(
            f"{name} must have shape {format_shape(shape)}; got {format_shape(value.shape)}. "
            f"Check how {name} was built."
        )
    if shape is None:
        try:
            broadcast = torch.broadcast_shapes(value.shape, x.shape)
        except RuntimeError:
            broadcast = None
        if broadcast != x.shape:
            raise ValueError(
                f"{name} must broadcast to the shape of {x_name}, {format_shape(x.shape)}, "
                f"e.g. shape ({x.shape[-1]},); got {format_shape(value.shape)}."
            )
    check_dtype(name, value, like=x, like_name=x_name)
    if value.device != x.device:
        raise ValueError(
            f"{name} must be on the device of {x_name} ({x.device}); got {value.device}. "
            f"Move it, e.g. {name}.to({x_name}.device)."
        )
    return check_tensor(name, value, finite=True)


def reference_tensor(module: nn.Module) -> Tensor | None:
    """The module's first floating-point parameter or buffer, whose dtype and device
    inputs must share; ``None`` if it has none (e.g. a permutation)."""
    for tensor in module.parameters():
        if tensor.is_floating_point():
            return tensor
    for tensor in module.buffers():
        if tensor.is_floating_point():
            return tensor
    return None
