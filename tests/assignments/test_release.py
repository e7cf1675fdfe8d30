"""assignments/ is exactly what nbgrader generates from solutions/, and gives nothing away."""

import filecmp

import nbformat
import pytest
from nbgrader_course import ASSIGNMENTS, REPO

pytestmark = pytest.mark.slow


def _files(folder):
    return sorted(
        p.relative_to(folder) for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_assignment_matches_generation(generated_course, assignment):
    committed = REPO / "assignments" / assignment
    fresh = generated_course / "assignments" / assignment
    assert committed.is_dir(), f"assignments/{assignment} is missing; run make release"
    assert _files(committed) == _files(fresh), "run `make release` and commit assignments/"
    for relative in _files(fresh):
        assert filecmp.cmp(committed / relative, fresh / relative, shallow=False), (
            f"assignments/{assignment}/{relative} differs from what generation produces; "
            "edit solutions/ and run `make release`, never edit assignments/ by hand"
        )


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_notebooks_hold_no_solution_or_hidden_test(assignment):
    for path in (REPO / "assignments" / assignment).glob("*.ipynb"):
        notebook = nbformat.read(path, as_version=4)
        text = "\n".join(cell.source for cell in notebook.cells)
        for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
            assert marker not in text, f"{path.name} contains {marker!r}"
        stubs = [
            cell.source
            for cell in notebook.cells
            if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code"
        ]
        assert stubs and all("raise NotImplementedError()" in stub for stub in stubs)
        assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_answer_cell_is_followed_by_a_graded_test(assignment):
    for path in (REPO / "solutions" / assignment).glob("*.ipynb"):
        cells = nbformat.read(path, as_version=4).cells
        meta = [cell.metadata.get("nbgrader", {}) for cell in cells]
        ids = [m["grade_id"] for m in meta if m]
        assert len(ids) == len(set(ids)), f"{path.name} has duplicate grade_ids"
        tests = [m for m in meta if m.get("grade") and not m.get("solution")]
        assert tests and all(m.get("points", 0) > 0 and m.get("locked") for m in tests)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_instructions_name_jupyterlabs_menu_items(assignment):
    """JupyterLab 4 has no "Restart & Run All"; the intro names the item students will find."""
    for path in (REPO / "solutions" / assignment).glob("*.ipynb"):
        intro = nbformat.read(path, as_version=4).cells[0].source
        assert "Restart Kernel and Run All Cells" in intro.replace("\n", " "), path.name
        assert "Validate" in intro, path.name


def test_the_howto_page_lists_every_assignment():
    page = (REPO / "book" / "assignments_howto.md").read_text()
    missing = [a for a in ASSIGNMENTS if f"| `{a}` |" not in page]
    assert not missing, f"book/assignments_howto.md does not list {missing}"
