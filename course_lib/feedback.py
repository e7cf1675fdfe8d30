"""Feedback for students that shows what failed, never the hidden tests' code."""

from nbgrader.preprocessors import ClearHiddenTests

__all__ = ["ClearHiddenTestsFromFeedback"]

_HIDDEN_NOTE = (
    "A hidden test in this cell failed. Hidden tests check your code on inputs you have not "
    "seen; the visible tests above and the message below are your hints."
)


class ClearHiddenTestsFromFeedback(ClearHiddenTests):
    """nbgrader preprocessor for ``generate_feedback``: remove hidden tests from feedback.

    An autograded notebook carries the full test cells (nbgrader restores them from the
    gradebook), so feedback would show hidden tests twice: in the cell's source and in
    the traceback of a failure. This removes the hidden region from the source, like
    nbgrader's own ``ClearHiddenTests`` does at release, and replaces the traceback of a
    cell that had one with the exception's name and message only.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        had_hidden_tests = self._remove_hidden_test_region(cell)
        if had_hidden_tests and cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if output.get("output_type") == "error":
                    output["traceback"] = [
                        _HIDDEN_NOTE,
                        f"{output.get('ename', 'Error')}: {output.get('evalue', '')}",
                    ]
        return cell, resources
