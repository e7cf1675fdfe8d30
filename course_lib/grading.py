"""Checks that nbgrader test cells and the library's tests call to compare answers with references.

Every check returns ``None`` or raises ``AssertionError`` with a message a student
can act on: what is wrong, where, and a hint. Checks never write to stderr (nbgrader
scores a test cell that does as zero) and silence warnings raised while they run.

The torch functions the checks rely on are captured when this module is imported,
so a submission that later reassigns ``torch.isfinite``, ``torch.allclose`` and the
like in the kernel cannot change what the checks see.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import math
import sys
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor

from course_lib._validation import check_seed, format_index, format_shape

__all__ = [
    "check_close",
    "check_function",
    "check_invertible",
    "check_log_det",
    "check_tensor_like",
    "coupling_cases",
    "geomloss_sinkhorn",
    "logit_cases",
    "planar_cases",
    "quiet",
    "rq_spline_from_knots",
    "sinkhorn_cases",
    "spline_cases",
]

# Private references, taken at import: see the module docstring.
_Tensor = torch.Tensor
_abs = torch.abs
_add = torch.add
_any = torch.any
_argmax = torch.argmax
_as_tensor = torch.as_tensor
_broadcast_shapes = torch.broadcast_shapes
_clone = torch.Tensor.clone
_count_nonzero = torch.count_nonzero
_detach = torch.Tensor.detach
_float64 = torch.float64
_full_like = torch.full_like
_gt = torch.gt
_is_complex = torch.is_complex
_isfinite = torch.isfinite
_logical_not = torch.logical_not
_mul = torch.mul
_nonzero = torch.nonzero
_sub = torch.sub
_tensor_item = torch.Tensor.item
_tensor_to = torch.Tensor.to
_tolist = torch.Tensor.tolist
_unravel_index = torch.unravel_index
_where = torch.where


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silences warnings and sends Python-level stderr (e.g. tqdm bars) to stdout.

    For graded cells: nbgrader scores a test cell that writes to stderr as zero.
    Output that C code writes straight to file descriptor 2 is not captured.

    Example:
        >>> import warnings
        >>> with quiet():
        ...     warnings.warn("not shown")
        ...     print("shown", file=sys.stderr)
        shown
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stderr(sys.stdout):
            yield


def _describe_value(value: object) -> str:
    kind = type(value)
    if value is None:
        return "None"
    if kind.__module__ == "numpy":
        return f"a numpy.{kind.__qualname__}"
    if isinstance(value, bool | int | float):
        return f"a {kind.__name__}"
    if kind.__module__ == "builtins":
        return f"a {kind.__qualname__}"
    return f"a {kind.__module__}.{kind.__qualname__}"


def _type_hint(value: object) -> str:
    if value is None:
        return "Did you forget the return statement?"
    if type(value).__module__ == "numpy":
        return "Stay in torch: use torch functions rather than NumPy, and no .numpy()."
    if isinstance(value, int | float):
        return "Return the tensor itself, without .item() or float(...)."
    if isinstance(value, tuple | list):
        return "Return a single tensor, not a sequence."
    return "Return a torch.Tensor."


def _shape_hint(actual: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if not expected and actual:
        return "Reduce it to a single number, e.g. with .mean() or .sum()."
    if len(actual) == 2 and len(expected) == 1 and actual == (expected[0], expected[0]):
        n = expected[0]
        return (
            f"A ({n}, {n}) result usually comes from broadcasting a ({n},) tensor against a "
            f"({n}, 1) one; print the shapes of the intermediate results."
        )
    if math.prod(actual) == math.prod(expected):
        return "The number of values is right: check a reshape, squeeze or unsqueeze."
    try:
        broadcast = tuple(_broadcast_shapes(actual, expected))
    except RuntimeError:
        broadcast = None
    if broadcast == actual:
        return "Some intermediate result was broadcast to a larger shape; print the shapes."
    if len(actual) < len(expected):
        return "A dimension is missing: did you reduce (sum/mean) over too many dimensions?"
    return "Print the shapes of the intermediate results to find where they diverge."


def _check_reference(name: str, expected: object) -> Tensor:
    """The reference must be a finite tensor; anything else is a bug in the test."""
    if not isinstance(expected, _Tensor):
        raise TypeError(
            f"the reference for {name} must be a torch.Tensor; got {_describe_value(expected)}. "
            "This is a problem with the test, not with your code."
        )
    if expected.is_floating_point() and not bool(_tolist(_isfinite(expected).all())):
        raise ValueError(
            f"the reference for {name} is not finite. This is a problem with the test, "
            "not with your code."
        )
    return expected


def _tensor_like_problem(name: str, actual: object, expected: Tensor) -> tuple[str, str] | None:
    """``(problem, hint)`` if ``actual`` differs in kind from ``expected``, else ``None``."""
    expected = _check_reference(name, expected)
    if not isinstance(actual, _Tensor):
        return (
            f"{name} returned {_describe_value(actual)}; expected a torch.Tensor of shape "
            f"{format_shape(expected.shape)}",
            _type_hint(actual),
        )
    if tuple(actual.shape) != tuple(expected.shape):
        return (
            f"{name} returned shape {format_shape(actual.shape)}, expected "
            f"{format_shape(expected.shape)}",
            _shape_hint(tuple(actual.shape), tuple(expected.shape)),
        )
    if actual.dtype != expected.dtype:
        return (
            f"{name} returned dtype {actual.dtype}, expected {expected.dtype}",
            "Compute in the dtype of the inputs: create new tensors with dtype=x.dtype "
            "(e.g. x.new_zeros, torch.zeros_like) and do not convert the result.",
        )
    if actual.device != expected.device:
        return (
            f"{name} returned a tensor on {actual.device}, expected {expected.device}",
            "Create new tensors on the inputs' device, e.g. with device=x.device.",
        )
    values = _detach(actual)
    if _is_complex(values) or values.is_floating_point():
        bad = _logical_not(_isfinite(values))
        if bool(_tolist(_any(bad))):
            count = int(_tolist(_count_nonzero(bad)))
            index = tuple(_tolist(_nonzero(bad)[0])) if values.ndim else ()
            first = _tensor_item(values[index])
            where = f" at index {format_index(index)}" if index else ""
            more = f" ({count} non-finite values in all)" if count > 1 else ""
            return (
                f"{name} returned {first}{where}{more}",
                "Look for log(0), a division by zero or an overflowing exp; use a numerically "
                "stable formula (e.g. F.logsigmoid rather than log(sigmoid(...))).",
            )
    return None


def _format_pair(got: float, want: float) -> tuple[str, str]:
    """The two numbers with enough significant digits (at least 3) to show their difference."""
    difference = abs(got - want)
    scale = max(abs(got), abs(want))
    if not (math.isfinite(difference) and difference > 0):
        return repr(got), repr(want)
    digits = min(17, max(3, math.ceil(math.log10(scale / difference)) + 1))
    return f"{got:.{digits}g}", f"{want:.{digits}g}"


def _close_problem(
    name: str, actual: Tensor, expected: Tensor, rtol: float, atol: float
) -> tuple[str, str] | None:
    """``(problem, hint)`` if values differ beyond ``atol + rtol * |expected|``."""
    if not expected.numel():
        return None
    compute = _float64 if not _is_complex(expected) else expected.dtype
    got = _tensor_to(_detach(actual), device="cpu", dtype=compute)
    want = _tensor_to(_detach(expected), device="cpu", dtype=compute)
    difference = _abs(_sub(got, want))
    tolerance = _add(_mul(_abs(want), rtol), atol)
    failing = _gt(difference, tolerance)
    if not bool(_tolist(_any(failing))):
        return None
    count = int(_tolist(_count_nonzero(failing)))
    # Report the largest failing difference (non-failing entries are masked out).
    masked = _where(failing, difference, _full_like(difference, -1.0))
    flat = _argmax(masked)
    index = tuple(int(i) for i in _unravel_index(flat, got.shape)) if got.ndim else ()
    got_value, want_value = _tensor_item(got[index]), _tensor_item(want[index])
    got_text, want_text = _format_pair(got_value, want_value)
    where = f" at index {format_index(index)}" if index else ""
    total = got.numel()
    more = f"; {count} of {total} values differ" if total > 1 else ""
    return (
        f"{name} differs from the reference by {_tensor_item(difference[index]):.2g}{where} "
        f"(got {got_text}, expected {want_text}){more}",
        _ratio_hint(got_value, want_value)
        + f"Tolerance: atol={atol:g} + rtol={rtol:g} * |expected|.",
    )


def _ratio_hint(got: float, want: float) -> str:
    """Points out a whole-number ratio, the mark of a sum in place of a mean or vice versa."""
    if got == 0 or want == 0 or not (math.isfinite(got) and math.isfinite(want)):
        return ""
    ratio = got / want
    if ratio >= 1.5:
        whole = round(ratio)
        if abs(ratio - whole) <= 1e-3 * whole:
            return f"The value is {whole} times the reference: a sum where a mean is expected? "
    elif 0 < ratio <= 2 / 3:
        whole = round(1 / ratio)
        if abs(1 / ratio - whole) <= 1e-3 * whole:
            return f"The value is 1/{whole} of the reference: a mean where a sum is expected? "
    return ""


def _raise(problem: tuple[str, str] | None, context: str = "") -> None:
    if problem is not None:
        text, hint = problem
        raise AssertionError(f"{text}{context}. {hint}")


def _as_scalar_tensor(value: object, like: object) -> object:
    """Turns a Python number into a 0-D tensor (``like``'s dtype and device if a tensor)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(like, _Tensor):
        # An int tensor keeps its dtype only against an int: 3.5 must not become 3.
        exact = isinstance(value, int) or like.is_floating_point() or _is_complex(like)
        return _as_tensor(value, dtype=like.dtype if exact else _float64, device=like.device)
    return _as_tensor(float(value), dtype=_float64)


def _check_tolerances(rtol: float, atol: float) -> tuple[float, float]:
    for label, value in (("rtol", rtol), ("atol", atol)):
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{label} must be a non-negative number; got {value!r}.")
    return float(rtol), float(atol)


def check_tensor_like(name: str, actual: object, expected: Tensor) -> None:
    """Checks that ``actual`` is a finite tensor of ``expected``'s shape, dtype and device.

    Args:
        name: What is checked, as the student knows it (e.g. ``"logit_nll"``).
        actual: The student's value.
        expected: The reference value.

    Raises:
        AssertionError: With a message naming the first difference found.

    Example:
        >>> check_tensor_like("logit_nll", torch.zeros(()), torch.ones(()))
        >>> check_tensor_like("logit_nll", 0.5, torch.ones(()))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        AssertionError: logit_nll returned a float; expected a torch.Tensor of shape (). ...
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raise(_tensor_like_problem(name, actual, expected))


def check_close(
    name: str, actual: object, expected: object, *, rtol: float = 1e-4, atol: float = 1e-6
) -> None:
    """Checks :func:`check_tensor_like`, then that values agree within tolerance.

    Each value must satisfy ``|actual - expected| <= atol + rtol * |expected|``.
    The message gives the largest failing difference, its index and both values.
    A Python number is accepted for ``expected`` (it takes ``actual``'s dtype and
    device), and for both when both are numbers (compared in float64); a number
    for ``actual`` against a tensor reference is an error, since the student
    should return a tensor.

    Args:
        name: What is checked, as the student knows it.
        actual: The student's value.
        expected: The reference value.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        AssertionError: If kind, shape, dtype, device or values differ.

    Example:
        >>> check_close("logit_nll", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.00001]))
        >>> check_close("logit_nll", torch.tensor([1.2, 2.0]), torch.tensor([0.89, 2.0]))
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        AssertionError: logit_nll differs from the reference by 0.31 at index 0 (got 1.2, ...
    """
    rtol, atol = _check_tolerances(rtol, atol)
    if not isinstance(expected, _Tensor) and not isinstance(actual, _Tensor):
        actual = _as_scalar_tensor(actual, None)
    expected = _as_scalar_tensor(expected, actual)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raise(_tensor_like_problem(name, actual, expected))
        _raise(_close_problem(name, actual, expected, rtol, atol))


def _copy_inputs(value: Any) -> Any:
    """A deep copy of a case: tensors are cloned (keeping ``requires_grad``), so nothing
    a function does to its inputs can reach the next call."""
    if isinstance(value, _Tensor):
        copied = _clone(_detach(value))
        return copied.requires_grad_(value.requires_grad)
    if isinstance(value, tuple):
        return tuple(_copy_inputs(v) for v in value)
    if isinstance(value, list):
        return [_copy_inputs(v) for v in value]
    if isinstance(value, dict):
        return {k: _copy_inputs(v) for k, v in value.items()}
    return copy.deepcopy(value)


def _describe_input(value: object) -> str:
    if isinstance(value, _Tensor):
        return format_shape(value.shape)
    if isinstance(value, bool | int | float | str) or value is None:
        return repr(value)
    return type(value).__name__


def _describe_case(reference_fn: Callable, args: tuple, kwargs: dict) -> str:
    try:
        parameters = list(inspect.signature(reference_fn).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    parts = []
    for i, value in enumerate(args):
        label = positional[i] if i < len(positional) else f"argument {i + 1}"
        parts.append(f"{label}: {_describe_input(value)}")
    parts += [f"{key}: {_describe_input(value)}" for key, value in kwargs.items()]
    return ", ".join(parts)


def check_function(
    student_fn: Callable,
    reference_fn: Callable,
    cases: Sequence[tuple | dict],
    *,
    name: str | None = None,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> None:
    """Checks that a student's function agrees with the reference on every case.

    Each case is a tuple of positional arguments or a dict of keyword
    arguments. Both functions receive their own deep copies of the inputs, so a
    function that modifies its inputs in place affects neither the other call
    nor later cases. Outputs are compared with :func:`check_close`; tuple
    outputs element by element. Warnings and stderr are silenced while the
    functions run.

    Args:
        student_fn: The function under test.
        reference_fn: The reference implementation.
        cases: The inputs, e.g. from :func:`logit_cases`.
        name: Name used in messages; ``student_fn.__name__`` by default.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        AssertionError: On the first case whose output differs; the message
            names the case (counted from 1) and the shapes of its inputs.
        Exception: Whatever the student's function raises, with a note naming
            the case.

    Example:
        >>> from course_lib.logit import logit_nll
        >>> def mine(x, y, beta, alpha):
        ...     eta = alpha + x @ beta
        ...     return -(y * eta - torch.nn.functional.softplus(eta)).mean()
        >>> check_function(mine, logit_nll, logit_cases(seed=0), name="logit_nll")
        >>> def wrong(x, y, beta, alpha):
        ...     return -(y * (alpha + x @ beta)).sum()
        >>> check_function(wrong, logit_nll, logit_cases(seed=0))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        AssertionError: wrong differs from the reference by ... on case #1 (x: (1, 1), ...
    """
    if not callable(student_fn):
        raise AssertionError(
            f"expected a function to test; got {_describe_value(student_fn)}. Did you "
            "overwrite it with a value?"
        )
    rtol, atol = _check_tolerances(rtol, atol)
    name = name or getattr(student_fn, "__name__", "your function")
    cases = list(cases)
    if not cases:
        raise ValueError("cases is empty; give at least one tuple or dict of inputs.")
    for number, case in enumerate(cases, start=1):
        if isinstance(case, dict):
            args, kwargs = (), case
        elif isinstance(case, tuple | list):
            args, kwargs = tuple(case), {}
        else:
            raise TypeError(
                f"case #{number} must be a tuple of arguments or a dict of keyword arguments; "
                f"got {_describe_value(case)}."
            )
        described = _describe_case(reference_fn, args, kwargs)
        context = f" on case #{number} ({described})"
        with quiet():
            expected = reference_fn(*_copy_inputs(args), **_copy_inputs(kwargs))
            try:
                actual = student_fn(*_copy_inputs(args), **_copy_inputs(kwargs))
            except Exception as error:
                error.add_note(f"{name} raised this{context}.")
                raise
            if isinstance(expected, tuple):
                if not isinstance(actual, tuple | list) or len(actual) != len(expected):
                    count = len(actual) if isinstance(actual, tuple | list) else 1
                    raise AssertionError(
                        f"{name} returned {count} value{'s' if count != 1 else ''}{context}; "
                        f"expected a tuple of {len(expected)}."
                    )
                for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
                    e = _as_scalar_tensor(e, a)
                    _raise(_tensor_like_problem(f"{name}[{i}]", a, e), context)
                    _raise(_close_problem(f"{name}[{i}]", a, e, rtol, atol), context)
            else:
                expected = _as_scalar_tensor(expected, actual)
                _raise(_tensor_like_problem(name, actual, expected), context)
                _raise(_close_problem(name, actual, expected, rtol, atol), context)


# (batch, features, dtype) of the cases of logit_cases: a single observation, one to four
# regressors, both floating dtypes.
_LOGIT_SHAPES = (
    (1, 1, torch.float64),
    (5, 3, torch.float32),
    (8, 2, torch.float64),
    (16, 4, torch.float32),
    (32, 1, torch.float32),
)
_EXTREME_SHAPES = (
    (4, 1, torch.float32),
    (6, 2, torch.float64),
    (1, 3, torch.float64),
    (10, 4, torch.float32),
)


def logit_cases(seed: int = 0, *, extreme: bool = False) -> list[tuple]:
    r"""Inputs ``(x, y, beta, alpha)`` for checking a logit negative log-likelihood.

    The cases cover a single observation, one to four regressors, float32 and
    float64; ``alpha`` is a 0-D tensor and ``y`` holds 0./1. in ``x``'s dtype.
    Everything is drawn in float64 from a CPU generator seeded by ``seed`` (so
    CPU and GPU runners, and every student, get the same cases) and cast.

    With ``extreme=True``, :math:`|\eta| = |\alpha + x^\top\beta|` lies between
    75 and 85 for every row, with both signs (the first row positive) and
    random labels: :math:`\log(1 - \sigma(\eta))` written literally is
    ``-inf`` there, while a stable formula stays finite.

    Args:
        seed: Seed of the draw; the hidden tests use seeds the student has not seen.
        extreme: Whether to produce the large-:math:`|\eta|` cases.

    Returns:
        A list of tuples ``(x, y, beta, alpha)`` with shapes ``(batch, features)``,
        ``(batch,)``, ``(features,)`` and ``()``.

    Example:
        >>> [tuple(x.shape) for x, y, beta, alpha in logit_cases(seed=0)]
        [(1, 1), (5, 3), (8, 2), (16, 4), (32, 1)]
        >>> x, y, beta, alpha = logit_cases(seed=0, extreme=True)[0]
        >>> eta = alpha + x @ beta
        >>> bool(((eta.abs() > 74) & (eta.abs() < 86)).all()), x.dtype
        (True, torch.float32)
    """
    generator = check_seed(seed)
    cases = []
    for batch, features, dtype in _EXTREME_SHAPES if extreme else _LOGIT_SHAPES:
        x = torch.randn(batch, features, generator=generator, dtype=torch.float64)
        beta = torch.randn(features, generator=generator, dtype=torch.float64)
        alpha = torch.randn((), generator=generator, dtype=torch.float64)
        if extreme:
            signs = torch.tensor([1.0 if i % 2 == 0 else -1.0 for i in range(batch)])
            size = 75 + 10 * torch.rand(batch, generator=generator, dtype=torch.float64)
            target = signs.to(torch.float64) * size
            # Replace the component of each row along beta so that alpha + x @ beta = target.
            along = (x @ beta) / (beta @ beta)
            x = x + ((target - alpha) / (beta @ beta) - along)[:, None] * beta
            y = (torch.rand(batch, generator=generator, dtype=torch.float64) < 0.5).double()
        else:
            probability = torch.sigmoid(alpha + x @ beta)
            y = torch.rand(batch, generator=generator, dtype=torch.float64) < probability
            y = y.double()
        cases.append((x.to(dtype), y.to(dtype), beta.to(dtype), alpha.to(dtype)))
    return cases


def check_invertible(
    name: str,
    forward: Callable[[Tensor], tuple[Tensor, Tensor]],
    inverse: Callable[[Tensor], tuple[Tensor, Tensor]],
    z: Tensor,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    """Checks that ``inverse(forward(z)) == z`` and that the two log-dets cancel.

    Args:
        name: What the student wrote, for the message (e.g. ``"planar_inverse"``).
        forward: Maps ``z`` to ``(x, log_det)``.
        inverse: Maps ``x`` to ``(z, log_det)``; its log-det is that of the inverse map.
        z: Base points, shape ``(batch, features)``.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        AssertionError: With the largest error, where it occurs, and both values.

    Example:
        >>> f = lambda z: (2 * z, torch.full(z.shape[:1], math.log(2.0) * z.shape[1]))
        >>> g = lambda x: (x / 2, torch.full(x.shape[:1], -math.log(2.0) * x.shape[1]))
        >>> check_invertible("doubling", f, g, torch.randn(4, 3))
    """
    with quiet():
        x, forward_log_det = forward(_copy_inputs(z))
        check_tensor_like(f"{name}: forward output", x, z)
        back, inverse_log_det = inverse(_copy_inputs(x))
    check_close(f"{name}: inverse(forward(z))", back, z, rtol=rtol, atol=atol)
    check_tensor_like(f"{name}: inverse log_det", inverse_log_det, forward_log_det)
    total = _add(forward_log_det, inverse_log_det)
    check_close(
        f"{name}: forward log_det + inverse log_det (must be 0)",
        total,
        _full_like(total, 0.0),
        rtol=0.0,
        atol=max(atol, rtol),
    )


def check_log_det(
    name: str,
    forward: Callable[[Tensor], tuple[Tensor, Tensor]],
    z: Tensor,
    *,
    rtol: float = 1e-4,
    atol: float = 1e-5,
) -> None:
    r"""Checks a log-det against :math:`\log|\det J|` of the autograd Jacobian, point by point.

    Args:
        name: What the student wrote, for the message.
        forward: Maps ``z`` of shape ``(batch, features)`` to ``(x, log_det)``.
        z: Points, shape ``(batch, features)``; float64 gives the sharpest check.
        rtol: Relative tolerance.
        atol: Absolute tolerance.

    Raises:
        AssertionError: If the log-det differs from the Jacobian's, with the point.

    Example:
        >>> def doubling(z):
        ...     return 2 * z, torch.full((len(z),), math.log(2.0), dtype=z.dtype)
        >>> check_log_det("doubling", doubling, torch.randn(3, 1, dtype=torch.float64))
    """
    with quiet():
        _, log_det = forward(_copy_inputs(z))
        expected = []
        for point in z:
            jacobian = torch.autograd.functional.jacobian(
                lambda v: forward(v.unsqueeze(0))[0].squeeze(0), _copy_inputs(point)
            )
            expected.append(torch.linalg.slogdet(jacobian).logabsdet)
    check_close(f"{name}: log_det", log_det, torch.stack(expected), rtol=rtol, atol=atol)


def planar_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(z, w, u, b)`` for checking a planar transform, several feature sizes.

    Raw ``u`` is drawn freely, so :math:`w^\\top u < -1` occurs and the constraint matters.
    Drawn in float64 from ``seed``'s CPU generator, then cast (float64 and float32).

    Example:
        >>> [tuple(z.shape) for z, w, u, b in planar_cases(seed=0)]
        [(1, 1), (6, 2), (10, 3), (16, 5)]
    """
    generator = check_seed(seed)
    cases = []
    for batch, features, dtype in _PLANAR_SHAPES:
        z, w, u = (
            torch.randn(*shape, generator=generator, dtype=torch.float64) * scale
            for shape, scale in (((batch, features), 1.5), ((features,), 1.0), ((features,), 2.0))
        )
        b = torch.randn((), generator=generator, dtype=torch.float64)
        cases.append(tuple(t.to(dtype) for t in (z, w, u, b)))
    return cases


def coupling_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(z, mask, conditioner)`` for checking an affine coupling layer.

    The conditioner is a small seeded MLP mapping the ``mask``-selected features to twice
    the number of the others (shift, then raw log-scale), with weights large enough that
    the layer is far from the identity. Float64 throughout.

    Example:
        >>> [(tuple(z.shape), mask.tolist()) for z, mask, _ in coupling_cases(seed=0)][:2]
        [((4, 2), [True, False]), ((8, 2), [False, True])]
    """
    generator = check_seed(seed)
    cases = []
    for batch, mask in _COUPLING_MASKS:
        mask = torch.tensor(mask)
        kept, changed = int(mask.sum()), int((~mask).sum())
        conditioner = torch.nn.Sequential(
            torch.nn.Linear(kept, 16), torch.nn.Tanh(), torch.nn.Linear(16, 2 * changed)
        ).double()
        with torch.no_grad():
            for parameter in conditioner.parameters():
                parameter.copy_(
                    torch.randn(parameter.shape, generator=generator, dtype=torch.float64)
                )
        z = torch.randn(batch, mask.numel(), generator=generator, dtype=torch.float64)
        cases.append((z, mask, conditioner))
    return cases


_PLANAR_SHAPES = [
    (1, 1, torch.float64),
    (6, 2, torch.float64),
    (10, 3, torch.float32),
    (16, 5, torch.float64),
]
_COUPLING_MASKS = [
    (4, [True, False]),
    (8, [False, True]),
    (6, [True, False, True]),
    (5, [False, True, True, False, True]),
]


# (n, m, features, blur, shift, dtype) of the cases of sinkhorn_cases. The last case puts the
# clouds 4 apart per coordinate: costs of 4 to 60 at blur 0.1 make exp(-C / eps) underflow to 0
# for every partner of most points, so only log-domain updates stay finite.
_SINKHORN_SHAPES = [
    (30, 40, 1, 0.5, 0.0, torch.float64),
    (60, 50, 2, 0.2, 0.5, torch.float64),
    (40, 40, 3, 1.0, 0.3, torch.float32),
    (80, 70, 1, 0.1, 0.2, torch.float64),
    (50, 30, 2, 0.1, 4.0, torch.float64),
]


def sinkhorn_cases(seed: int = 0) -> list[tuple]:
    """Inputs ``(x, y, blur)`` for checking entropic OT costs and Sinkhorn divergences.

    Two point clouds of different sizes in one to three dimensions, ``x`` standard normal and
    ``y`` a shifted, narrower normal; blur from 0.1 to 1; float64 and float32; the last case
    needs log-domain updates (see ``_SINKHORN_SHAPES``). Drawn in float64 from ``seed``'s CPU
    generator, then cast.

    Example:
        >>> [(tuple(x.shape), tuple(y.shape), blur) for x, y, blur in sinkhorn_cases(seed=0)][:2]
        [((30, 1), (40, 1), 0.5), ((60, 2), (50, 2), 0.2)]
    """
    generator = check_seed(seed)
    cases = []
    for n, m, features, blur, shift, dtype in _SINKHORN_SHAPES:
        x = torch.randn(n, features, generator=generator, dtype=torch.float64)
        y = 0.5 + shift + 0.7 * torch.randn(m, features, generator=generator, dtype=torch.float64)
        cases.append((x.to(dtype), y.to(dtype), blur))
    return cases


def geomloss_sinkhorn(x: Tensor, y: Tensor, blur: float, *, debias: bool = True) -> Tensor:
    r"""geomloss' Sinkhorn divergence (``debias=True``) or entropic OT cost, uniform weights.

    The cost is :math:`C_{ij} = \tfrac12\|x_i - y_j\|^2` and :math:`\varepsilon =
    \text{blur}^2` (geomloss' ``p=2``). geomloss anneals :math:`\varepsilon` from the clouds'
    diameter down to :math:`\text{blur}^2`; an annealing ratio of 0.99 (its default is 0.5)
    brings the value within 5e-4 of the converged one on :func:`sinkhorn_cases`.

    Args:
        x: First cloud, shape ``(n, features)``.
        y: Second cloud, shape ``(m, features)``.
        blur: Entropic blur, a positive float.
        debias: Whether to subtract the two self-transport terms.

    Returns:
        A scalar tensor in ``x``'s dtype.

    Example:
        >>> x = torch.zeros(1, 2, dtype=torch.float64)
        >>> round(geomloss_sinkhorn(x, x + 1.0, 0.5, debias=False).item(), 6)  # |1, 1|^2 / 2
        1.0
    """
    from geomloss import SamplesLoss  # here, so that importing the checks stays light

    with quiet():
        loss = SamplesLoss(
            "sinkhorn", p=2, blur=blur, scaling=0.99, debias=debias, backend="tensorized"
        )
        return _detach(loss(x, y))


# (bins, shape of x, bound, dtype) of the cases of spline_cases: one bin to eight, a batch of
# points and a 2-D grid of them, float64 and float32.
_SPLINE_SHAPES = [
    (4, (40,), 3.0, torch.float64),
    (1, (12,), 1.0, torch.float64),
    (6, (9, 8), 2.0, torch.float32),
    (8, (60,), 5.0, torch.float64),
]


def _random_knots(bins: int, bound: float, generator: torch.Generator) -> Tensor:
    """``bins + 1`` increasing knots from ``-bound`` to ``bound``, no bin below 1/6 of the mean."""
    share = 0.2 + torch.rand(bins, generator=generator, dtype=torch.float64)
    inner = -bound + 2 * bound * torch.cumsum(share / share.sum(), 0)[:-1]
    return torch.cat([inner.new_tensor([-bound]), inner, inner.new_tensor([bound])])


def spline_cases(seed: int = 0) -> list[tuple]:
    r"""Inputs ``(x, knot_x, knot_y, knot_d)`` for checking a rational-quadratic spline.

    The knots span :math:`[-B, B]` in both coordinates, strictly increasing, with random
    bin widths and heights; the derivatives are positive, 1 at :math:`\pm B` (linear
    tails). ``x`` holds every knot, :math:`\pm B`, points drawn uniformly on
    :math:`[-1.5B, 1.5B]` (so in both tails) and two far out at :math:`\pm 100.5B`,
    shuffled. Drawn in float64 from ``seed``'s CPU generator, then cast.

    Example:
        >>> [(tuple(x.shape), len(kx) - 1) for x, kx, ky, kd in spline_cases(seed=0)]
        [((40,), 4), ((12,), 1), ((9, 8), 6), ((60,), 8)]
    """
    generator = check_seed(seed)
    cases = []
    for bins, shape, bound, dtype in _SPLINE_SHAPES:
        knot_x, knot_y = (_random_knots(bins, bound, generator) for _ in range(2))
        inner_d = torch.exp(0.8 * torch.randn(bins - 1, generator=generator, dtype=torch.float64))
        one = torch.ones(1, dtype=torch.float64)
        knot_d = torch.cat([one, inner_d, one])
        count = math.prod(shape) - (bins + 1) - 2
        uniform = (2 * torch.rand(count, generator=generator, dtype=torch.float64) - 1) * 1.5
        # Far out, and not a whole multiple of B (the message would suggest a sum for a mean).
        far = torch.tensor([-100.5, 100.5], dtype=torch.float64) * bound
        x = torch.cat([knot_x, uniform * bound, far])
        x = x[torch.randperm(len(x), generator=generator)].reshape(shape)
        cases.append(tuple(t.to(dtype) for t in (x, knot_x, knot_y, knot_d)))
    return cases


def rq_spline_from_knots(
    x: Tensor, knot_x: Tensor, knot_y: Tensor, knot_d: Tensor
) -> tuple[Tensor, Tensor]:
    r"""The rational-quadratic spline through given knots, with identity tails, and its
    log-derivative, element by element: the reference for the spline of the assignment.

    Converts the knots to the unnormalized parameters of
    :func:`course_lib.flows.splines.rq_spline` (with negligible minimum widths, heights and
    derivatives) and evaluates it in float64.

    Args:
        x: Points, any shape.
        knot_x: Knot positions, shape ``(bins + 1,)``, increasing from :math:`-B` to :math:`B`.
        knot_y: Knot values, shape ``(bins + 1,)``, increasing from :math:`-B` to :math:`B`.
        knot_d: Positive derivatives at the knots, shape ``(bins + 1,)``.

    Returns:
        ``(y, log_derivative)``, both of ``x``'s shape and dtype.

    Example:
        >>> knots = torch.tensor([-2.0, 0.0, 2.0])
        >>> y, log_d = rq_spline_from_knots(torch.tensor([1.0, 5.0]), knots, knots, torch.ones(3))
        >>> y.tolist(), log_d.abs().max().item() < 1e-6  # the identity
        ([1.0, 5.0], True)
    """
    # Imported here, so that importing the checks stays light.
    from course_lib.flows.splines import rq_spline

    tiny = 1e-12
    bound = float(knot_x[-1])
    ends = (float(knot_x[0]), float(knot_y[0]), float(knot_y[-1]))
    if ends != (-bound, -bound, bound):
        raise ValueError(
            f"the knots must span [-B, B] in x and y; got x from {float(knot_x[0])} to {bound} "
            f"and y from {float(knot_y[0])} to {float(knot_y[-1])}."
        )
    raw = []
    for knots in (knot_x, knot_y):
        share = torch.diff(knots.to(torch.float64)) / (2 * bound)
        raw.append(torch.log(share - tiny).unsqueeze(0))
    raw_d = torch.log(torch.expm1(knot_d.to(torch.float64) - tiny)).unsqueeze(0)
    points = x.to(torch.float64).reshape(-1, 1)
    y, log_derivative = rq_spline(
        points,
        raw[0],
        raw[1],
        raw_d,
        bound=bound,
        min_bin_width=tiny,
        min_bin_height=tiny,
        min_derivative=tiny,
    )
    return y.reshape(x.shape).to(x.dtype), log_derivative.reshape(x.shape).to(x.dtype)
