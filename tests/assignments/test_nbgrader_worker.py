"""The long-lived nbgrader process that class grading sends its commands to."""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import nbgrader
import pytest

from course_lib.nbgrader_worker import NbgraderWorker


@pytest.fixture
def worker(tmp_path):
    # nbgrader runs alembic by name: this environment's first.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    worker = NbgraderWorker({**os.environ, "PATH": path}, tmp_path, commands_per_process=3)
    yield worker
    worker.close(kill=True)


def test_runs_commands_in_one_process_and_logs_their_output(worker, tmp_path):
    log = tmp_path / "log.txt"
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0
    first = worker._process.pid
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0
    assert worker._process.pid == first  # no new start-up
    assert log.read_text().count(nbgrader.__version__) == 2


def test_a_failing_command_gives_its_exit_status_and_the_worker_goes_on(worker, tmp_path):
    log = tmp_path / "log.txt"
    # No course here: nbgrader refuses, as its command line would.
    assert worker.run(["autograde", "no_such_assignment"], log, timeout=300, environment={})
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0


def test_each_command_gets_its_own_environment(worker, tmp_path):
    log = tmp_path / "log.txt"
    for name in ("first", "second"):
        config = tmp_path / name
        config.mkdir()
        (config / "nbgrader_config.py").write_text(f"print('config of the {name} command')\n")
        environment = {"JUPYTER_CONFIG_DIR": str(config)}
        assert (
            worker.run(["db", "student", "list"], log, timeout=300, environment=environment) == 0
        )
    text = log.read_text()
    assert text.index("config of the first command") < text.index("config of the second command")


def test_a_command_past_its_timeout_is_stopped_and_the_next_one_runs(worker, tmp_path):
    log = tmp_path / "log.txt"
    assert worker.run(["--version"], log, timeout=1e-6, environment={}) is None
    assert worker._process is None
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0


def test_a_worker_killed_from_outside_is_replaced(worker, tmp_path):
    log = tmp_path / "log.txt"
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0
    os.kill(worker._process.pid, signal.SIGKILL)
    worker._process.wait()
    assert worker.run(["--version"], log, timeout=300, environment={}) == 0


def test_a_fresh_process_after_commands_per_process(worker, tmp_path):
    log = tmp_path / "log.txt"
    pids = []
    for _ in range(4):
        assert worker.run(["--version"], log, timeout=300, environment={}) == 0
        pids.append(worker._process.pid if worker._process else None)
    assert pids[2] is None  # closed after its third command
    assert pids[0] == pids[1] != pids[3]


def test_commands_per_process_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="commands_per_process"):
        NbgraderWorker(os.environ, tmp_path, commands_per_process=0)
