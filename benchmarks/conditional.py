r"""Conditional density estimation of stellar labels from spectra: three heads on one CNN.

Issue #7's benchmark. Synthetic spectra (:func:`course_lib.datasets.stellar_spectra`,
``PIXELS`` pixels, SNR log-uniform in 5-150, seed 0) are split into training, validation
and test stars. One case per head of :mod:`course_lib.conditional`: the same encoder (same
initial weights), trained by maximum likelihood with Adam for ``EPOCHS`` epochs, keeping
the epoch of the best validation loss, then scored on the test stars:

* test NLL (nats per star on standardized labels, the training loss);
* pull mean and standard deviation of each label (ideally 0 and 1);
* coverage of the central 68% and 95% intervals of each label's marginal, and the
  Kolmogorov-Smirnov distance of the PIT values from uniform (calibration at every level);
* the same coverages on the stars with SNR below ``LOW_SNR`` alone (recorded, not a goal):
  a calibrated posterior is calibrated on any group of stars chosen by what was observed,
  and this group is where the posteriors are widest and least Gaussian;
* :math:`R^2` of the posterior means;
* seconds per epoch (training and the validation pass; wall time, one torch thread).

A last case, ``step_time``, times training steps of the three models *interleaved*: at each
of ``TIMED_STEPS`` steps the same mini-batch goes through each head's model in turn (the
order rotating), so a burst of load on a shared machine slows all of them alike; the median
over steps of the flow's time divided by the diagonal head's time at the same step is the
time ratio that the goal uses (an epoch is the same number of such steps for every head).

The flow head's means, standard deviations and PIT come from ``SAMPLES`` posterior samples
per star. Times are recorded, never asserted.
"""

from __future__ import annotations

import functools
import statistics
import time

import torch

from benchmarks import peers
from benchmarks.cases import Case, Diverged, Options

__all__ = ["NAME", "cases", "goals", "settings"]

NAME = "conditional"
DESCRIPTION = (
    "A 1-D CNN on synthetic stellar spectra with a diagonal Gaussian, a full Gaussian and a "
    "conditional spline-flow head: test NLL, pulls, interval coverage, R^2 and seconds per "
    "epoch (issue #7)."
)
FULL_ONLY = False

HEADS = ("diagonal", "full", "flow")
PIXELS = 256
STARS = 24_000
QUICK_STARS = 2500
FRACTIONS = (0.8625, 0.0417, 0.0958)  # 20,700 training, 1,000 validation, 2,300 test
EPOCHS = 24
QUICK_EPOCHS = 2
BATCH_SIZE = 256
LEARNING_RATE = 3e-3
ENCODER = {"embedding_features": 32, "channels": [16, 32, 32], "kernel_size": 5, "pool": 4}
FLOW = {"kind": "spline", "layers": 3, "hidden_features": 32, "hidden_layers": 2, "bins": 8}
SAMPLES = 500
WARMUP_STEPS = 5
TIMED_STEPS = 100
QUICK_TIMED_STEPS = 10
SEED_DATA, SEED_SPLIT, SEED_MODEL, SEED_SAMPLES = 0, 0, 0, 1
LABELS = ("Teff", "logg", "[Fe/H]")
LOW_SNR = 15.0  # the noisiest third of the stars: SNR log-uniform in 5-150
PULL_STD_RANGE = (0.9, 1.1)
COVERAGE_TOLERANCE = 0.03
TIME_RATIO = 1.5

UNITS = {
    "nll": "nats",
    "pull_mean": None,
    "pull_std": None,
    "coverage68": None,
    "coverage95": None,
    "low_snr_coverage68": None,
    "low_snr_coverage95": None,
    "pit_ks": None,
    "r2": None,
    "seconds_per_epoch": "s",
    "train_seconds": "s",
    "eval_seconds": "s",
    "best_epoch": "epochs",
    "ms_per_step": "ms",
    "time_ratio": None,
}


def _stars(options: Options) -> int:
    if options.train_size:
        return round(options.train_size / FRACTIONS[0])
    return QUICK_STARS if options.quick else STARS


def _epochs(options: Options) -> int:
    return options.steps or (QUICK_EPOCHS if options.quick else EPOCHS)


def settings(options: Options) -> dict:
    """What every case of the run shares."""
    return {
        "pixels": PIXELS,
        "stars": _stars(options),
        "fractions": list(FRACTIONS),
        "snr": [5.0, 150.0],
        "epochs": _epochs(options),
        "batch_size": BATCH_SIZE,
        "learning_rate": LEARNING_RATE,
        "optimizer": "Adam, gradient norm clipped at 5, best validation epoch kept",
        "encoder": ENCODER,
        "flow": FLOW,
        "samples": SAMPLES,
        "timed_steps": QUICK_TIMED_STEPS if options.quick else TIMED_STEPS,
        "seeds": {
            "data": SEED_DATA,
            "split": SEED_SPLIT,
            "model": SEED_MODEL,
            "samples": SEED_SAMPLES,
        },
    }


@functools.cache
def _data(stars: int):
    """The spectra and the split, shared by the three cases of a run."""
    from course_lib.conditional import split_indices
    from course_lib.datasets import stellar_spectra

    data = stellar_spectra(stars, pixels=PIXELS, seed=SEED_DATA)
    train, val, test = split_indices(stars, FRACTIONS, seed=SEED_SPLIT)
    return data, train, val, test


def _measure(head: str, options: Options) -> dict:
    from course_lib.conditional import conditional_model, coverage, evaluate, train_model

    data, train, val, test = _data(_stars(options))
    epochs = _epochs(options)
    model = conditional_model(
        head,
        data.flux[train],
        data.labels[train],
        **ENCODER,
        flow_options=FLOW if head == "flow" else None,
        seed=SEED_MODEL,
    )
    try:
        history = train_model(
            model,
            (data.flux[train], data.labels[train]),
            (data.flux[val], data.labels[val]),
            epochs=epochs,
            batch_size=BATCH_SIZE,
            lr=LEARNING_RATE,
            seed=SEED_MODEL,
        )
    except FloatingPointError as error:
        raise Diverged(str(error)) from error
    start = time.perf_counter()
    result = evaluate(
        model, data.flux[test], data.labels[test], samples=SAMPLES, seed=SEED_SAMPLES
    )
    eval_seconds = time.perf_counter() - start
    batches = -(-len(train) // BATCH_SIZE)
    low = data.snr[test] < LOW_SNR
    low_coverage = coverage(result.pit[low], (0.68, 0.95))
    figures = {
        "nll": result.nll,
        "seconds_per_epoch": history.seconds / epochs,
        "train_seconds": history.seconds,
        "eval_seconds": eval_seconds,
        "best_epoch": history.best_step / batches,
    }
    for j, label in enumerate(LABELS):
        figures |= {
            f"pull_mean/{label}": float(result.pull_mean[j]),
            f"pull_std/{label}": float(result.pull_std[j]),
            f"coverage68/{label}": float(result.coverage68[j]),
            f"coverage95/{label}": float(result.coverage95[j]),
            f"pit_ks/{label}": float(result.pit_ks[j]),
            f"low_snr_coverage68/{label}": float(low_coverage[0, j]),
            f"low_snr_coverage95/{label}": float(low_coverage[1, j]),
            f"r2/{label}": float(result.r2[j]),
        }
    info = {
        "head": head,
        "parameters": peers.parameter_count(model),
        "head_parameters": peers.parameter_count(model.head),
        "train_stars": len(train),
        "test_stars": len(test),
        "low_snr_test_stars": int(low.sum()),
    }
    return {"figures": figures, "info": info}


def _measure_step_time(options: Options) -> dict:
    """Training steps of the three models, interleaved on the same mini-batches."""
    from course_lib.conditional import conditional_model

    data, train, _, _ = _data(_stars(options))
    flux, labels = data.flux[train], data.labels[train]
    models, optimizers = {}, {}
    for head in HEADS:
        flow = FLOW if head == "flow" else None
        models[head] = conditional_model(
            head, flux, labels, **ENCODER, flow_options=flow, seed=SEED_MODEL
        )
        optimizers[head] = torch.optim.Adam(models[head].parameters(), lr=LEARNING_RATE)
    draws = torch.Generator().manual_seed(SEED_SAMPLES)
    timed = QUICK_TIMED_STEPS if options.quick else TIMED_STEPS
    seconds: dict[str, list[float]] = {head: [] for head in HEADS}
    for step in range(WARMUP_STEPS + timed):
        index = torch.randint(len(train), (BATCH_SIZE,), generator=draws)
        x, y = flux[index], labels[index]
        shift = step % len(HEADS)
        for head in HEADS[shift:] + HEADS[:shift]:
            start = time.perf_counter()
            loss = models[head].loss(x, y)
            optimizers[head].zero_grad(set_to_none=True)
            loss.backward()
            optimizers[head].step()
            if step >= WARMUP_STEPS:
                seconds[head].append(time.perf_counter() - start)
    figures = {}
    for head in HEADS:
        ratios = [a / b for a, b in zip(seconds[head], seconds["diagonal"], strict=True)]
        figures[f"ms_per_step/{head}"] = 1000 * statistics.median(seconds[head])
        figures[f"time_ratio/{head}"] = statistics.median(ratios)
    return {"figures": figures, "info": {"timed_steps": timed, "batch_size": BATCH_SIZE}}


def cases(options: Options) -> list[Case]:
    """One case per head, the same data and encoder for each, then the interleaved timing."""
    return [
        Case(
            id=f"head/{head}",
            measure=functools.partial(_measure, head, options),
            info={"kind": "head", "head": head},
        )
        for head in HEADS
    ] + [
        Case(
            id="step_time",
            measure=functools.partial(_measure_step_time, options),
            info={"kind": "step_time"},
        )
    ]


def _figures(results: list[dict], head: str) -> dict[str, float] | None:
    for result in results:
        if result["id"] == f"head/{head}" and result["status"] == "ok":
            return {k: v["median"] for k, v in result["figures"].items()}
    return None


def calibration_score(figures: dict[str, float]) -> float:
    """The largest departure from calibration over the labels, each in units of its
    tolerance: ``|pull std - 1| / 0.1``, ``|coverage68 - 0.68| / 0.03`` and
    ``|coverage95 - 0.95| / 0.03``. At most 1 when every criterion of the goal holds;
    the smaller, the better calibrated."""
    half_width = (PULL_STD_RANGE[1] - PULL_STD_RANGE[0]) / 2
    return max(
        max(
            abs(figures[f"pull_std/{label}"] - 1) / half_width,
            abs(figures[f"coverage68/{label}"] - 0.68) / COVERAGE_TOLERANCE,
            abs(figures[f"coverage95/{label}"] - 0.95) / COVERAGE_TOLERANCE,
        )
        for label in LABELS
    )


def low_snr_error(figures: dict[str, float]) -> float:
    """The largest gap between coverage and level on the low-SNR stars, over labels and
    the 68% and 95% levels."""
    return max(
        abs(figures[f"low_snr_coverage{level}/{label}"] - level / 100)
        for label in LABELS
        for level in (68, 95)
    )


def goals(results: list[dict]) -> list[dict]:
    """Issue #7's goals: the flow head best calibrated, lowest test NLL, at most 1.5x the
    diagonal head's time per epoch."""
    measured = {head: _figures(results, head) for head in HEADS}
    flow, diagonal = measured["flow"], measured["diagonal"]
    every = all(m is not None for m in measured.values())
    score = {head: (calibration_score(m) if m else None) for head, m in measured.items()}
    low_snr = {head: (low_snr_error(m) if m else None) for head, m in measured.items()}
    met = None
    if every:
        met = score["flow"] <= 1 and score["flow"] == min(score.values())
    nll = {head: (m["nll"] if m else None) for head, m in measured.items()}
    timing = next(
        (r for r in results if r["id"] == "step_time" and r["status"] == "ok"), None
    )
    ratio = timing["figures"]["time_ratio/flow"]["median"] if timing else None
    epoch_ratio = (
        flow["seconds_per_epoch"] / diagonal["seconds_per_epoch"] if flow and diagonal else None
    )
    return [
        {
            "goal": "the flow head is the best calibrated: pull std of each label in "
            "[0.9, 1.1] and 68% and 95% coverage within 3 points (calibration score at most "
            "1: the largest departure in units of these tolerances), the smallest score of "
            "the three heads",
            "calibration_score": score,
            "largest_low_snr_coverage_error": low_snr,
            "met": met,
        },
        {
            "goal": "the flow head has the lowest test NLL of the three heads",
            "nll": nll,
            "met": (nll["flow"] == min(nll.values())) if every else None,
        },
        {
            "goal": "the flow head's time per epoch is at most 1.5x the diagonal head's "
            "(median ratio of interleaved training steps)",
            "time_ratio": ratio,
            "epoch_time_ratio": epoch_ratio,
            "met": None if ratio is None else ratio <= TIME_RATIO,
        },
    ]
