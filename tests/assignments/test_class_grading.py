"""`make grade`: a class graded in parallel, resumably, in a sandbox, with a report that flags
hostile code.

One throw-away course, one batch of the logit assignment: the reference, the stub, a
plausible wrong answer, and hostile submissions: one kills its kernel, one patches the checks
and imports the graded reference, one hides a wrong answer behind patched checks, one reads
the course's solutions, one opens a network connection, one allocates 16 GiB, one edits,
retypes and deletes test cells, one pastes a copy of a graded cell, one prints 10 MB, one
returns NaN, one fits the logit with scikit-learn instead of writing the fit.
"""

import csv
import json
import os

import nbformat
import pytest
from nbgrader_course import completed_copy, generate, new_course
from wrong_answers import WRONG_ANSWERS

from course_lib.class_grading import grade_class
from course_lib.instructor import collect_submissions
from course_lib.sandbox import sandbox_problem

pytestmark = pytest.mark.slow

ASSIGNMENT = "logit_mle"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
TIMEOUT = 60  # seconds per cell, as in the round trip and the course
PATCHED = (
    "import course_lib.grading\n"
    "course_lib.grading.check_close = lambda *args, **kwargs: None\n"
    "from course_lib.logit import logit_nll\n"
)


# The summed loss behind checks that always pass: full marks in its own kernel.
PATCHED_WRONG = (
    "import course_lib.grading\n"
    "course_lib.grading.check_close = lambda *args, **kwargs: None\n"
    "course_lib.grading.check_function = lambda *args, **kwargs: None\n"
    + WRONG_ANSWERS[ASSIGNMENT]["c_summed_loss"][0]["logit_nll"]
)

SANDBOX_PROBLEM = sandbox_problem()
NETWORK = "import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=5)\n"
MEMORY = "import numpy\nx = numpy.ones(2**31)\n"  # 16 GiB, over the kernel's 4 GiB


NAN = (
    "import torch\n"
    "def logit_nll(x, y, beta, alpha):\n"
    "    return torch.full((), float('nan'), dtype=x.dtype)\n"
)


# Another library's implementation of an answer: scikit-learn reaches the MLE in its kernel.
SKLEARN_FIT = (
    "import torch\n"
    "def fit_logit_gd(x, y, steps=1500, lr=0.05):\n"
    "    from sklearn.linear_model import LogisticRegression\n"
    "    model = LogisticRegression(penalty=None, tol=1e-10, max_iter=1000)\n"
    "    model.fit(x.double().numpy(), y.double().numpy())\n"
    "    return (torch.tensor(model.coef_[0], dtype=x.dtype),\n"
    "            torch.tensor(model.intercept_[0], dtype=x.dtype))\n"
)


def _cells_by_id(notebook) -> dict:
    return {
        c.metadata.get("nbgrader", {}).get("grade_id"): i for i, c in enumerate(notebook.cells)
    }


def _tampered_stub(release):
    """The stub, with one test cell emptied, one turned into markdown and one deleted."""
    notebook = nbformat.read(release, as_version=4)
    cells = _cells_by_id(notebook)
    notebook.cells[cells["test_logit_nll"]].source = "pass"
    report_test = notebook.cells[cells["test_report"]]
    report_test.cell_type = "markdown"
    for key in ("outputs", "execution_count"):
        report_test.pop(key, None)
    del notebook.cells[cells["test_fit_logit_gd"]]
    return notebook


def _with_copied_answer(notebook):
    """A second copy of the first answer cell, grade id and all, as copy and paste makes."""
    index = _cells_by_id(notebook)["logit_nll"]
    copy = nbformat.from_dict(dict(notebook.cells[index]))
    copy["id"] = "pasted-copy"
    notebook.cells.insert(index + 1, copy)
    return notebook


def _loud_report(source) -> str:
    """The reference report answer, after printing 10 MB."""
    notebook = nbformat.read(source, as_version=4)
    return "print('x' * 10_000_000)\n" + notebook.cells[_cells_by_id(notebook)["report"]].source


def _snoop(course) -> str:
    answers = course / "solutions" / ASSIGNMENT / NOTEBOOK
    return f"print(open({str(answers)!r}).read()[:200])\n"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("class"))
    release = generate(course, ASSIGNMENT) / NOTEBOOK
    source = course / "solutions" / ASSIGNMENT / NOTEBOOK
    wrong, _ = WRONG_ANSWERS[ASSIGNMENT]["c_summed_loss"]
    submissions = {
        "a_reference": completed_copy(release, source),
        "c_summed_loss": completed_copy(release, source, wrong),
        "d_stub": nbformat.read(release, as_version=4),
        "e_exit": completed_copy(release, source, {"report": "import os\nos._exit(0)\n"}),
        "f_patched": completed_copy(release, source, {"logit_nll": PATCHED}),
        "g_snoop": completed_copy(release, source, {"report": _snoop(course)}),
        "h_network": completed_copy(release, source, {"report": NETWORK}),
    }
    submissions["n_patched_wrong"] = completed_copy(release, source, {"logit_nll": PATCHED_WRONG})
    submissions["j_tampered"] = _tampered_stub(release)
    submissions["k_duplicate"] = _with_copied_answer(completed_copy(release, source))
    submissions["l_prints"] = completed_copy(release, source, {"report": _loud_report(source)})
    submissions["m_nan"] = completed_copy(release, source, {"logit_nll": NAN})
    submissions["o_sklearn"] = completed_copy(release, source, {"fit_logit_gd": SKLEARN_FIT})
    if SANDBOX_PROBLEM is None:  # unsandboxed, the kernel would really take 16 GiB
        submissions["i_memory"] = completed_copy(release, source, {"report": MEMORY})
    drop = tmp_path_factory.mktemp("lms-export")
    for student, notebook in submissions.items():
        nbformat.write(notebook, drop / f"{student}.ipynb")
    collect_submissions(ASSIGNMENT, drop, course)
    return course


@pytest.fixture(scope="module")
def graded(course):
    if SANDBOX_PROBLEM and os.environ.get("CI"):
        pytest.fail(f"the grading sandbox must work on CI: {SANDBOX_PROBLEM}")
    results = grade_class(
        ASSIGNMENT,
        course,
        jobs=2,
        cell_timeout=TIMEOUT,
        sandboxed=SANDBOX_PROBLEM is None,
        progress=False,
    )
    return {r.student: r for r in results}


def test_every_student_is_graded_in_parallel(graded, course):
    hostile = ["e_exit", "f_patched", "g_snoop", "h_network", "j_tampered", "k_duplicate"]
    hostile += ["l_prints", "m_nan", "n_patched_wrong", "o_sklearn"]
    hostile += [] if SANDBOX_PROBLEM else ["i_memory"]
    assert sorted(graded) == sorted(["a_reference", "c_summed_loss", "d_stub", *hostile])
    assert {r.status for r in graded.values()} == {"graded"}
    for student in graded:
        assert (course / "feedback" / student / ASSIGNMENT / "logit_mle.html").is_file()


def test_scores_are_right_for_right_wrong_and_empty_answers(graded):
    reference = graded["a_reference"]
    assert reference.auto_score == reference.auto_max_score > 0
    assert not reference.failed_tests and reference.needs_manual_grade
    assert graded["d_stub"].auto_score == 0
    _, failing = WRONG_ANSWERS[ASSIGNMENT]["c_summed_loss"]
    assert set(graded["c_summed_loss"].failed_tests) == failing


def test_a_killed_kernel_costs_only_the_cells_that_need_it(graded):
    """os._exit in the report cell: the tests before it keep their points."""
    crashed = graded["e_exit"]
    assert crashed.crashed_cells == ["report"]
    assert set(crashed.failed_tests) == {"test_report"}
    assert 0 < crashed.auto_score < crashed.auto_max_score
    assert any(flag.kind == "kills the kernel" for flag in crashed.flags)


@pytest.mark.parametrize(
    ("student", "error"),
    [
        ("g_snoop", "FileNotFoundError"),
        ("h_network", "OSError: [Errno 101] Network is unreachable"),
        ("i_memory", "MemoryError"),
    ],
)
def test_the_sandbox_stops_hostile_answers_and_grading_goes_on(graded, student, error):
    """The answer cell fails inside the sandbox; the tests before it keep their points."""
    if SANDBOX_PROBLEM:
        pytest.skip(f"no sandbox on this machine: {SANDBOX_PROBLEM}")
    result = graded[student]
    assert result.sandboxed
    assert error in result.answer_errors["report"]
    assert set(result.failed_tests) == {"test_report"}
    assert 0 < result.auto_score < result.auto_max_score


def test_tampered_tests_earn_nothing_and_are_flagged(graded):
    """nbgrader restores edited tests; a deleted or retyped test scores zero."""
    tampered = graded["j_tampered"]
    assert tampered.auto_score == 0
    kinds = {(flag.kind, flag.cell) for flag in tampered.flags}
    assert {
        ("edited a test cell", "test_logit_nll"),
        ("turned a test cell into markdown", "test_report"),
        ("deleted a test cell", "test_fit_logit_gd"),
    } <= kinds


def test_copies_floods_and_nans_are_graded_like_any_answer(graded):
    copied = graded["k_duplicate"]
    assert copied.auto_score == copied.auto_max_score  # nbgrader alone fails the notebook
    assert [flag.kind for flag in copied.flags] == ["copies a graded cell (duplicate id)"]
    loud = graded["l_prints"]
    assert loud.auto_score == loud.auto_max_score
    nan = graded["m_nan"]
    assert (
        "test_logit_nll" in nan.failed_tests
        and "returned nan" in nan.failed_tests["test_logit_nll"]
    )
    assert 0 < nan.auto_score < nan.auto_max_score


def test_patched_checks_and_the_reference_earn_nothing_outside_the_kernel(graded):
    """Both pass the logit_nll tests in their own kernel; the outside check withdraws them."""
    nll_tests = {"test_logit_nll", "test_logit_nll_extreme"}
    for student, why in (("f_patched", "graded reference"), ("n_patched_wrong", "differs")):
        result = graded[student]
        assert nll_tests <= set(result.withdrawn), (student, result.withdrawn)
        assert all(why in result.withdrawn[test] for test in nll_tests), result.withdrawn
        assert nll_tests <= set(result.failed_tests)
        assert 0 < result.auto_score < result.auto_max_score
        assert "passes a test in its kernel but not outside it" in {f.kind for f in result.flags}
    # The summed loss alone fails exactly these tests: behind patched checks, no better.
    _, failing = WRONG_ANSWERS[ASSIGNMENT]["c_summed_loss"]
    assert set(graded["n_patched_wrong"].failed_tests) == failing
    assert graded["n_patched_wrong"].auto_score == graded["c_summed_loss"].auto_score


def test_another_librarys_implementation_earns_nothing_outside_and_is_flagged(graded, course):
    """scikit-learn's logistic regression passes test_fit_logit_gd in the kernel; outside it
    refuses to run, and the report names it."""
    result = graded["o_sklearn"]
    assert set(result.withdrawn) == {"test_fit_logit_gd"}, result.withdrawn
    assert "computes a graded answer (fit_logit_gd)" in result.withdrawn["test_fit_logit_gd"]
    assert set(result.failed_tests) == {"test_fit_logit_gd"}
    assert 0 < result.auto_score < result.auto_max_score
    flag = "uses scikit-learn's logistic regression, which computes the graded fit_logit_gd"
    assert {(f.kind, f.cell) for f in result.flags} >= {(flag, "fit_logit_gd")}
    assert flag in (course / "grading" / ASSIGNMENT / "report.md").read_text()


def test_withdrawn_points_show_in_the_gradebook_and_the_feedback(graded, course):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        grade = gradebook.find_grade("test_logit_nll", ASSIGNMENT, ASSIGNMENT, "n_patched_wrong")
        assert grade.manual_score == 0 and grade.auto_score == grade.max_score > 0
        assert grade.score == 0
    feedback = course / "feedback" / "n_patched_wrong" / ASSIGNMENT / f"{ASSIGNMENT}.html"
    assert graded["n_patched_wrong"].score == graded["c_summed_loss"].score
    assert feedback.is_file()


def test_the_report_flags_patched_checks_and_the_reference(graded):
    kinds = {flag.kind for flag in graded["f_patched"].flags}
    assert "patches course_lib.grading.check_close" in kinds
    assert "uses the graded reference course_lib.logit" in kinds
    # Honest submissions are not flagged.
    for student in ("a_reference", "c_summed_loss", "d_stub"):
        assert graded[student].flags == [], (student, graded[student].flags)


def test_grades_csv_and_report_list_every_student(graded, course):
    out = course / "grading" / ASSIGNMENT
    rows = {row["student"]: row for row in csv.DictReader((out / "grades.csv").open())}
    assert set(rows) == set(graded)
    assert float(rows["a_reference"]["autograded_score"]) == graded["a_reference"].auto_score
    assert rows["d_stub"]["autograded_score"] == "0"
    assert "patches course_lib.grading.check_close" in rows["f_patched"]["flags"]
    report = (out / "report.md").read_text()
    assert "the kernel died in cell `report`" in report
    assert "failed `test_logit_nll`" in report
    if graded["g_snoop"].sandboxed:
        assert "error in answer cell `report`: FileNotFoundError" in report


def test_a_second_run_keeps_what_was_graded_and_regrades_what_changed(graded, course):
    logs = course / "grading" / ASSIGNMENT / "logs"
    before = {path.name: path.stat().st_mtime_ns for path in logs.iterdir()}
    again = {
        r.student: r for r in grade_class(ASSIGNMENT, course, cell_timeout=TIMEOUT, progress=False)
    }
    assert {r.status for r in again.values()} == {"kept"}
    assert again["a_reference"].score == graded["a_reference"].score
    assert again["n_patched_wrong"].withdrawn == graded["n_patched_wrong"].withdrawn
    assert {path.name: path.stat().st_mtime_ns for path in logs.iterdir()} == before

    # d_stub and n_patched_wrong hand in again (the reference answers, this time): only they
    # are graded, and the points withdrawn from n_patched_wrong come back.
    drop = course / "resubmission"
    drop.mkdir()
    release = course / "assignments" / ASSIGNMENT / NOTEBOOK
    source = course / "solutions" / ASSIGNMENT / NOTEBOOK
    again = {"d_stub", "n_patched_wrong"}
    for student in again:
        nbformat.write(completed_copy(release, source), drop / f"{student}.ipynb")
    collect_submissions(ASSIGNMENT, drop, course)
    third = grade_class(ASSIGNMENT, course, jobs=2, cell_timeout=TIMEOUT, progress=False)
    third = {r.student: r for r in third}
    for student in again:
        assert third[student].status == "graded"
        assert third[student].auto_score == third[student].auto_max_score
        assert not third[student].withdrawn and not third[student].failed_tests
    assert {s for s, r in third.items() if r.status == "kept"} == set(graded) - again
    state = json.loads((course / "grading" / ASSIGNMENT / "state" / "d_stub.json").read_text())
    assert (
        state["timestamp"]
        == (course / "submitted" / "d_stub" / ASSIGNMENT / "timestamp.txt").read_text().strip()
    )


def test_bad_requests_name_what_is_wrong(course, tmp_path):
    with pytest.raises(ValueError, match="jobs must be a positive integer"):
        grade_class(ASSIGNMENT, course, jobs=0)
    with pytest.raises(
        ValueError, match=r"no submission of 'logit_mle' for student\(s\) \['zz'\]"
    ):
        grade_class(ASSIGNMENT, course, students=["zz"])
    with pytest.raises(ValueError, match="nothing submitted for 'planar_realnvp'"):
        grade_class("planar_realnvp", course)
    (course / "submitted" / "a_reference" / "unreleased").mkdir()
    with pytest.raises(ValueError, match="the gradebook does not know 'unreleased'"):
        grade_class("unreleased", course)
