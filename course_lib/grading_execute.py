"""nbgrader's Execute step, made to survive a submission that kills its kernel.

nbgrader stops grading a notebook at the first cell whose kernel dies (``os._exit``, a
segmentation fault, the out-of-memory killer) and records no grade at all for the student.
:class:`ResilientExecute` instead writes an error into that cell, starts a fresh kernel and
goes on: cells before the crash keep their points, the crashing cell and the tests that need
its results score zero, and the instructor's report says why. It is configured as the first
autograde preprocessor in ``nbgrader_config.py``; ``c.Execute`` settings apply to it.
"""

from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute

__all__ = ["KERNEL_DIED", "ResilientExecute"]

KERNEL_DIED = (
    "the kernel died while running this cell (os._exit, a crash, or memory exhausted); "
    "grading went on in a fresh kernel, so later cells that need this cell's results fail too"
)


class ResilientExecute(Execute):
    """Execute that restarts a dead kernel and carries on with the next cell."""

    def preprocess_cell(self, cell, resources, index):
        try:
            return super().preprocess_cell(cell, resources, index)
        except DeadKernelError:
            cell.setdefault("outputs", []).append(
                new_output(
                    "error",
                    ename="DeadKernelError",
                    evalue=KERNEL_DIED,
                    traceback=[f"DeadKernelError: {KERNEL_DIED}"],
                )
            )
            self.log.warning("kernel died in cell %d; restarting it and going on", index)
            run_sync(self.km.restart_kernel)(now=True)
            run_sync(self.kc.wait_for_ready)(timeout=self.startup_timeout)
            return cell, resources
