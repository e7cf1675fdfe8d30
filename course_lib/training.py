"""One fit loop for the whole course: device, seeding, progress, early stopping, history.

Steps are counted from 1: step ``k`` is the ``k``-th optimizer update,
``History.train_loss[k - 1]`` is the loss computed at its start, and a
validation recorded at step ``k`` scores the weights right after it.
"""

from __future__ import annotations

import contextlib
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from course_lib._validation import (
    check_positive_float,
    check_positive_int,
    check_seed,
    check_tensor,
    describe,
    format_shape,
)

__all__ = ["History", "fit", "pick_device", "seed_everything"]


def seed_everything(seed: int) -> None:
    """Seeds torch (CPU and CUDA), NumPy and Python's ``random`` at once.

    This is the only function of ``course_lib`` that touches global random
    state; a chapter calls it once, in its first code cell. Everything else
    takes a ``seed`` argument.

    Args:
        seed: An integer in ``[0, 2**32 - 1]`` (NumPy's limit).

    Raises:
        TypeError: If ``seed`` is not an integer.
        ValueError: If ``seed`` is out of range.

    Example:
        >>> seed_everything(0)
        >>> a = torch.rand(3)
        >>> seed_everything(0)
        >>> torch.equal(a, torch.rand(3))
        True
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(
            f"seed must be an int; got {describe(seed)}. Pass an integer such as seed=0."
        )
    seed = int(seed)
    if not 0 <= seed < 2**32:
        raise ValueError(
            f"seed must be between 0 and 2**32 - 1 (NumPy's limit); got {seed}. "
            "Pass a smaller non-negative integer such as seed=0."
        )
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def pick_device(device: str | torch.device | None = None, *tensors: Tensor) -> torch.device:
    """Chooses where to compute: the explicit argument, else the data's device.

    The rule, in order: ``device`` if given; else the device of ``tensors``,
    which must all agree; else CUDA if available; else the CPU.

    Args:
        device: An explicit choice such as ``"cpu"``, ``"cuda"`` or
            ``torch.device("cuda", 1)``, or ``None``.
        tensors: Tensors whose device decides when ``device`` is ``None``.

    Returns:
        The device.

    Raises:
        TypeError: If ``device`` or one of ``tensors`` has the wrong type.
        ValueError: If ``device`` names no device, asks for an unavailable
            CUDA device, or the tensors sit on different devices.

    Example:
        >>> pick_device("cpu")
        device(type='cpu')
        >>> pick_device(None, torch.zeros(3), torch.ones(2))
        device(type='cpu')
    """
    for i, t in enumerate(tensors):
        if not isinstance(t, Tensor):
            raise TypeError(f"tensors[{i}] must be a torch.Tensor; got {describe(t)}.")
    if device is not None:
        if not isinstance(device, str | torch.device):
            raise TypeError(
                f"device must be a str, a torch.device or None; got {describe(device)}. "
                "Pass e.g. device='cpu' or device='cuda'."
            )
        try:
            device = torch.device(device)
        except RuntimeError as error:
            raise ValueError(
                f"device must name a torch device such as 'cpu' or 'cuda:0'; got {device!r}."
            ) from error
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(
                f"device is {str(device)!r} but torch.cuda.is_available() is False. "
                "Pass device=None to choose automatically, or device='cpu'."
            )
        return device
    devices = {t.device for t in tensors}
    if len(devices) > 1:
        found = ", ".join(sorted(str(d) for d in devices))
        raise ValueError(
            f"the tensors sit on different devices ({found}); expected one device. "
            "Move them together first, e.g. t.to('cpu'), or pass device= explicitly."
        )
    if devices:
        return devices.pop()
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


@dataclass
class History:
    """What happened during :func:`fit`.

    Attributes:
        train_loss: Training loss at each optimizer step, one float per step.
        val_loss: Validation loss at each evaluation.
        val_steps: Step (counted from 1) after which each validation ran.
        best_step: Step of the lowest validation loss, or ``None`` without
            validation data.
        best_val_loss: The lowest validation loss, or ``None``.
        stopped_early: Whether early stopping ended the run before its budget.
        steps: Number of optimizer steps taken.
        seconds: Wall-clock duration of the run.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    val_steps: list[int] = field(default_factory=list)
    best_step: int | None = None
    best_val_loss: float | None = None
    stopped_early: bool = False
    steps: int = 0
    seconds: float = 0.0


class _Source:
    """Training or validation data in one of the accepted forms, batched on demand."""

    def __init__(self, name: str, data: Any, batch_size: int | None) -> None:
        self.name = name
        self.tensors: tuple[Tensor, ...] = ()
        self.batch_size = batch_size
        self.iterable: Iterable | None = None
        if isinstance(data, Tensor):
            data = (data,)
        if isinstance(data, tuple):
            if not data:
                raise ValueError(f"{name} is an empty tuple; expected at least one tensor.")
            for i, t in enumerate(data):
                check_tensor(f"{name}[{i}]", t)
                if t.ndim == 0:
                    raise ValueError(
                        f"{name}[{i}] must have a first (batch) dimension; got a 0-D tensor. "
                        f"Use {name}[{i}].reshape(1) for a single example."
                    )
            sizes = [t.shape[0] for t in data]
            if len(set(sizes)) > 1:
                shapes = ", ".join(format_shape(t.shape) for t in data)
                raise ValueError(
                    f"the tensors in {name} must share their first (batch) dimension; got "
                    f"shapes {shapes}. Pass tensors with one row per example."
                )
            if sizes[0] == 0:
                raise ValueError(f"{name} holds no examples (the batch dimension is 0).")
            self.tensors = data
            return
        if batch_size is not None:
            raise ValueError(
                f"batch_size applies only to tensor data; {name} is {describe(data)}. "
                "Set the batch size on the DataLoader instead, and pass batch_size=None."
            )
        if not isinstance(data, Iterable) or isinstance(data, str | bytes | dict):
            raise TypeError(
                f"{name} must be a Tensor, a tuple of Tensors, or a DataLoader (or another "
                f"re-iterable of batches); got {describe(data)}."
            )
        if iter(data) is data:
            raise TypeError(
                f"{name} is a one-shot iterator ({describe(data)}), which would be exhausted "
                "after the first epoch. Pass a list of batches or a DataLoader instead."
            )
        self.iterable = data

    @property
    def size(self) -> int:
        return self.tensors[0].shape[0]

    def batches_per_epoch(self) -> int | None:
        """Number of batches in one pass, or ``None`` when the iterable has no length."""
        if self.iterable is None:
            if self.batch_size is None:
                return 1
            return math.ceil(self.size / self.batch_size)
        try:
            return len(self.iterable)  # type: ignore[arg-type]
        except TypeError:
            return None

    def epoch(self, generator: torch.Generator) -> Iterator[tuple]:
        """Yields the batches of one pass over the data."""
        if self.iterable is not None:
            for batch in self.iterable:
                yield batch if isinstance(batch, tuple | list) else (batch,)
            return
        if self.batch_size is None:
            yield self.tensors
            return
        # The permutation is drawn on the CPU generator, so every device sees the same order.
        order = torch.randperm(self.size, generator=generator)
        for start in range(0, self.size, self.batch_size):
            index = order[start : start + self.batch_size]
            yield tuple(t[index.to(t.device)] for t in self.tensors)

    def stream(self, generator: torch.Generator, epochs: int | None) -> Iterator[tuple]:
        """Yields batches for ``epochs`` passes, or forever when ``epochs`` is ``None``."""
        done = 0
        while epochs is None or done < epochs:
            empty = True
            for batch in self.epoch(generator):
                empty = False
                yield batch
            if empty:
                raise ValueError(f"{self.name} yielded no batches; expected at least one.")
            done += 1


def _to_device(batch: tuple | list, device: torch.device) -> tuple:
    return tuple(b.to(device) if isinstance(b, Tensor) else b for b in batch)


def _check_loss(loss: object, step: int) -> Tensor:
    if not isinstance(loss, Tensor):
        raise TypeError(
            f"loss_fn must return a scalar torch.Tensor; got {describe(loss)} at step {step}. "
            "Return the tensor itself, without .item()."
        )
    if loss.ndim != 0:
        raise ValueError(
            f"loss_fn must return a scalar tensor (shape ()); got shape "
            f"{format_shape(loss.shape)} at step {step}. Reduce it, e.g. with .mean()."
        )
    return loss


def _make_optimizer(
    optimizer: torch.optim.Optimizer | Callable | None, model: nn.Module, lr: float
) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError(
            "model has no trainable parameters (none with requires_grad=True); "
            "nothing to fit."
        )
    if optimizer is None:
        return torch.optim.Adam(params, lr=check_positive_float("lr", lr))
    if isinstance(optimizer, torch.optim.Optimizer):
        known = {id(p) for p in model.parameters()}
        if any(id(p) not in known for group in optimizer.param_groups for p in group["params"]):
            raise ValueError(
                "optimizer holds parameters that are not the model's (was it built for another "
                "model, or before the model was recreated?). Build it from model.parameters(), "
                "or pass a factory such as lambda params: torch.optim.SGD(params, lr=0.1)."
            )
        return optimizer
    if callable(optimizer):
        built = optimizer(params)
        if not isinstance(built, torch.optim.Optimizer):
            raise TypeError(
                "optimizer, when callable, must return a torch.optim.Optimizer; got "
                f"{describe(built)}. Pass e.g. lambda params: torch.optim.SGD(params, lr=0.1)."
            )
        return built
    raise TypeError(
        "optimizer must be None, a torch.optim.Optimizer or a callable params -> "
        f"Optimizer; got {describe(optimizer)}."
    )


def _evaluate(
    model: nn.Module, loss_fn: Callable, source: _Source, device: torch.device, step: int
) -> float:
    """Mean validation loss, weighting batches by their size, in eval mode without gradients."""
    model.eval()
    try:
        with torch.no_grad():
            if source.iterable is None:
                batch = _to_device(source.tensors, device)
                return float(_check_loss(loss_fn(model, *batch), step))
            total, count = 0.0, 0
            for batch in source.iterable:
                batch = batch if isinstance(batch, tuple | list) else (batch,)
                first = next((b for b in batch if isinstance(b, Tensor) and b.ndim > 0), None)
                size = 1 if first is None else first.shape[0]
                loss = _check_loss(loss_fn(model, *_to_device(batch, device)), step)
                total += float(loss) * size
                count += size
            if count == 0:
                raise ValueError("val_data yielded no batches; expected at least one.")
            return total / count
    finally:
        model.train()


def _rng_devices(device: torch.device) -> list[int]:
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def fit(
    model: nn.Module,
    loss_fn: Callable[..., Tensor],
    data: Any,
    *,
    val_data: Any = None,
    optimizer: torch.optim.Optimizer | Callable | None = None,
    lr: float = 1e-3,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    device: str | torch.device | None = None,
    seed: int | torch.Generator | None = None,
    patience: int | None = None,
    eval_every: int = 1,
    progress: bool = True,
    restore_best: bool = True,
    grad_clip: float | None = None,
) -> History:
    """Minimizes ``loss_fn(model, *batch)`` over the model's parameters.

    Data come as a tensor, a tuple of tensors sharing their first (batch)
    dimension, or a re-iterable of batches such as a ``DataLoader`` or a list
    (each batch a tensor or a tuple/list of tensors). With tensors and
    ``batch_size=None`` every step sees all the data, so one epoch is one step;
    with ``batch_size`` the rows are reshuffled every epoch with a generator
    drawn from ``seed`` (the last batch may be smaller).

    Each optimizer step calls ``optimizer.step(closure)``, so optimizers that
    evaluate the loss several times per step, such as ``torch.optim.LBFGS``,
    work too; the recorded loss is the one at the start of the step.

    With ``val_data`` (same forms as ``data``), the model is scored under
    ``torch.no_grad()`` and ``model.eval()`` every ``eval_every`` steps and
    after the last one; ``patience`` stops the run after that many evaluations
    in a row without a new best, and ``restore_best`` reloads the weights of the
    best evaluation (with or without ``patience``).

    Args:
        model: The module to train; it is moved to the chosen device.
        loss_fn: Called as ``loss_fn(model, *batch)``; returns a scalar tensor.
        data: Training data, in one of the forms above.
        val_data: Validation data for early stopping and model selection.
        optimizer: ``None`` for ``torch.optim.Adam(lr=lr)``; a callable taking
            the trainable parameters and returning an optimizer; or a built
            optimizer over the model's parameters (``lr`` is then ignored).
        lr: Learning rate of the default Adam optimizer.
        steps: Number of optimizer steps. Give exactly one of ``steps`` and
            ``epochs``.
        epochs: Number of passes over ``data``.
        batch_size: Rows per batch for tensor data; ``None`` for full batches.
        device: Where to compute; see :func:`pick_device` (the data's device
            when ``None``). Each batch is moved there.
        seed: Makes the run repeat exactly: shuffling and every draw from
            torch's global generator (dropout, a shuffling DataLoader) happen
            inside ``torch.random.fork_rng`` seeded from it, so the caller's
            random state is left untouched. ``None`` uses the global state.
        patience: Evaluations without improvement before stopping; needs
            ``val_data``.
        eval_every: Steps between evaluations.
        progress: Whether to show a tqdm progress bar with the current loss.
            Graded cells pass ``False``: nbgrader scores any stderr output zero.
        restore_best: Whether to reload the best validation weights at the end.
        grad_clip: Maximal total gradient norm, or ``None`` for no clipping.

    Returns:
        The :class:`History` of the run. The model is left in eval mode.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If arguments are inconsistent (e.g. both ``steps`` and
            ``epochs``) or data are malformed.
        FloatingPointError: If a training or validation loss is not finite;
            the message names the step.

    Example:
        >>> x = torch.linspace(-1, 1, 32).unsqueeze(-1)
        >>> y = 3 * x + 1
        >>> model = nn.Linear(1, 1)
        >>> def mse(model, x, y):
        ...     return ((model(x) - y) ** 2).mean()
        >>> history = fit(model, mse, (x, y), lr=0.1, steps=300, seed=0, progress=False)
        >>> history.steps, history.train_loss[-1] < 1e-4
        (300, True)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {describe(model)}.")
    if not callable(loss_fn):
        raise TypeError(
            f"loss_fn must be callable as loss_fn(model, *batch); got {describe(loss_fn)}."
        )
    if (steps is None) == (epochs is None):
        raise ValueError(
            f"give exactly one of steps and epochs; got steps={steps!r} and epochs={epochs!r}."
        )
    if steps is not None:
        steps = check_positive_int("steps", steps)
    if epochs is not None:
        epochs = check_positive_int("epochs", epochs)
    if batch_size is not None:
        batch_size = check_positive_int("batch_size", batch_size)
    eval_every = check_positive_int("eval_every", eval_every)
    if patience is not None:
        patience = check_positive_int("patience", patience)
        if val_data is None:
            raise ValueError(
                "patience needs val_data to measure improvement; pass val_data=... "
                "or patience=None."
            )
    if grad_clip is not None:
        grad_clip = check_positive_float("grad_clip", grad_clip)

    train = _Source("data", data, batch_size)
    val = None if val_data is None else _Source("val_data", val_data, None)
    device = pick_device(device, *train.tensors, *(val.tensors if val is not None else ()))
    generator = check_seed(seed)
    model.to(device)
    # Tensor data move once, not at every step.
    for source in (train, val):
        if source is not None:
            source.tensors = tuple(t.to(device) for t in source.tensors)
    opt = _make_optimizer(optimizer, model, lr)

    if steps is not None:
        total: int | None = steps
    else:
        per_epoch = train.batches_per_epoch()
        total = None if per_epoch is None else epochs * per_epoch

    history = History()
    best_state: dict[str, Tensor] | None = None
    since_best = 0
    bar = None
    start = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if seed is not None:
            stack.enter_context(torch.random.fork_rng(devices=_rng_devices(device)))
            global_seed = int(torch.randint(0, 2**62, (), generator=generator))
            torch.default_generator.manual_seed(global_seed)
            if device.type == "cuda":
                with torch.cuda.device(device):
                    torch.cuda.manual_seed(global_seed)
        if progress:
            from tqdm.auto import tqdm  # imported on demand: it may pull in ipywidgets

            bar = stack.enter_context(tqdm(total=total, unit="step", dynamic_ncols=True))
        model.train()
        try:
            batches = train.stream(generator, epochs)
            if steps is not None:
                batches = islice(batches, steps)
            for step, batch in enumerate(batches, start=1):
                batch = _to_device(batch, device)
                losses: list[float] = []
                closure = _closure(model, loss_fn, opt, batch, step, grad_clip, losses)
                opt.step(closure)
                if not losses:
                    raise TypeError(
                        f"optimizer.step did not call its closure at step {step}; fit needs a "
                        "torch.optim.Optimizer whose step(closure) evaluates the closure."
                    )
                history.train_loss.append(losses[0])
                history.steps = step
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix_str(f"loss {losses[0]:.4g}", refresh=False)

                if val is not None and step % eval_every == 0:
                    improved = _record_validation(history, model, loss_fn, val, device, step)
                    if improved:
                        since_best = 0
                        if restore_best:
                            best_state = _copy_state(model)
                    else:
                        since_best += 1
                    if bar is not None:
                        bar.set_postfix_str(
                            f"loss {losses[0]:.4g}, val {history.val_loss[-1]:.4g}",
                            refresh=False,
                        )
                    if patience is not None and since_best >= patience:
                        history.stopped_early = total is None or step < total
                        break
            else:
                # The budget ran out between evaluations: score the final weights too.
                last = history.steps
                if val is not None and last and history.val_steps[-1:] != [last]:
                    improved = _record_validation(history, model, loss_fn, val, device, last)
                    if improved and restore_best:
                        best_state = _copy_state(model)
            if restore_best and best_state is not None:
                model.load_state_dict(best_state)
        finally:
            history.seconds = time.perf_counter() - start
            model.eval()
    return history


def _closure(
    model: nn.Module,
    loss_fn: Callable,
    opt: torch.optim.Optimizer,
    batch: tuple,
    step: int,
    grad_clip: float | None,
    losses: list[float],
) -> Callable[[], Tensor]:
    """The closure of one optimizer step; the first loss it computes lands in ``losses``."""

    def closure() -> Tensor:
        opt.zero_grad(set_to_none=True)
        loss = _check_loss(loss_fn(model, *batch), step)
        if not losses:
            value = float(loss.detach())
            if not math.isfinite(value):
                raise FloatingPointError(
                    f"loss is {value} at step {step}; lower lr or check the data."
                )
            losses.append(value)
        if not loss.requires_grad:
            raise ValueError(
                "loss_fn returned a tensor that does not depend on the model's parameters "
                "(requires_grad is False); compute it from model(...)."
            )
        loss.backward()
        if grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
        return loss

    return closure


def _record_validation(
    history: History,
    model: nn.Module,
    loss_fn: Callable,
    val: _Source,
    device: torch.device,
    step: int,
) -> bool:
    """Evaluates, appends to the history, and says whether this is a new best."""
    value = _evaluate(model, loss_fn, val, device, step)
    if not math.isfinite(value):
        raise FloatingPointError(
            f"validation loss is {value} at step {step}; lower lr or check val_data."
        )
    history.val_loss.append(value)
    history.val_steps.append(step)
    if history.best_val_loss is None or value < history.best_val_loss:
        history.best_val_loss = value
        history.best_step = step
        return True
    return False


def _copy_state(model: nn.Module) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
