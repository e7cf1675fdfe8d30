r"""Sinkhorn density fitting: time per step, and a pushforward generator against a flow.

Issue #6's benchmark. Two kinds of case:

* ``step_time/batch_<B>``: one fitting step of a pushforward generator
  (:class:`course_lib.transport.PushforwardGenerator`, two hidden layers of 64) on eight
  Gaussians, with geomloss' ``SamplesLoss("sinkhorn", p=2, blur=0.05)`` on its tensorized
  backend (scaling 0.5, its default): draw ``B`` noise and ``B`` data points, forward,
  backward, Adam. Milliseconds per step are the median over ``TIMED_STEPS`` steps after
  ``WARMUP_STEPS``. On the same clouds (the first step's), the time of geomloss' value and
  gradient alone, and of :func:`course_lib.transport.sinkhorn_divergence`, the teaching
  implementation, run to convergence (marginals within 1e-4), with its iteration count and
  its difference from geomloss' value.
* ``fit/<data>``: a generator trained for ``FIT_STEPS`` steps (batch 512, Sinkhorn, blur
  0.05, Adam 3e-3), then a RealNVP (8 couplings of 64 units, the chapter's flow) trained by
  maximum likelihood (batch 512, Adam 3e-3) for the same wall time. Both are scored on
  ``TEST_SIZE`` fresh samples against as many test points (seed 1): the sliced 2-Wasserstein
  distance over ``PROJECTIONS`` random directions, each one exact
  (:func:`course_lib.transport.wasserstein2_1d` on all points), and the Sinkhorn divergence
  (blur 0.05, scaling 0.9) averaged over blocks of ``BLOCK`` points (the tensorized backend
  holds a block's cost matrices in memory). The same scores between two independent data
  samples are the floor a perfect model would reach; the flow's held-out NLL minus the
  true entropy is recorded beside them.

Times are recorded, never asserted.
"""

from __future__ import annotations

import functools
import math
import statistics
import time

import torch
from torch import Tensor, nn

from benchmarks import peers
from benchmarks.cases import Case, Diverged, Options

__all__ = ["NAME", "cases", "goals", "settings"]

NAME = "transport"
DESCRIPTION = (
    "Time per Sinkhorn-fitting step (geomloss, tensorized) at batch 512 and 2048 beside "
    "course_lib's teaching Sinkhorn, and a pushforward generator against a RealNVP trained "
    "for the same wall time, scored on fresh samples (issue #6)."
)
FULL_ONLY = False

BLUR = 0.05
SCALING = 0.5  # geomloss' default, used for training
JUDGE_SCALING = 0.9  # closer to convergence for the scores
BATCHES = (512, 2048)
QUICK_BATCHES = (512,)
WARMUP_STEPS = 2
TIMED_STEPS = 10
FIT_BATCH = 512
FIT_STEPS = 1000
QUICK_FIT_STEPS = 60
LEARNING_RATE = 3e-3
TRAIN_SIZE = 20_000
TEST_SIZE = 20_000
QUICK_TEST_SIZE = 4000
BLOCK = 2000
PROJECTIONS = 64
SEED_TRAIN, SEED_TEST, SEED_FLOOR, SEED_MODEL, SEED_SAMPLES = 0, 1, 2, 0, 3
DATASETS = {"eight_gaussians": {}, "two_moons": {"noise": 0.05}}
QUICK_DATASETS = ("eight_gaussians",)

UNITS = {
    "ms_per_step": "ms",
    "geomloss_ms": "ms",
    "course_lib_ms": "ms",
    "course_lib_iterations": "iterations",
    "course_lib_minus_geomloss": None,
    "sliced_w2": None,
    "sinkhorn": None,
    "nll_gap": "nats",
    "train_seconds": "s",
    "steps": "steps",
}


def settings(options: Options) -> dict:
    """What every case of the run shares."""
    return {
        "blur": BLUR,
        "training_scaling": SCALING,
        "judge_scaling": JUDGE_SCALING,
        "backend": "tensorized",
        "generator": "PushforwardGenerator(2, hidden_features=64, hidden_layers=2)",
        "flow": "realnvp(2, layers=8, hidden_features=64) + standardizing_affine(train)",
        "batches": list(QUICK_BATCHES if options.quick else BATCHES),
        "timed_steps": options.steps or TIMED_STEPS,
        "fit_batch": FIT_BATCH,
        "fit_steps": _fit_steps(options),
        "learning_rate": LEARNING_RATE,
        "train_size": options.train_size or TRAIN_SIZE,
        "test_size": _test_size(options),
        "block": BLOCK,
        "projections": PROJECTIONS,
        "seeds": {
            "train": SEED_TRAIN,
            "test": SEED_TEST,
            "floor": SEED_FLOOR,
            "model": SEED_MODEL,
            "samples": SEED_SAMPLES,
        },
    }


def _fit_steps(options: Options) -> int:
    return options.steps or (QUICK_FIT_STEPS if options.quick else FIT_STEPS)


def _test_size(options: Options) -> int:
    return options.test_size or (QUICK_TEST_SIZE if options.quick else TEST_SIZE)


def _draw(name: str, n: int, seed: int) -> Tensor:
    from course_lib import datasets

    return getattr(datasets, name)(n, seed=seed, **DATASETS[name])


def _generator() -> nn.Module:
    from course_lib.transport import PushforwardGenerator

    return PushforwardGenerator(2, hidden_features=64, hidden_layers=2, seed=SEED_MODEL)


def _sinkhorn(scaling: float):
    from course_lib.transport import sample_divergence

    return sample_divergence("sinkhorn", blur=BLUR, scaling=scaling)


def _timed(function) -> tuple[object, float]:
    start = time.perf_counter()
    value = function()
    return value, 1000 * (time.perf_counter() - start)


def _measure_step(batch: int, options: Options) -> dict:
    """Milliseconds per fitting step, and both Sinkhorns on the first step's clouds."""
    from course_lib.transport import sinkhorn_divergence

    data = _draw("eight_gaussians", options.train_size or TRAIN_SIZE, SEED_TRAIN)
    model = _generator()
    loss = _sinkhorn(SCALING)
    optimizer = torch.optim.Adam(model.parameters(), lr=LEARNING_RATE)
    draws = torch.Generator().manual_seed(SEED_SAMPLES)
    timed = options.steps or TIMED_STEPS
    step_ms, first = [], None
    for step in range(WARMUP_STEPS + timed):
        start = time.perf_counter()
        target = data[torch.randint(data.shape[0], (batch,), generator=draws)]
        generated = model.rsample(batch, generator=draws)
        value = loss(generated, target)
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if step >= WARMUP_STEPS:
            step_ms.append(1000 * (time.perf_counter() - start))
        if first is None:
            first = (generated.detach(), target)
        if not math.isfinite(float(value.detach())):
            raise Diverged(f"the Sinkhorn loss is {float(value.detach())} at step {step}")
    x, y = first

    def geomloss_value_and_gradient() -> float:
        points = x.clone().requires_grad_(True)
        result = loss(points, y)
        result.backward()
        return float(result.detach())

    def course_lib_value_and_gradient() -> float:
        points = x.clone().requires_grad_(True)
        result = sinkhorn_divergence(points, y, blur=BLUR)
        result.backward()
        return float(result.detach())

    reference, geomloss_ms = _timed(geomloss_value_and_gradient)
    ours, course_lib_ms = _timed(course_lib_value_and_gradient)
    iterations = _teaching_iterations(x, y)
    figures = {
        "ms_per_step": statistics.median(step_ms),
        "geomloss_ms": geomloss_ms,
        "course_lib_ms": course_lib_ms,
        "course_lib_iterations": float(iterations),
        "course_lib_minus_geomloss": ours - reference,
    }
    return {"figures": figures, "info": {"batch": batch, "timed_steps": timed}}


def _teaching_iterations(x: Tensor, y: Tensor) -> int:
    """Iterations of the cross problem OT(x, y) in the teaching Sinkhorn, to convergence."""
    from course_lib.transport import log_sinkhorn, squared_distance_cost

    log_a = torch.full((x.shape[0],), -math.log(x.shape[0]), dtype=x.dtype)
    log_b = torch.full((y.shape[0],), -math.log(y.shape[0]), dtype=y.dtype)
    with torch.no_grad():
        *_, iterations = log_sinkhorn(squared_distance_cost(x, y), log_a, log_b, BLUR**2)
    return iterations


def sliced_w2(x: Tensor, y: Tensor, projections: int = PROJECTIONS, seed: int = 0) -> float:
    r"""The sliced 2-Wasserstein distance: :math:`(\mathbb E_\theta W_2^2(\theta^\top x,
    \theta^\top y))^{1/2}` over random unit directions, each 1-D term in closed form."""
    from course_lib.transport import wasserstein2_1d

    directions = torch.randn(
        projections, x.shape[1], generator=torch.Generator().manual_seed(seed)
    )
    directions = (directions / directions.norm(dim=1, keepdim=True)).to(x.dtype)
    squares = [float(wasserstein2_1d(x @ d, y @ d)) ** 2 for d in directions]
    return math.sqrt(statistics.fmean(squares))


def _scores(samples: Tensor, test: Tensor) -> dict:
    judge = _sinkhorn(JUDGE_SCALING)
    block = min(BLOCK, samples.shape[0])
    blocks = [
        float(judge(a, b))
        for a, b in zip(samples.split(block), test.split(block), strict=True)
        if a.shape[0] == block
    ]
    return {"sliced_w2": sliced_w2(samples, test), "sinkhorn": statistics.fmean(blocks)}


def _train_realnvp(train: Tensor, seconds: float) -> tuple[nn.Module, int]:
    """RealNVP by maximum likelihood until ``seconds`` of wall time have passed."""
    from course_lib.flows import Flow, realnvp, standard_normal, standardizing_affine

    core = realnvp(2, layers=8, hidden_features=64, seed=SEED_MODEL)
    flow = Flow(standard_normal(2), [*core.transform, standardizing_affine(train)])
    optimizer = torch.optim.Adam(flow.parameters(), lr=LEARNING_RATE)
    draws = torch.Generator().manual_seed(SEED_SAMPLES)
    start, steps = time.perf_counter(), 0
    while time.perf_counter() - start < seconds:
        batch = train[torch.randint(train.shape[0], (FIT_BATCH,), generator=draws)]
        loss = -flow.log_prob(batch).mean()
        if not math.isfinite(float(loss.detach())):
            raise Diverged(f"the flow's loss is {float(loss.detach())} at step {steps}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        steps += 1
    flow.eval()
    return flow, steps


def _measure_fit(name: str, options: Options) -> dict:
    from course_lib.datasets import true_entropy
    from course_lib.transport import fit_pushforward

    train = _draw(name, options.train_size or TRAIN_SIZE, SEED_TRAIN)
    test_size = _test_size(options)
    test = _draw(name, test_size, SEED_TEST)
    steps = _fit_steps(options)
    model = _generator()
    history = fit_pushforward(
        model,
        train,
        blur=BLUR,
        scaling=SCALING,
        steps=steps,
        batch_size=FIT_BATCH,
        lr=LEARNING_RATE,
        seed=SEED_MODEL,
        progress=False,
    )
    with torch.random.fork_rng():
        torch.manual_seed(SEED_MODEL)
        flow, flow_steps = _train_realnvp(train, history.seconds)
    draws = torch.Generator().manual_seed(SEED_SAMPLES)
    with torch.no_grad():
        generated = model.sample(test_size, generator=draws)
        with torch.random.fork_rng():
            torch.manual_seed(SEED_SAMPLES)
            flow_samples = flow.sample((test_size,))
        nll = -float(torch.cat([flow.log_prob(rows) for rows in test.split(5000)]).mean())
    figures = {}
    for label, samples in (
        ("pushforward", generated),
        ("realnvp", flow_samples),
        ("floor", _draw(name, test_size, SEED_FLOOR)),
    ):
        for score, value in _scores(samples, test).items():
            figures[f"{score}/{label}"] = value
    figures |= {
        "nll_gap/realnvp": nll - true_entropy(name, **DATASETS[name]),
        "train_seconds/pushforward": history.seconds,
        "train_seconds/realnvp": history.seconds,
        "steps/pushforward": float(history.steps),
        "steps/realnvp": float(flow_steps),
    }
    info = {
        "dataset": name,
        "parameters": {
            "pushforward": peers.parameter_count(model),
            "realnvp": peers.parameter_count(flow),
        },
    }
    return {"figures": figures, "info": info}


def cases(options: Options) -> list[Case]:
    """Step times per batch size, then one fit comparison per data set."""
    batches = QUICK_BATCHES if options.quick else BATCHES
    names = QUICK_DATASETS if options.quick else tuple(DATASETS)
    return [
        Case(
            id=f"step_time/batch_{batch}",
            measure=functools.partial(_measure_step, batch, options),
            info={"kind": "step_time", "library": "geomloss", "dataset": "eight_gaussians"},
        )
        for batch in batches
    ] + [
        Case(
            id=f"fit/{name}",
            measure=functools.partial(_measure_fit, name, options),
            info={"kind": "fit", "dataset_params": DATASETS[name]},
        )
        for name in names
    ]


def _figure(results: list[dict], case: str, name: str) -> float | None:
    for result in results:
        if result["id"] == case and result["status"] == "ok":
            return result["figures"].get(name, {}).get("median")
    return None


def goals(results: list[dict]) -> list[dict]:
    """Issue #6's measurements: recorded with no target."""
    recorded = []
    for batch in BATCHES:
        case = f"step_time/batch_{batch}"
        recorded.append(
            {
                "goal": f"recorded, no target: ms per Sinkhorn-fitting step at batch {batch} "
                "(geomloss, tensorized)",
                "measured_ms": _figure(results, case, "ms_per_step"),
                "met": None,
            }
        )
    for name in DATASETS:
        case = f"fit/{name}"
        recorded.append(
            {
                "goal": f"recorded, no target: sliced W2 to {name} of the pushforward generator "
                "and of a RealNVP trained for the same wall time",
                "pushforward": _figure(results, case, "sliced_w2/pushforward"),
                "realnvp": _figure(results, case, "sliced_w2/realnvp"),
                "floor": _figure(results, case, "sliced_w2/floor"),
                "met": None,
            }
        )
    return recorded
