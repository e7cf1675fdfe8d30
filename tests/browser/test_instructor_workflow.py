"""An instructor's view of a graded batch: nbgrader's formgrader, opened from JupyterLab.

A throw-away course releases assignment 1, collects two submissions (one with the first task
answered, one untouched stub) as `make collect` does, and autogrades them. JupyterLab runs from the
course root as an instructor starts it; Nbgrader → Formgrader must list the assignment with
both submissions, and each submission with the score the gradebook holds.
"""

import nbformat
import pytest
from lab_server import jupyter_lab
from nbgrader.api import Gradebook
from playwright.sync_api import expect

from course_lib.instructor import collect_submissions
from tests.assignments.nbgrader_course import completed_copy, generate, new_course, run_nbgrader
from tests.book_site import REPO

pytestmark = pytest.mark.slow

ASSIGNMENT = "logit_mle"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
COURSE_ID = "deep-probabilistic-models"
STUDENTS = ("alice_first_task", "bob_stub")
SCREENSHOTS = REPO / "_build" / "browser-screenshots"


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    course = new_course(tmp_path_factory.mktemp("course"))
    release = generate(course, ASSIGNMENT) / NOTEBOOK
    drop = tmp_path_factory.mktemp("lms-export")
    source = course / "solutions" / ASSIGNMENT / NOTEBOOK
    nbformat.write(_first_answer_only(release, source), drop / f"{STUDENTS[0]}.ipynb")
    nbformat.write(nbformat.read(release, as_version=4), drop / f"{STUDENTS[1]}.ipynb")
    collect_submissions(ASSIGNMENT, drop, course)
    result = run_nbgrader(course, "autograde", ASSIGNMENT, "--force")
    assert result.returncode == 0, result.stderr[-3000:]
    return course


def _first_answer_only(release, source):
    """The released notebook with its first answer filled in and the others left as stubs:
    partial credit, graded in seconds (the later tasks fit models)."""

    def answers(path):
        return {
            cell.metadata["nbgrader"]["grade_id"]: cell.source
            for cell in nbformat.read(path, as_version=4).cells
            if cell.metadata.get("nbgrader", {}).get("solution")
        }

    stubs = answers(release)
    later = list(answers(source))[1:]
    return completed_copy(release, source, {grade_id: stubs[grade_id] for grade_id in later})


def _scores(course) -> dict[str, str]:
    """Student -> "score / maximum" as the gradebook holds it."""
    scores = {}
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}", COURSE_ID) as gradebook:
        for student in STUDENTS:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            scores[student] = f"{submission.score:g} / {submission.max_score:g}"
    return scores


def test_formgrader_lists_the_assignment_and_the_scored_submissions(
    browser, course, tmp_path_factory
):
    scores = _scores(course)
    completed, stub = STUDENTS
    assert scores[stub].startswith("0 / ") and not scores[completed].startswith("0 / ")
    with jupyter_lab(course, home=tmp_path_factory.mktemp("jupyter-home")) as lab:
        page = browser.new_page()
        try:
            page.goto(lab.page_url("lab?reset"))
            page.get_by_role("menuitem", name="Nbgrader", exact=True).click()
            page.locator('li.lm-Menu-item[data-command="nbgrader:open-formgrader"]').click()
            formgrader = page.frame_locator('iframe[src*="formgrader"]')

            row = formgrader.locator("tr", has_text=ASSIGNMENT)
            expect(row).to_be_visible()
            submissions = row.get_by_role("link", name=str(len(STUDENTS)), exact=True)
            expect(submissions).to_be_visible()
            submissions.click()

            # The assignment's submissions, one row per student with the autograded score.
            expect(formgrader.locator(".breadcrumb")).to_contain_text(ASSIGNMENT)
            for student, score in scores.items():
                expect(formgrader.locator("tr", has_text=student)).to_contain_text(score)
            formgrader.locator("tr", has_text=stub).scroll_into_view_if_needed()
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOTS / "jupyterlab-formgrader.png")
        finally:
            page.close()
