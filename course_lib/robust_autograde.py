"""nbgrader preprocessors that let autograding survive what a submission does to itself.

- :class:`ResilientExecute`: nbgrader stops grading a notebook at the first cell whose
  kernel dies (``os._exit``, a segmentation fault, the out-of-memory killer) and records no
  grade at all for the student. This Execute instead writes an error into that cell, starts
  a fresh kernel and goes on: cells before the crash keep their points, the crashing cell
  and the tests that need its results score zero, and the instructor's report says why.
- :class:`DropDuplicateIds`: a student who copies a graded cell hands in two cells with one
  grade id. nbgrader's DeduplicateIds empties the copy's nbgrader metadata, which its
  metadata check then rejects, failing the whole notebook (nbgrader issues #1083, #1941).
  This one removes the copy's nbgrader metadata altogether: the copy becomes an ordinary
  cell, the original is graded.

Both are configured in ``nbgrader_config.py``; ``c.Execute`` settings apply to the first.
"""

from __future__ import annotations

from jupyter_core.utils import run_sync
from nbclient.exceptions import DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import DeduplicateIds, Execute

__all__ = ["KERNEL_DIED", "DropDuplicateIds", "ResilientExecute"]

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


class DropDuplicateIds(DeduplicateIds):
    """DeduplicateIds that turns every copy of a graded cell into an ordinary cell.

    Cells are visited last to first (see the parent class), so the last cell with a grade id
    keeps it, as in nbgrader.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id is not None and grade_id in self.grade_ids:
            self.log.warning(
                "cell with grade id %r is a copy; grading it as an ordinary cell", grade_id
            )
            del cell.metadata["nbgrader"]
            return cell, resources
        return super().preprocess_cell(cell, resources, cell_index)
