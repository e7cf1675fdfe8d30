"""What a benchmark group hands the runner: cases to measure, and the run's options.

A group is a module of :mod:`benchmarks` with

* ``NAME``: the results file is ``benchmarks/results/<NAME>.json``;
* ``DESCRIPTION``: one sentence, stored in the results file;
* ``FULL_ONLY``: true when ``--quick`` leaves the whole group out;
* ``UNITS``: figure name -> unit (a name ``a/b`` takes the unit of ``a``);
* ``settings(options) -> dict``: what every case shares, stored once;
* ``cases(options) -> list[Case]``;
* optionally ``goals(results) -> list[dict]``: targets, the measured value, whether met.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Case", "CaseSkipped", "Diverged", "Options", "TooSlow"]


@dataclass(frozen=True)
class Options:
    """The command line, as the groups see it.

    Attributes:
        quick: Run the QUICK subset.
        threads: torch intra-op threads (and ``OMP_NUM_THREADS`` of subprocesses).
        repeats: Repeats per case; ``None`` for the group's default.
        steps: Override of every training step budget (tiny test runs); ``None`` to keep.
        train_size: Override of the training-set size; ``None`` to keep.
        test_size: Override of the test-set size; ``None`` to keep.
    """

    quick: bool = False
    threads: int = 1
    repeats: int | None = None
    steps: int | None = None
    train_size: int | None = None
    test_size: int | None = None

    @property
    def overridden(self) -> bool:
        """Whether a setting was changed, so that results are not comparable to a full run."""
        return any(v is not None for v in (self.steps, self.train_size, self.test_size))


@dataclass
class Case:
    """One measured configuration.

    Attributes:
        id: Unique within its group, e.g. ``"two_moons/course_lib-realnvp"``.
        measure: Runs one repeat; returns ``{"figures": {name: float}, "info": {...}}``.
            Raises :class:`CaseSkipped` when it cannot run here (a missing library),
            :class:`Diverged` when training breaks down and :class:`TooSlow` past its
            time limit (both recorded as results).
        info: Static description stored with the results (library, model, data ...).
    """

    id: str
    measure: Callable[[], dict]
    info: dict = field(default_factory=dict)


class CaseSkipped(Exception):
    """The case cannot run on this machine; the message says why."""


class Diverged(Exception):
    """Training broke down (a non-finite loss): an outcome to record, not a harness failure."""


class TooSlow(Exception):
    """The case ran past its hard time limit and was stopped; recorded as ``timeout``."""
