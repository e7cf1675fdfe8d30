"""The grading round trip in a throw-away course: release, collect, autograde, feedback, export.

Every assignment: the reference answers score full marks on the autograded tests and the
released stub scores zero. The logit assignment also gets a plausible wrong answer (partial
credit) and an infinite loop (cut by the timeout; the next student is still graded).
"""

import csv
import json

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbgrader.api import Gradebook
from nbgrader_course import (
    ASSIGNMENTS,
    REPO,
    completed_copy,
    generate,
    new_course,
    run_nbgrader,
    source_notebooks,
)
from wrong_answers import WRONG_ANSWERS

from course_lib.instructor import collect_submissions

pytestmark = pytest.mark.slow

COURSE_ID = "deep-probabilistic-models"
# The course's own limit (nbgrader_config.py): a shorter one saves half a minute on the infinite
# loop but fails training cells whenever the runner is busy with other work.
TEST_TIMEOUT = 60

WRONG = [(a, student) for a, answers in WRONG_ANSWERS.items() for student in sorted(answers)]


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """A course in which every assignment was released, collected, autograded and fed back."""
    course = new_course(tmp_path_factory.mktemp("grading"))
    for assignment in ASSIGNMENTS:
        release = generate(course, assignment)
        drop = tmp_path_factory.mktemp(f"lms-export-{assignment}")
        for notebook in source_notebooks(assignment):
            source = course / "solutions" / assignment / notebook
            submissions = {
                "a_reference": completed_copy(release / notebook, source),
                "d_stub": nbformat.read(release / notebook, as_version=4),
            }
            for student, (answers, _) in WRONG_ANSWERS.get(assignment, {}).items():
                submissions[student] = completed_copy(release / notebook, source, answers)
            for student, submission in submissions.items():
                # The flat <student>.ipynb layout of a learning-platform export.
                nbformat.write(submission, drop / f"{student}.ipynb")
        collect_submissions(assignment, drop, course)
        result = run_nbgrader(
            course, "autograde", assignment, "--force", f"--Execute.timeout={TEST_TIMEOUT}"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        result = run_nbgrader(course, "generate_feedback", assignment, "--force")
        assert result.returncode == 0, result.stderr[-3000:]
    result = run_nbgrader(course, "export", "--to", "grades.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    return course


def _test_scores(course, assignment, student) -> dict[str, tuple[float, float]]:
    """grade_id -> (auto score, max score) of every autograded test cell."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        submission = gradebook.find_submission(assignment, student)
        for notebook in submission.notebooks:
            for grade in notebook.grades:
                if grade.cell.cell_type == "code" and grade.auto_score is not None:
                    scores[grade.name] = (grade.auto_score, grade.max_score)
    assert scores, f"no autograded tests recorded for {student}"
    return scores


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_reference_answers_score_full_marks(graded, assignment):
    scores = _test_scores(graded, assignment, "a_reference")
    lost = {name: score for name, score in scores.items() if score[0] != score[1]}
    assert not lost, f"the reference answers lose points on {lost}"


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_released_stub_scores_zero(graded, assignment):
    scores = _test_scores(graded, assignment, "d_stub")
    earned = {name: score for name, score in scores.items() if score[0] != 0}
    assert not earned, f"the unanswered stub earns points on {earned}"


@pytest.mark.parametrize(("assignment", "student"), WRONG)
def test_wrong_answers_lose_exactly_the_points_of_their_tests(graded, assignment, student):
    _, failing = WRONG_ANSWERS[assignment][student]
    scores = _test_scores(graded, assignment, student)
    lost = {name for name, (score, maximum) in scores.items() if score != maximum}
    assert lost == failing
    earned = sum(score for score, _ in scores.values())
    assert 0 < earned < sum(maximum for _, maximum in scores.values())


def test_timeout_is_reported_in_the_graded_notebook(graded):
    path = graded / "autograded" / "b_infinite_loop" / "logit_mle" / "logit_mle.ipynb"
    notebook = nbformat.read(path, as_version=4)
    errors = [
        output
        for cell in notebook.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
        if output.output_type == "error"
    ]
    assert any("Timeout" in e.ename or "KeyboardInterrupt" in e.ename for e in errors), [
        e.ename for e in errors
    ]


def _hidden_lines(assignment, notebook):
    lines = []
    for cell in nbformat.read(REPO / "solutions" / assignment / notebook, as_version=4).cells:
        inside = False
        for line in cell.source.splitlines():
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and len(line.strip()) > 12:
                lines.append(line.strip())
    return lines


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
@pytest.mark.parametrize("student", ["a_reference", "d_stub"])
def test_feedback_shows_no_hidden_test_code(graded, assignment, student):
    for notebook in source_notebooks(assignment):
        html = graded / "feedback" / student / assignment / notebook.replace(".ipynb", ".html")
        text = BeautifulSoup(html.read_text(), "html.parser").get_text()
        released_cells = nbformat.read(graded / "assignments" / assignment / notebook, 4).cells
        released = "\n".join(cell.source for cell in released_cells)
        # Lines that also occur in the released notebook (closing brackets, keyword lists)
        # reveal nothing; every other hidden line must be absent.
        hidden = [line for line in _hidden_lines(assignment, notebook) if line not in released]
        assert hidden, "the assignment has no hidden tests to hide"
        leaked = [line for line in hidden if line in text]
        assert not leaked, f"feedback for {student} shows hidden test code: {leaked[:3]}"
        assert "HIDDEN TESTS" not in text


def test_grades_export_lists_every_submission(graded):
    with open(graded / "grades.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    students = {(row["assignment"], row["student_id"]) for row in rows}
    assert ("logit_mle", "a_reference") in students
    assert ("logit_mle", "d_stub") in students
    assert students >= set(WRONG)


def test_collected_submission_has_the_released_name_and_a_timestamp(graded):
    folder = graded / "submitted" / "c_summed_loss" / "logit_mle"
    assert (folder / "logit_mle.ipynb").is_file()
    assert (folder / "timestamp.txt").read_text().strip()
    json.loads((folder / "logit_mle.ipynb").read_text())
