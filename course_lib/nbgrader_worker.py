"""A long-lived process that runs nbgrader commands one after another.

Starting ``nbgrader`` costs seconds of imports (traitlets, nbconvert, SQLAlchemy, ...) before
it does anything; grading a class ran it twice per student. A worker pays that once and then
runs each command in-process, as the command line would (the course's ``nbgrader_config.py``
is read each time). Submissions never run here: nbgrader executes them in their own kernel.

Protocol, one JSON object per line: the parent writes
``{"argv": [...], "log": path, "environment": {...}}`` and the worker answers
``{"code": int}`` once the command is done (0: success, as nbgrader's exit status). The
command's output, and its kernels', goes to ``log`` (appended). End of input ends the worker.
:class:`NbgraderWorker` is the parent's side: it restarts the worker when a command takes too
long (killing its process group, kernels included) or when the worker dies.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

__all__ = ["NbgraderWorker"]


class NbgraderWorker:
    """The parent's handle on one worker process (not thread-safe: one per grading thread).

    Args:
        environment: Environment variables of the worker (and so of the kernels it starts).
        cwd: The folder the commands run in (the course directory).
        commands_per_process: Start a fresh process after this many commands, so that
            whatever nbgrader keeps between commands cannot grow without bound.
    """

    def __init__(
        self, environment: Mapping[str, str], cwd: str | Path, commands_per_process: int = 40
    ):
        if commands_per_process < 1:
            raise ValueError(
                f"commands_per_process must be a positive integer; got {commands_per_process!r}"
            )
        self.environment = dict(environment)
        self.cwd = Path(cwd)
        self.commands_per_process = commands_per_process
        self._process: subprocess.Popen | None = None
        self._commands = 0

    def run(
        self, argv: list[str], log: str | Path, timeout: float, environment: Mapping[str, str]
    ) -> int | None:
        """Run ``nbgrader *argv``; its output is appended to ``log``. Returns the exit status,
        or None when it ran past ``timeout`` seconds (the worker is then killed)."""
        if self._process is None or self._process.poll() is not None:
            self._start()
        request = {"argv": list(argv), "log": str(log), "environment": dict(environment)}
        try:
            self._process.stdin.write(json.dumps(request) + "\n")
            self._process.stdin.flush()
            line = self._read_line(timeout)
        except (BrokenPipeError, OSError):
            line = ""
        if line is None:  # too long
            self.close(kill=True)
            return None
        if not line:  # the worker died (killed from outside, out of memory)
            self.close(kill=True)
            return -1
        self._commands += 1
        if self._commands >= self.commands_per_process:
            self.close()
        return int(json.loads(line)["code"])

    def close(self, kill: bool = False) -> None:
        """End the worker: politely (end of input), or by killing its process group."""
        process, self._process, self._commands = self._process, None, 0
        if process is None:
            return
        if not kill:
            try:
                process.stdin.close()
                process.wait(timeout=30)
            except (OSError, subprocess.TimeoutExpired):
                kill = True
        if kill:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait()
        for stream in (process.stdin, process.stdout):
            try:
                stream.close()
            except OSError:
                pass

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-m", "course_lib.nbgrader_worker"],
            cwd=self.cwd,
            env=self.environment,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            # Its own process group: a timeout kills the kernels it started as well.
            start_new_session=True,
        )
        self._commands = 0

    def _read_line(self, timeout: float) -> str | None:
        """The worker's next line ('' if it died), or None after ``timeout`` seconds."""
        ready, _, _ = select.select([self._process.stdout], [], [], timeout)
        return self._process.stdout.readline() if ready else None


def _run_command(argv: list[str]) -> int:
    """``nbgrader *argv`` in this process; its exit status."""
    from jupyter_core.application import NoStart
    from nbgrader.apps.nbgraderapp import NbGraderApp

    app = NbGraderApp()
    try:
        app.initialize(argv)
        app.start()
        return 0
    except NoStart:  # how a finished subcommand returns
        return 0
    except SystemExit as stop:
        code = stop.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BaseException:  # noqa: BLE001 (the command failed; say so, keep the worker)
        import traceback

        traceback.print_exc()
        return 1
    finally:
        # nbgrader's applications are singletons: forget them for the next command.
        if app.subapp is not None:
            type(app.subapp).clear_instance()
        NbGraderApp.clear_instance()


def _serve() -> None:
    """Answer requests from standard input until it ends."""
    replies = os.fdopen(os.dup(1), "w")
    saved = os.dup(1), os.dup(2)
    for line in sys.stdin:
        request = json.loads(line)
        os.environ.update(request["environment"])
        with open(request["log"], "a") as log:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(log.fileno(), 1)
            os.dup2(log.fileno(), 2)
            try:
                code = _run_command(request["argv"])
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os.dup2(saved[0], 1)
                os.dup2(saved[1], 2)
        replies.write(json.dumps({"code": code}) + "\n")
        replies.flush()


if __name__ == "__main__":
    _serve()
