"""Several grading processes share one PostgreSQL gradebook (nbgrader's `db_url`), started
from Debian's `postgresql` package; the SQLite default is untouched."""

import os

import nbformat
import pytest
from nbgrader.api import Gradebook
from nbgrader_course import completed_copy, new_course, run_nbgrader
from postgres_server import postgres_server, server_binaries

from course_lib.class_grading import grade_class
from course_lib.instructor import collect_submissions

pytestmark = pytest.mark.slow

ASSIGNMENT = "logit_mle"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"


@pytest.fixture(scope="module")
def database():
    if server_binaries() is None:
        message = "PostgreSQL is not installed: run `make postgres`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    with postgres_server() as url:
        yield url


def test_a_class_graded_in_parallel_into_postgresql(database, tmp_path):
    course = new_course(tmp_path / "course")
    result = run_nbgrader(
        course,
        "generate_assignment",
        ASSIGNMENT,
        "--force",
        f"--CourseDirectory.db_url={database}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    release = course / "assignments" / ASSIGNMENT / NOTEBOOK
    source = course / "solutions" / ASSIGNMENT / NOTEBOOK
    drop = tmp_path / "export"
    drop.mkdir()
    nbformat.write(completed_copy(release, source), drop / "a_reference.ipynb")
    nbformat.write(nbformat.read(release, as_version=4), drop / "b_stub.ipynb")
    collect_submissions(ASSIGNMENT, drop, course)

    results = grade_class(ASSIGNMENT, course, jobs=2, db_url=database, progress=False)
    scores = {r.student: (r.auto_score, r.auto_max_score) for r in results}
    assert scores["a_reference"][0] == scores["a_reference"][1] > 0
    assert scores["b_stub"][0] == 0
    with Gradebook(database) as gradebook:
        stored = {s.student.id: s.score for s in gradebook.assignment_submissions(ASSIGNMENT)}
    assert stored == {r.student: r.score for r in results}
    assert not (course / "gradebook.db").exists(), "the SQLite default was written"
