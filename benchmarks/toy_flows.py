r"""Flows on toy data: held-out NLL minus the true entropy, and time per training step.

Issue #3's benchmark, with the peers of issue #11 side by side. For each data set
(two moons with noise 0.05, eight Gaussians, the checkerboard) and each model
(course_lib's RealNVP, planar flow, MAF, spline coupling and CNF; nflows' MAF; Pyro's spline
coupling; zuko's MAF and NSF; normflows' RealNVP), in one process, with the same data,
seeds, step budget, optimiser and thread count:

1. draw ``TRAIN_SIZE`` training points (seed 0) and 20,000 test points (seed 1);
2. build the model (seed 0) ending in a standardisation of the training data, as the
   chapter on planar flows and RealNVP does;
3. train it by maximum likelihood with Adam and a cosine learning-rate decay, on
   mini-batches drawn with replacement from a generator seeded with 0;
4. score the test points: the gap

   .. math:: \text{NLL} - H(p) = -\frac1n\sum_i \log q(x_i) - H(p)
             \approx \mathrm{KL}(p\,\|\,q) \ge 0

   uses the generator's exact entropy (:func:`course_lib.datasets.true_entropy`).
   The paired estimate :math:`\frac1n\sum_i [\log p(x_i) - \log q(x_i)]` of the same KL,
   with the exact density, has a much smaller standard error and is recorded beside it.

Every model gets the same number of steps and learning rate, chosen so that each fits in
60 s on one thread of the reference machine, except the planar flow: its steps solve a root
search per layer, and its few parameters want a larger learning rate, so it has its own
step budget and rate. Times are recorded, never asserted.
"""

from __future__ import annotations

import copy
import functools
import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from benchmarks import peers
from benchmarks.cases import Case, CaseSkipped, Diverged, Options, TooSlow

__all__ = ["DATASETS", "MODELS", "NAME", "cases", "goals", "settings"]

NAME = "toy_flows"
DESCRIPTION = (
    "Held-out NLL minus the true entropy (nats) and time per step of flows trained on toy "
    "data, course_lib beside peer libraries (issues #3 and #11)."
)
FULL_ONLY = False

TRAIN_SIZE = 100_000
TEST_SIZE = 20_000
SEED_TRAIN, SEED_TEST, SEED_MODEL, SEED_BATCHES = 0, 1, 0, 0
BATCH_SIZE = 512
LEARNING_RATE = 3e-3
STEPS = 3000
# A planar step solves a root search in each layer: fewer steps fit the time budget, and its
# 80 parameters want a larger learning rate: 3e-2 gave gaps of 0.25, 0.06 and 0.39 nats (eight
# Gaussians, two moons, checkerboard) where 1e-2 gave 0.55, 0.16 and 0.54, at about 1.1x the
# time per step (the root searches take a little longer).
PLANAR_STEPS = 2000
PLANAR_LEARNING_RATE = 3e-2
# A CNF step integrates an ODE (dopri5: some 40 to 60 evaluations of its dynamics, each with
# one backward pass per feature for the exact trace): fewer steps fit the time budget.
CNF_STEPS = 400
TIME_BUDGET_SECONDS = 60.0
# A case still training after this long is stopped and recorded as too slow (the machine is
# oversubscribed or the settings are wrong); the rest of the run goes on.
HARD_LIMIT_SECONDS = 240.0
TIMING_BLOCK = 50  # steps per timing block; ms per step is the median over blocks
GOAL_NATS = 0.05
# Issue #11: every course_lib flow against the best and the fastest peer of its family.
PEER_NLL_SLACK = 0.02
PEER_TIME_RATIO = 1.2
# Issue #5's goal: the training time the CNF needs to reach the held-out NLL that course_lib's
# RealNVP reaches in STEPS steps on two moons, over RealNVP's training time (the report the
# course grew from measured about 18x for its CNF). The CNF trains on a fixed RK4 grid (cheap
# steps) and is scored every TARGET_CHECK_EVERY steps with dopri5, untimed, which a model that
# exploits the grid cannot fool; it trains for TARGET_STEPS steps (or
# TARGET_HARD_LIMIT_SECONDS).
# Focused runs on the 2-core machine under load 1-12 (RealNVP's NLL, the target, 0.2950 to
# 0.2963, 0.006-0.007 nats above the entropy, in 38-69 s). Exact trace (autograd), RK4 step
# 0.25, lr 1e-2, 3000 steps: 0.3037 (best 0.3031), ratio at least 2.0; lr 3e-3 0.013 short;
# 5000 steps worse. With the trace computed beside the dynamics (trace="forward", about 1.5x
# faster per step) and an exponential moving average of the weights (decay 0.999) scored:
# step 0.25 throughout 0.3032 at 3000 steps; 4500 steps peaked at 0.3037 (step 2250) and rose
# to 0.3219, as did a grid drawn at random from steps 0.2, 0.25 and 1/3 (0.3055 at step 1000,
# 0.3190 at 2000): the coarse grid limits the model, not the optimiser. Step 0.5 diverged;
# concat-squash dynamics trailed concat (0.3360 against 0.3083 at step 1200). A finer grid
# late in training helps: step 0.25 then 1/6 from step 1500 gave 0.2995 at 3000 steps (1/8:
# 0.2988); 4500 steps with 1/6 from step 2250 0.2987 at best (flat from step 3100), 0.0037
# short of 0.2950, in 139 s against RealNVP's 38 s (ratio at least 3.7, load 3.4). The
# settings below (3600 steps, 1/6 from step 1800): 0.2981 at the end, 0.0031 short, in 104 s
# against RealNVP's 26 s (ratio at least 4.0; 30.5 and 8.6 ms per step; load 1.2-2.8).
TARGET_DATASET = "two_moons"
TARGET_RATIO = 3.0
TARGET_STEPS = 3600
TARGET_CHECK_EVERY = 100
TARGET_CNF = {
    "dynamics": "concat",
    "hidden_features": 64,
    "hidden_layers": 2,
    "step_size": 0.25,
    "trace": "forward",
}
TARGET_LEARNING_RATE = 1e-2
TARGET_TOLERANCE = 1e-5
TARGET_EMA_DECAY = 0.999
# Past any ratio of interest (3x a RealNVP training of 60-120 s on a loaded machine).
TARGET_HARD_LIMIT_SECONDS = 2 * HARD_LIMIT_SECONDS
# (step, step size): a finer RK4 grid from that step on, or None.
TARGET_FINE_GRID: tuple[int, float] | None = (1800, 1 / 6)

UNITS = {
    "nll": "nats",
    "nll_gap": "nats",
    "nll_standard_error": "nats",
    "kl_paired": "nats",
    "kl_paired_standard_error": "nats",
    "ms_per_step": "ms",
    "seconds_per_1000_steps": "s",
    "train_seconds": "s",
    "eval_seconds": "s",
    "final_train_loss": "nats",
}


@dataclass(frozen=True)
class Dataset:
    """A toy generator, its parameters, and the name under which true_entropy knows it."""

    name: str
    label: str
    params: dict = field(default_factory=dict)

    def draw(self, n: int, seed: int) -> Tensor:
        from course_lib import datasets

        return getattr(datasets, self.name)(n, seed=seed, **self.params)


DATASETS = (
    Dataset("two_moons", "two moons", {"noise": 0.05}),
    Dataset("eight_gaussians", "8 gaussians"),
    Dataset("checkerboard", "checkerboard"),
)


def _course_flow(factory: str, train: Tensor, **config) -> nn.Module:
    """``course_lib.flows.<factory>(2, **config)``, ending in the frozen standardisation of
    ``train`` (as the peers do)."""
    from course_lib import flows

    core = getattr(flows, factory)(2, seed=SEED_MODEL, **config)
    return flows.Flow(
        flows.standard_normal(2), [*core.transform, flows.standardizing_affine(train)]
    )


def _course_cnf(train: Tensor, *, tolerance: float, **config) -> nn.Module:
    """The CNF, integrated by dopri5 at ``tolerance`` (relative and absolute)."""
    return _course_flow("cnf", train, method="dopri5", rtol=tolerance, atol=tolerance, **config)


def _function_evaluations(flow: nn.Module) -> int | None:
    """Evaluations of the ODE dynamics counted by a continuous flow; ``None`` for others."""
    from course_lib.flows import ContinuousTransform

    counts = [m.nfe for m in flow.modules() if isinstance(m, ContinuousTransform)]
    return sum(counts) if counts else None


@dataclass(frozen=True)
class Model:
    """One model of the comparison: who implements it, how it is built, its step budget."""

    key: str
    library: str
    label: str
    build: Callable[..., nn.Module]
    config: dict
    steps: int = STEPS
    lr: float = LEARNING_RATE

    @property
    def family(self) -> str | None:
        """The models it is compared with for issue #11's goals: affine or spline flows.

        The planar flow and the CNF have no counterpart in the peer libraries.
        """
        if self.label in ("planar", "CNF"):
            return None
        return "spline" if "bins" in self.config else "affine"


# Affine flows (coupling or, in two dimensions equivalently, autoregressive) share one size:
# 12 layers, each network two hidden layers of 64. Spline flows are more expressive per layer
# and slower per step: 3 layers (zuko's default), 8 bins.
_AFFINE = {"layers": 12, "hidden_features": 64}
# course_lib's RealNVP: 24 couplings of width 32, log-scales bounded at 3 (the default), the
# only size tried that keeps issue #3's goal (within 0.05 nats of the entropy on the eight
# Gaussians), at about 1.28x normflows' time per step. At normflows' size (12 x 64, 53,016
# parameters) course_lib's RealNVP runs at normflows' speed (1.01x) and, with its log-scales
# bounded at 7 (zuko's MAF clips them softly near log 1000 = 6.9, normflows not at all), is
# within 0.02 nats of it on the checkerboard, but 0.067 nats above the entropy on the eight
# Gaussians. Time per step is set by the number of layers (Adam's per-tensor work and the
# small matrix products of a batch of 512). Focused runs, NLL gaps in nats (the
# seeds are fixed, so a run repeats exactly); time per step as the fastest of 20 interleaved
# blocks of 10 steps beside normflows' RealNVP on the same process, load about 2.5:
#   couplings x width  bound  two moons  8 gaussians  checkerboard  time / normflows
#   12 x 64            3                 0.069        0.100         1.01
#   12 x 64            5                 0.063        0.100
#   12 x 64            7      0.006      0.067        0.085         1.01
#   14 x 64            3                 0.057        0.094         1.09
#   14 x 64            7                 0.052        0.138
#   16 x 48            3                 0.050        0.129         1.11
#   16 x 48            7                 0.104        0.141
#   24 x 32            3      0.007      0.047        0.111         1.28
# Close settings differ by up to 0.05 nats (one seed, and an affine flow bends a checkerboard
# with difficulty): the gaps are noisy to a few hundredths. Below 0.05 nats on the eight
# Gaussians (issue #3) only 24 couplings of width 32 came (16 of width 48: 0.050), at 1.28x.
_COURSE_REALNVP = {"layers": 24, "hidden_features": 32}
# course_lib's MAF keeps _AFFINE and the bound of 3: at 7 its gaps were 0.027 (two moons),
# 0.074 (eight Gaussians) and 0.117 (checkerboard) against 0.006, 0.085 and 0.107; 14 layers
# at 7 gave 0.095 on the eight Gaussians. Its time per step is about normflows' (1.05x).
_SPLINE = {"layers": 3, "hidden_features": 64, "bins": 8}
# course_lib's spline coupling: in two dimensions a coupling layer transforms one feature
# and an autoregressive layer both (the first without a network), so it gets 4 layers to
# zuko's 3 (6 fit better by 0.002 nats on the two moons but cost 1.3x zuko's step time);
# zuko's bound of 5, in standard units.
_SPLINE_COUPLING = {
    "layers": 4,
    "hidden_features": 64,
    "bins": 8,
    "bound": 5.0,
    "kind": "coupling",
}

# The order is the order of the run: zuko last, because importing it changes torch's
# defaults (see benchmarks.peers).
MODELS = (
    Model(
        "course_lib-realnvp",
        "course_lib",
        "RealNVP",
        functools.partial(_course_flow, "realnvp"),
        _COURSE_REALNVP,
    ),
    Model(
        "course_lib-planar",
        "course_lib",
        "planar",
        functools.partial(_course_flow, "planar_flow"),
        {"layers": 16},
        steps=PLANAR_STEPS,
        lr=PLANAR_LEARNING_RATE,
    ),
    Model("course_lib-maf", "course_lib", "MAF", functools.partial(_course_flow, "maf"), _AFFINE),
    Model(
        "course_lib-nsf",
        "course_lib",
        "NSF (coupling)",
        functools.partial(_course_flow, "neural_spline_flow"),
        _SPLINE_COUPLING,
    ),
    # The report's dynamics (a hypernetwork of t gives the weights of planar units) and the
    # exact trace. Adaptive steps: trained on a fixed rk4 grid of 4 steps, the CNF learns to
    # exploit the grid's error (its test NLL on that grid fell below the entropy, while a
    # tight dopri5 solve of the same model scored 1.3 nats above it).
    Model(
        "course_lib-cnf",
        "course_lib",
        "CNF",
        _course_cnf,
        {"dynamics": "hyper", "width": 32, "hidden_features": 32, "tolerance": 1e-4},
        steps=CNF_STEPS,
    ),
    Model("nflows-maf", "nflows", "MAF", peers.nflows_maf, _AFFINE),
    Model(
        "pyro-spline_coupling",
        "pyro",
        "spline coupling",
        peers.pyro_spline_coupling,
        _SPLINE,
    ),
    Model("normflows-realnvp", "normflows", "RealNVP", peers.normflows_realnvp, _AFFINE),
    Model("zuko-maf", "zuko", "MAF", peers.zuko_maf, _AFFINE),
    Model("zuko-nsf", "zuko", "NSF", peers.zuko_nsf, _SPLINE),
)

# QUICK runs the two moons only: every model once, a few minutes in all.
QUICK_DATASETS = ("two_moons",)


def settings(options: Options) -> dict:
    """What every case of the run shares."""
    return {
        "train_size": options.train_size or TRAIN_SIZE,
        "test_size": options.test_size or TEST_SIZE,
        "seeds": {
            "train": SEED_TRAIN,
            "test": SEED_TEST,
            "model": SEED_MODEL,
            "batches": SEED_BATCHES,
        },
        "batch_size": BATCH_SIZE,
        "optimizer": "Adam",
        "learning_rate": LEARNING_RATE,
        "planar_learning_rate": PLANAR_LEARNING_RATE,
        "schedule": "cosine decay to 0 over the steps",
        "steps": options.steps or STEPS,
        "planar_steps": options.steps or PLANAR_STEPS,
        "cnf_steps": options.steps or CNF_STEPS,
        "time_budget_seconds": TIME_BUDGET_SECONDS,
        "timing_block_steps": TIMING_BLOCK,
        "goal_nats": GOAL_NATS,
        "preprocessing": "every model ends in a frozen standardisation of the training data",
        "note": (
            "zuko sets torch.distributions.Distribution._validate_args = False when imported; "
            "its cases run last so that the others run under torch's defaults."
        ),
    }


@functools.lru_cache(maxsize=8)
def _data(name: str, train_size: int, test_size: int) -> tuple[Tensor, Tensor, float, Tensor]:
    """Training and test points, the true entropy, and the exact log-density of the test points."""
    from course_lib.datasets import ToyDistribution, true_entropy

    dataset = next(d for d in DATASETS if d.name == name)
    train = dataset.draw(train_size, SEED_TRAIN)
    test = dataset.draw(test_size, SEED_TEST)
    entropy = true_entropy(name, **dataset.params)
    log_p = ToyDistribution(name, **dataset.params).log_prob(test.double())
    return train, test, entropy, log_p


def _train(model: nn.Module, train: Tensor, *, steps: int, batch_size: int, lr: float) -> dict:
    """Adam with a cosine decay on mini-batches drawn with replacement; times each block."""
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(parameters, lr=lr)
    schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
    generator = torch.Generator().manual_seed(SEED_BATCHES)
    block_ms: list[float] = []
    model.train()
    start = block_start = time.perf_counter()
    loss_value = math.nan
    for step in range(1, steps + 1):
        batch = train[torch.randint(train.shape[0], (batch_size,), generator=generator)]
        loss = -model.log_prob(batch).mean()
        loss_value = float(loss.detach())
        if not math.isfinite(loss_value):
            raise Diverged(f"training loss is {loss_value} at step {step}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % TIMING_BLOCK == 0 or step == steps:
            now = time.perf_counter()
            done_in_block = (step - 1) % TIMING_BLOCK + 1
            block_ms.append(1000 * (now - block_start) / done_in_block)
            block_start = now
            if now - start > HARD_LIMIT_SECONDS:
                raise TooSlow(
                    f"stopped after {step} of {steps} steps and {now - start:.0f} s "
                    f"(limit {HARD_LIMIT_SECONDS:.0f} s): the machine is oversubscribed"
                )
    seconds = time.perf_counter() - start
    model.eval()
    return {
        "train_seconds": seconds,
        "ms_per_step": statistics.median(block_ms),
        "seconds_per_1000_steps": 1000 * seconds / steps,
        "final_train_loss": loss_value,
    }


def _evaluate(model: nn.Module, test: Tensor, entropy: float, log_p: Tensor) -> dict:
    start = time.perf_counter()
    with torch.no_grad():
        log_q = torch.cat([model.log_prob(rows) for rows in test.split(5000)]).double()
    if not bool(torch.isfinite(log_q).all()):
        raise Diverged("the trained model gives a non-finite log-density to a test point")
    n = log_q.numel()
    difference = log_p - log_q
    nll = float(-log_q.mean())
    return {
        "nll": nll,
        "nll_gap": nll - entropy,
        "nll_standard_error": float(log_q.std() / math.sqrt(n)),
        "kl_paired": float(difference.mean()),
        "kl_paired_standard_error": float(difference.std() / math.sqrt(n)),
        "eval_seconds": time.perf_counter() - start,
    }


def _measure(model: Model, dataset: Dataset, options: Options) -> dict:
    train_size = options.train_size or TRAIN_SIZE
    test_size = options.test_size or TEST_SIZE
    steps = options.steps or model.steps
    train, test, entropy, log_p = _data(dataset.name, train_size, test_size)
    with torch.random.fork_rng():
        torch.manual_seed(SEED_MODEL)
        try:
            flow = model.build(train, **model.config)
        except ModuleNotFoundError as error:
            raise CaseSkipped(f"{model.library} is not installed ({error.name})") from error
        try:
            figures = _train(flow, train, steps=steps, batch_size=BATCH_SIZE, lr=model.lr)
            evaluations = _function_evaluations(flow)
            figures |= _evaluate(flow, test, entropy, log_p)
        except (FloatingPointError, RuntimeError, ValueError) as error:
            # The model itself broke down (a non-finite value its checks caught, an inverse
            # that no longer converges): an outcome of these settings, recorded as such.
            raise Diverged(f"{type(error).__name__}: {error}") from error
    info = {
        "steps": steps,
        "learning_rate": model.lr,
        "parameters": peers.parameter_count(flow),
        "true_entropy": entropy,
    }
    if evaluations is not None:
        # Forward solves only: backpropagation goes through the solver's steps.
        info["function_evaluations_per_step"] = evaluations / steps
    return {"figures": figures, "info": info}


def _heldout_nll(model: nn.Module, test: Tensor) -> float:
    with torch.no_grad():
        return float(-torch.cat([model.log_prob(rows) for rows in test.split(5000)]).mean())


def _measure_cnf_to_target(options: Options) -> dict:
    """Issue #5: the CNF trained on an RK4 grid (finer from TARGET_FINE_GRID's step), the
    dopri5 held-out NLL of its weights' moving average every TARGET_CHECK_EVERY steps against
    its training time so far (checks untimed)."""
    train_size = options.train_size or TRAIN_SIZE
    test_size = options.test_size or TEST_SIZE
    steps = options.steps or TARGET_STEPS
    train, test, entropy, log_p = _data(TARGET_DATASET, train_size, test_size)
    config = dict(TARGET_CNF)
    step_size = config.pop("step_size")
    with torch.random.fork_rng():
        torch.manual_seed(SEED_MODEL)
        flow = _course_flow("cnf", train, method="rk4", step_size=step_size, **config)
        ode = flow.transform[0]
        parameters = [p for p in flow.parameters() if p.requires_grad]
        # The scored model: an exponential moving average of the weights (its updates timed).
        scored = copy.deepcopy(flow) if TARGET_EMA_DECAY else flow
        averaged = [p for p in scored.parameters() if p.requires_grad]
        optimizer = torch.optim.Adam(parameters, lr=TARGET_LEARNING_RATE)
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps)
        generator = torch.Generator().manual_seed(SEED_BATCHES)
        curve: list[list[float]] = []
        seconds, block_ms, step = 0.0, [], 0
        try:
            while step < steps:
                block = min(TARGET_CHECK_EVERY, steps - step)
                flow.train()
                start = time.perf_counter()
                for _ in range(block):
                    if TARGET_FINE_GRID is not None and step >= TARGET_FINE_GRID[0]:
                        ode.step_size = TARGET_FINE_GRID[1]
                    rows = torch.randint(train.shape[0], (BATCH_SIZE,), generator=generator)
                    batch = train[rows]
                    loss = -flow.log_prob(batch).mean()
                    if not math.isfinite(float(loss.detach())):
                        raise Diverged(f"training loss is {float(loss)} at step {step + 1}")
                    optimizer.zero_grad(set_to_none=True)
                    loss.backward()
                    optimizer.step()
                    schedule.step()
                    step += 1
                    if TARGET_EMA_DECAY:
                        # The decay grows from 0.1 so the early average forgets the start.
                        weight = 1 - min(TARGET_EMA_DECAY, step / (9 + step))
                        with torch.no_grad():
                            for average, parameter in zip(averaged, parameters, strict=True):
                                average.lerp_(parameter, weight)
                elapsed = time.perf_counter() - start
                seconds += elapsed
                block_ms.append(1000 * elapsed / block)
                scored.eval()
                solver = scored.transform[0]
                solver.method, solver.rtol, solver.atol = "dopri5", *[TARGET_TOLERANCE] * 2
                nll = _heldout_nll(scored, test)
                solver.method = "rk4"
                curve.append([step, seconds, nll])
                if seconds > TARGET_HARD_LIMIT_SECONDS:
                    break  # recorded as it stands: the goal reads the curve
            scored.transform[0].method = "dopri5"
            figures = {
                "train_seconds": seconds,
                "ms_per_step": statistics.median(block_ms),
                "seconds_per_1000_steps": 1000 * seconds / step,
            }
            figures |= _evaluate(scored, test, entropy, log_p)
        except (FloatingPointError, RuntimeError, ValueError) as error:
            raise Diverged(f"{type(error).__name__}: {error}") from error
    return {
        "figures": figures,
        "info": {
            "steps": step,
            "learning_rate": TARGET_LEARNING_RATE,
            "ema_decay": TARGET_EMA_DECAY,
            "fine_grid": TARGET_FINE_GRID,
            "parameters": peers.parameter_count(flow),
            "true_entropy": entropy,
            # [step, training seconds so far, held-out NLL by dopri5] after each block.
            "curve": curve,
        },
    }


def cases(options: Options) -> list[Case]:
    """One case per (model, data set), model by model in the order of :data:`MODELS`, and
    after course_lib's CNF the time-to-target case of issue #5 on two moons."""
    datasets = [d for d in DATASETS if not options.quick or d.name in QUICK_DATASETS]
    every = [
        Case(
            id=f"{dataset.name}/{model.key}",
            measure=functools.partial(_measure, model, dataset, options),
            info={
                "dataset": dataset.name,
                "dataset_label": dataset.label,
                "dataset_params": dataset.params,
                "library": model.library,
                "model": model.label,
                "family": model.family,
                "config": model.config,
            },
        )
        for model in MODELS
        for dataset in datasets
    ]
    target = next(d for d in DATASETS if d.name == TARGET_DATASET)
    if target in datasets:
        after = max(i for i, c in enumerate(every) if c.id.endswith("/course_lib-cnf"))
        every.insert(
            after + 1,
            Case(
                id=f"{target.name}/course_lib-cnf-to-target",
                measure=functools.partial(_measure_cnf_to_target, options),
                info={
                    "dataset": target.name,
                    "dataset_label": target.label,
                    "dataset_params": target.params,
                    "library": "course_lib",
                    "model": "CNF (RK4 grid, time to target)",
                    "family": None,
                    "config": TARGET_CNF,
                },
            ),
        )
    return every


def _gap(results: list[dict], dataset: str, key: str) -> float | None:
    for result in results:
        if result["id"] == f"{dataset}/{key}" and result["status"] == "ok":
            return result["figures"]["nll_gap"]["median"]
    return None


def goals(results: list[dict]) -> list[dict]:
    """Issues #3 and #11's goals, each with the measured value and whether it is met."""
    recorded = []
    for dataset in ("two_moons", "eight_gaussians"):
        gap = _gap(results, dataset, "course_lib-realnvp")
        recorded.append(
            {
                "goal": f"course_lib RealNVP within {GOAL_NATS} nats of the entropy on "
                f"{dataset} (held-out NLL minus true entropy)",
                "target_nats": GOAL_NATS,
                "measured_nats": gap,
                "met": None if gap is None else gap <= GOAL_NATS,
            }
        )
    for dataset in DATASETS:
        planar = _gap(results, dataset.name, "course_lib-planar")
        realnvp = _gap(results, dataset.name, "course_lib-realnvp")
        recorded.append(
            {
                "goal": f"recorded, no target: how much worse the planar flow is than RealNVP "
                f"on {dataset.name}",
                "measured_nats": planar,
                "worse_than_realnvp_by_nats": (
                    None if planar is None or realnvp is None else planar - realnvp
                ),
                "met": None,
            }
        )
    recorded += peer_goals(results)
    recorded.append(cnf_target_goal(results))
    # The time-to-target case trains past the budget by design (its goal reads its curve).
    timed = {
        r["id"]: r["figures"]["train_seconds"]["median"]
        for r in results
        if r["status"] == "ok" and not r["id"].endswith("-to-target")
    }
    over = sorted(key for key, seconds in timed.items() if seconds > TIME_BUDGET_SECONDS)
    recorded.append(
        {
            "goal": f"every model trains within {TIME_BUDGET_SECONDS:.0f} s",
            "over_budget": over,
            "met": bool(timed) and not over,
        }
    )
    return recorded


def peer_goals(results: list[dict]) -> list[dict]:
    """Issue #11's goals: each course_lib flow against the peers of its family, per data set.

    Met when its held-out NLL is at most PEER_NLL_SLACK nats above the best peer's (the
    entropy is the same, so gaps compare as NLLs) and its time per step at most
    PEER_TIME_RATIO times the fastest peer's.
    """
    ok = [r for r in results if r["status"] == "ok" and r.get("family")]
    recorded = []
    for ours in (r for r in ok if r["library"] == "course_lib"):
        peers = [
            r
            for r in ok
            if r["library"] != "course_lib"
            and r["family"] == ours["family"]
            and r["dataset"] == ours["dataset"]
        ]
        if not peers:
            continue
        gap, ms = (ours["figures"][key]["median"] for key in ("nll_gap", "ms_per_step"))
        best = min(peers, key=lambda r: r["figures"]["nll_gap"]["median"])
        fastest = min(peers, key=lambda r: r["figures"]["ms_per_step"]["median"])
        best_gap = best["figures"]["nll_gap"]["median"]
        fastest_ms = fastest["figures"]["ms_per_step"]["median"]
        recorded.append(
            {
                "goal": f"course_lib {ours['model']} on {ours['dataset']}: NLL within "
                f"{PEER_NLL_SLACK} nats of the best {ours['family']} peer, time per step at "
                f"most {PEER_TIME_RATIO}x the fastest",
                "measured_nats": gap,
                "best_peer": f"{best['library']} {best['model']}",
                "best_peer_nats": best_gap,
                "nats_above_best_peer": gap - best_gap,
                "fastest_peer": f"{fastest['library']} {fastest['model']}",
                "time_ratio_to_fastest_peer": ms / fastest_ms,
                "met": gap - best_gap <= PEER_NLL_SLACK and ms <= PEER_TIME_RATIO * fastest_ms,
            }
        )
    return recorded


def cnf_target_goal(results: list[dict]) -> dict:
    """Issue #5's goal: the CNF's training time to reach the held-out NLL of course_lib's
    RealNVP (after its STEPS steps) on two moons, over RealNVP's training time."""
    by_id = {r["id"]: r for r in results if r["status"] == "ok"}
    realnvp = by_id.get(f"{TARGET_DATASET}/course_lib-realnvp")
    cnf = by_id.get(f"{TARGET_DATASET}/course_lib-cnf-to-target")
    steps = realnvp.get("steps", STEPS) if realnvp is not None else STEPS
    goal = {
        "goal": f"course_lib CNF reaches the held-out NLL of course_lib RealNVP after {steps} "
        f"steps on {TARGET_DATASET} within {TARGET_RATIO}x RealNVP's training time (the "
        "report's CNF: about 18x)",
        "target_ratio": TARGET_RATIO,
        "measured_ratio": None,
        "met": None,
    }
    if realnvp is None or cnf is None:
        return goal
    target = realnvp["figures"]["nll"]["median"]
    seconds = realnvp["figures"]["train_seconds"]["median"]
    reached = [(step, at) for step, at, nll in cnf["curve"] if nll <= target]
    goal["target_nll"] = target
    goal["realnvp_seconds"] = seconds
    if reached:
        step, time_to_target = reached[0]
        goal |= {"cnf_steps": step, "cnf_seconds": time_to_target}
        goal["measured_ratio"] = time_to_target / seconds
        goal["met"] = goal["measured_ratio"] <= TARGET_RATIO
    else:
        last_step, last_seconds, last_nll = cnf["curve"][-1]
        # Not reached: the ratio is at least the time spent, over RealNVP's.
        goal |= {
            "cnf_steps": last_step,
            "cnf_seconds": last_seconds,
            "cnf_last_nll": last_nll,
            "cnf_best_nll": min(nll for _, _, nll in cnf["curve"]),
        }
        goal["ratio_at_least"] = last_seconds / seconds
        goal["met"] = False
    return goal
