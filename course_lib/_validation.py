"""Argument checks that every public function of course_lib calls before any math.

Each helper either returns its (possibly normalized) argument or raises a
``TypeError``/``ValueError`` whose message names the argument, says what was
expected, shows what arrived and suggests a fix. Cheap checks run first; the
detailed message is built only when a check fails.
"""

from __future__ import annotations

import contextlib
import math
import numbers
from collections.abc import Iterator, Sequence

import torch
from torch import Tensor

__all__ = [
    "check_binary",
    "check_choice",
    "check_dtype",
    "check_float_dtype",
    "check_nonnegative_int",
    "check_positive_float",
    "check_positive_int",
    "check_seed",
    "check_tensor",
    "describe",
    "format_index",
    "format_shape",
    "seeded_init",
]

# torch.manual_seed accepts any integer in [0, 2**64 - 1].
_MAX_SEED = 2**64 - 1


def format_shape(shape: Sequence[int | None]) -> str:
    """Writes a shape the way Python writes tuples, ``None`` entries as ``*``.

    Example:
        >>> format_shape((5,)), format_shape(()), format_shape((None, 3))
        ('(5,)', '()', '(*, 3)')
    """
    entries = ["*" if size is None else str(int(size)) for size in shape]
    if len(entries) == 1:
        return f"({entries[0]},)"
    return "(" + ", ".join(entries) + ")"


def format_index(index: Sequence[int]) -> str:
    """Writes a tensor index: ``3`` for 1-D, ``(2, 1)`` for n-D, ``()`` for 0-D."""
    index = tuple(int(i) for i in index)
    if len(index) == 1:
        return str(index[0])
    return str(index)


def describe(value: object) -> str:
    """Says what a value is in a few words, for error messages.

    Example:
        >>> describe(torch.zeros(2, 3)), describe(1.5), describe([1, 2])
        ('a tensor of shape (2, 3) and dtype torch.float32', 'a float (1.5)', 'a list')
    """
    if isinstance(value, Tensor):
        return f"a tensor of shape {format_shape(value.shape)} and dtype {value.dtype}"
    if isinstance(value, bool | int | float):
        return f"a {type(value).__name__} ({value!r})"
    if value is None:
        return "None"
    kind = type(value)
    module = kind.__module__
    qualname = kind.__qualname__ if module == "builtins" else f"{module}.{kind.__qualname__}"
    return f"a {qualname}"


def _first_index(mask: Tensor) -> tuple[int, ...]:
    """Index of the first ``True`` entry of a boolean tensor (row-major order)."""
    if mask.ndim == 0:
        return ()
    return tuple(torch.nonzero(mask)[0].tolist())


def check_tensor(
    name: str,
    x: object,
    *,
    ndim: int | None = None,
    shape: Sequence[int | None] | None = None,
    floating: bool = False,
    finite: bool = True,
    hint: str | None = None,
) -> Tensor:
    """Checks that ``x`` is a tensor of the expected rank, shape and values.

    Args:
        name: The argument's name, used in messages.
        x: The value to check.
        ndim: Required number of dimensions, if any.
        shape: Required shape, if any; ``None`` entries match any size.
        floating: Whether a floating-point dtype is required.
        finite: Whether every value must be finite (no NaN, no infinity).
        hint: A fix to suggest when the rank or the shape is wrong; replaces the
            generic suggestion.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a tensor, or not floating point when required.
        ValueError: If the rank or shape differs, or values are not finite.

    Example:
        >>> check_tensor("x", torch.zeros(4, 2), shape=(None, 2)).shape
        torch.Size([4, 2])
        >>> check_tensor("x", torch.zeros(4), ndim=2)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: x must be 2-D; got a 1-D tensor of shape (4,). Add the missing dimension...
    """
    if not isinstance(x, Tensor):
        raise TypeError(
            f"{name} must be a torch.Tensor; got {describe(x)}. "
            f"Convert it first, e.g. torch.as_tensor({name}, dtype=torch.float32)."
        )
    if shape is not None:
        shape = tuple(shape)
        ndim = len(shape)
    if ndim is not None and x.ndim != ndim:
        if hint is None:
            if x.ndim == ndim - 1:
                hint = f"Add the missing dimension, e.g. {name}.unsqueeze(-1) for one feature."
            elif x.ndim > ndim and all(s == 1 for s in x.shape[: x.ndim - ndim]):
                hint = f"Drop the leading size-1 dimensions, e.g. with {name}.squeeze(0)."
            else:
                hint = f"Reshape it, e.g. with {name}.reshape(...)."
        expected = f"{ndim}-D" if shape is None else f"{ndim}-D with shape {format_shape(shape)}"
        raise ValueError(
            f"{name} must be {expected}; got a {x.ndim}-D tensor of shape "
            f"{format_shape(x.shape)}. {hint}"
        )
    if shape is not None and any(
        want is not None and got != want for got, want in zip(x.shape, shape, strict=True)
    ):
        hint = hint or f"Check how {name} was built."
        raise ValueError(
            f"{name} must have shape {format_shape(shape)}; got {format_shape(x.shape)}. {hint}"
        )
    if floating:
        check_dtype(name, x)
    if finite and (x.is_floating_point() or x.is_complex()) and not torch.isfinite(x).all():
        bad = ~torch.isfinite(x)
        count = int(bad.sum())
        index = _first_index(bad)
        where = "" if x.ndim == 0 else f" at index {format_index(index)}"
        value = x[index].item()
        raise ValueError(
            f"{name} must contain only finite values; got {count} non-finite "
            f"value{'s' if count > 1 else ''}, the first {value}{where}. Remove or "
            f"replace them before calling, e.g. with torch.nan_to_num({name})."
        )
    return x


def check_dtype(
    name: str, x: Tensor, *, like: Tensor | None = None, like_name: str = ""
) -> Tensor:
    """Checks that ``x`` is floating point and, if ``like`` is given, of its dtype.

    Raises:
        TypeError: If the dtype is not floating point or differs from ``like``'s.
    """
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must have a floating-point dtype; got {x.dtype}. "
            f"Convert it, e.g. {name}.float() or {name}.double()."
        )
    if like is not None and x.dtype != like.dtype:
        raise TypeError(
            f"{name} must have the dtype of {like_name} ({like.dtype}); got {x.dtype}. "
            f"Convert it, e.g. {name}.to({like_name}.dtype)."
        )
    return x


def check_binary(name: str, y: object, *, batch: int | None = None) -> Tensor:
    """Checks that ``y`` is a 1-D tensor of 0/1 labels.

    Any real or boolean dtype is accepted, as long as every value is 0 or 1.

    Args:
        name: The argument's name, used in messages.
        y: The labels.
        batch: Required length, if any (the batch size of the matching inputs).

    Returns:
        ``y`` itself.

    Raises:
        TypeError: If ``y`` is not a tensor.
        ValueError: If ``y`` is not 1-D, has the wrong length, or holds a value
            other than 0 and 1.

    Example:
        >>> check_binary("y", torch.tensor([0.0, 1.0, 1.0])).tolist()
        [0.0, 1.0, 1.0]
        >>> check_binary("y", torch.tensor([0, 2, 1]))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        ValueError: y must contain only 0 and 1; got 2 at index 1 (1 value is not 0 or 1)...
    """
    hint = None
    if batch is not None:
        hint = f"Pass one 0/1 label per row of x, i.e. shape ({batch},)."
    check_tensor(name, y, ndim=1, finite=True, hint=hint)
    if batch is not None and y.shape[0] != batch:
        raise ValueError(
            f"{name} must have shape ({batch},) to match the {batch} rows of x; got "
            f"{format_shape(y.shape)}. Pass one 0/1 label per row of x."
        )
    if y.dtype == torch.bool:
        return y
    if y.is_complex():
        raise TypeError(f"{name} must have a real or boolean dtype; got {y.dtype}.")
    ok = (y == 0) | (y == 1)
    if not ok.all():
        bad = ~ok
        count = int(bad.sum())
        index = _first_index(bad)
        value = y[index].item()
        raise ValueError(
            f"{name} must contain only 0 and 1; got {value} at index {format_index(index)} "
            f"({count} value{'s are' if count > 1 else ' is'} not 0 or 1). Encode the two "
            f"outcomes as 0/1, e.g. {name} = (labels == positive_label).float()."
        )
    return y


def check_seed(seed: int | torch.Generator | None) -> torch.Generator:
    """Turns a seed into a CPU random generator, the one entrance of randomness.

    Drawing on a CPU generator and moving the result with ``.to(device)`` gives
    the same numbers on CPU and CUDA runners.

    Args:
        seed: An integer in ``[0, 2**64 - 1]`` (a fresh generator seeded with
            it), a CPU ``torch.Generator`` (returned as is, so its state
            advances), or ``None`` (a fresh generator seeded from torch's
            global generator, so that ``seed_everything`` makes it repeat).

    Returns:
        A CPU ``torch.Generator``.

    Raises:
        TypeError: If ``seed`` is a bool or of another type.
        ValueError: If ``seed`` is a negative or too large integer, or a
            generator on another device.

    Example:
        >>> a = torch.rand(2, generator=check_seed(7))
        >>> b = torch.rand(2, generator=check_seed(7))
        >>> torch.equal(a, b)
        True
    """
    if isinstance(seed, torch.Generator):
        if seed.device.type != "cpu":
            raise ValueError(
                f"seed must be a CPU torch.Generator; got one on {seed.device}. Data are "
                "drawn on the CPU and then moved, so that every device sees the same "
                "numbers: pass torch.Generator().manual_seed(...) or an int."
            )
        return seed
    if seed is None:
        # Drawn from the global generator, so a seed_everything call upstream repeats it.
        derived = int(torch.randint(0, 2**63 - 1, (), dtype=torch.int64))
        return torch.Generator().manual_seed(derived)
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise TypeError(
            f"seed must be an int, a torch.Generator or None; got {describe(seed)}. "
            "Pass an integer such as seed=0."
        )
    seed = int(seed)
    if not 0 <= seed <= _MAX_SEED:
        raise ValueError(
            f"seed must be an integer between 0 and 2**64 - 1; got {seed}. "
            "Pass a non-negative integer such as seed=0."
        )
    return torch.Generator().manual_seed(seed)


def check_positive_int(name: str, value: object) -> int:
    """Checks that ``value`` is an integer >= 1 (bools are rejected).

    Example:
        >>> check_positive_int("steps", 3)
        3
        >>> check_positive_int("steps", 0)
        Traceback (most recent call last):
            ...
        ValueError: steps must be a positive integer; got 0. Pass a value of at least 1.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a positive integer; got {describe(value)}.")
    if value < 1:
        raise ValueError(
            f"{name} must be a positive integer; got {value}. Pass a value of at least 1."
        )
    return int(value)


def check_nonnegative_int(name: str, value: object) -> int:
    """Checks that ``value`` is an integer >= 0 (bools are rejected)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be a non-negative integer; got {describe(value)}.")
    if value < 0:
        raise ValueError(f"{name} must be a non-negative integer; got {value}.")
    return int(value)


def check_positive_float(name: str, value: object) -> float:
    """Checks that ``value`` is a finite real number > 0 (bools are rejected).

    Example:
        >>> check_positive_float("lr", 1e-3)
        0.001
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a positive number; got {describe(value)}.")
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite positive number; got {value}.")
    return value


def check_choice(name: str, value: object, choices: Sequence[str]) -> str:
    """Checks that ``value`` is one of a few strings.

    Example:
        >>> check_choice("reduction", "avg", ("mean", "sum", "none"))
        Traceback (most recent call last):
            ...
        ValueError: reduction must be one of 'mean', 'sum', 'none'; got 'avg'.
    """
    if not isinstance(value, str) or value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}; got {value!r}.")
    return value


@contextlib.contextmanager
def seeded_init(seed: int | torch.Generator | None) -> Iterator[torch.Generator]:
    """Makes torch's global CPU generator repeatable inside the block, then restores it.

    Layers such as ``nn.Linear`` initialize their weights from the global
    generator and take no ``generator`` argument. Inside this block that
    generator is forked and seeded from :func:`check_seed` ``(seed)``, so the
    initialization repeats while the caller's random state is left untouched.

    Args:
        seed: As for :func:`check_seed`.

    Yields:
        The CPU generator that seeded the block (already advanced once).

    Example:
        >>> with seeded_init(0):
        ...     a = torch.nn.Linear(2, 1).weight
        >>> with seeded_init(0):
        ...     b = torch.nn.Linear(2, 1).weight
        >>> torch.equal(a, b)
        True
    """
    generator = check_seed(seed)
    derived = int(torch.randint(0, 2**62, (), generator=generator))
    with torch.random.fork_rng(devices=[]):
        torch.default_generator.manual_seed(derived)
        yield generator


def check_float_dtype(dtype: object) -> None:
    """Checks that ``dtype`` is a floating-point ``torch.dtype``.

    Raises:
        TypeError: Naming ``dtype``, with what arrived and an example.
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(
            f"dtype must be a floating-point torch.dtype; got {describe(dtype)}. "
            "Pass e.g. dtype=torch.float32 or dtype=torch.float64."
        )
