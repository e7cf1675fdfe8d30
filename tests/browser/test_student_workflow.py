"""A student's path through assignment 1 in JupyterLab, as the assignments page describes it.

In a copy of what a student clones (the course's nbgrader_config.py and the released
`assignments/`), `jupyter lab assignments/` runs from the clone's root. In the browser the
stub is run with Kernel → Restart Kernel and Run All Cells and then checked with nbgrader's
Validate button, which fails it, showing each failing visible test and its error; a copy with
the reference answers passes Validate. The messages of wrong
answers are tested, through the same validator, in tests/assignments/test_validate.py.
"""

import re
import shutil
from pathlib import Path

import nbformat
import pytest
from browser_checks import PageLog, console_problems, open_page
from lab_server import jupyter_lab
from playwright.sync_api import Page, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeoutError

from tests.assignments.nbgrader_course import completed_copy
from tests.book_site import REPO

pytestmark = pytest.mark.slow

ASSIGNMENT = "logit_mle"
NOTEBOOK = f"{ASSIGNMENT}.ipynb"
RELEASED = f"{ASSIGNMENT}/{NOTEBOOK}"  # in assignments/, the server's root
KERNEL_TIMEOUT_MS = 90_000
RUN_TIMEOUT_MS = 300_000
VALIDATE_TIMEOUT_MS = 300_000
SUCCESS = "Success! Your notebook passes all the tests."

# The kernel is ready for a restart once it has been idle for a moment: restarting it within
# a second of connecting can leave Lab unable to reconnect to it (seen with JupyterLab 4.6).
_KERNEL_SETTLED = """() => {
    const status = document.querySelector(".jp-Notebook-ExecutionIndicator")?.dataset.status;
    if (status !== "idle") {
        window.__idleSince = undefined;
        return false;
    }
    window.__idleSince ??= Date.now();
    return Date.now() - window.__idleSince >= 2000;
}"""
# Restart-and-run-all has finished when the first cell ran first, nothing is queued or
# running ([*]) and the kernel is idle.
_RUN_FINISHED = """() => {
    const prompts = [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")]
        .map((prompt) => prompt.textContent.trim());
    const status = document.querySelector(".jp-Notebook-ExecutionIndicator")?.dataset.status;
    return prompts[0] === "[1]:" && !prompts.some((p) => p.includes("*")) && status === "idle";
}"""
_RUN_STATE = """() => ({
    prompts: [...document.querySelectorAll(".jp-CodeCell .jp-InputPrompt")]
        .map((prompt) => prompt.textContent.trim()),
    status: document.querySelector(".jp-Notebook-ExecutionIndicator")?.dataset.status,
})"""


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A student's clone: the course configuration, the released assignments, and a copy of
    assignment 1 with the reference answers filled in."""
    root = tmp_path_factory.mktemp("student-clone")
    shutil.copy(REPO / "nbgrader_config.py", root)
    shutil.copytree(REPO / "assignments", root / "assignments")
    release = root / "assignments" / ASSIGNMENT / NOTEBOOK
    source = REPO / "solutions" / ASSIGNMENT / NOTEBOOK
    folder = root / "assignments" / "completed" / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(completed_copy(release, source), folder / NOTEBOOK)
    return root


@pytest.fixture(scope="module")
def lab(clone, tmp_path_factory):
    # The command of the assignments page, from the root of the clone.
    with jupyter_lab(clone, "assignments/", home=tmp_path_factory.mktemp("jupyter-home")) as s:
        yield s


def _open_notebook(browser, lab, path: str) -> tuple[Page, PageLog]:
    """Open ``path`` (relative to the server's root) in a new tab; returns once its kernel is
    ready."""
    page, log = open_page(browser, lab.page_url(f"lab/tree/{path}?reset"))
    expect(page.locator(".jp-NotebookPanel")).to_be_visible(timeout=KERNEL_TIMEOUT_MS)
    try:
        page.wait_for_function(_KERNEL_SETTLED, polling=100, timeout=KERNEL_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        raise AssertionError(
            f"the kernel of {path} was not idle within {KERNEL_TIMEOUT_MS / 1000:.0f} s:\n"
            + lab.log_tail()
        ) from None
    return page, log


def _restart_and_run_all(page: Page, lab) -> None:
    """Kernel → Restart Kernel and Run All Cells, confirmed; returns when the run is over."""
    page.get_by_role("menuitem", name="Kernel", exact=True).click()
    page.locator('li.lm-Menu-item[data-command="runmenu:restart-and-run-all"]').click()
    dialog = page.locator(".jp-Dialog")
    expect(dialog).to_contain_text("Restart Kernel?")
    dialog.locator("button.jp-mod-accept").click()
    expect(dialog).to_have_count(0)
    try:
        page.wait_for_function(_RUN_FINISHED, polling=250, timeout=RUN_TIMEOUT_MS)
    except PlaywrightTimeoutError:
        state = page.evaluate(_RUN_STATE)
        raise AssertionError(
            f"Restart and Run All did not finish within {RUN_TIMEOUT_MS / 1000:.0f} s; "
            f"prompts {state['prompts']}, kernel {state['status']}:\n{lab.log_tail()}"
        ) from None


def _validate(page: Page):
    """Press Validate; the locator of the result shown in the dialog."""
    page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate").click()
    dialog = page.locator(".jp-Dialog", has_text="Validation Results")
    expect(dialog).to_be_visible(timeout=VALIDATE_TIMEOUT_MS)
    return dialog.locator("#validation-message")


def _first_test_line(path: Path) -> str:
    """The first line of the notebook's first test cell."""
    for cell in nbformat.read(path, as_version=4).cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
            return next(line.strip() for line in cell.source.splitlines() if line.strip())
    raise AssertionError(f"{ASSIGNMENT} has no test cell")


def _error_outputs(page: Page) -> list[str]:
    """Text of the outputs that went to stderr: tracebacks and warnings."""
    selector = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    return page.locator(selector).all_text_contents()


def test_lab_has_the_nbgrader_extensions(browser, lab):
    page, log = _open_notebook(browser, lab, RELEASED)
    try:
        expect(page.get_by_role("menuitem", name="Nbgrader", exact=True)).to_be_visible()
        expect(
            page.locator(".jp-NotebookPanel-toolbar").get_by_role("button", name="Validate")
        ).to_be_visible()
        assert not console_problems(log), console_problems(log)
    finally:
        page.close()


def test_stub_fails_validation_with_the_visible_tests_errors(browser, clone, lab):
    page, _ = _open_notebook(browser, lab, RELEASED)
    try:
        _restart_and_run_all(page, lab)
        errors = _error_outputs(page)
        assert errors and "NotImplementedError" in errors[0], errors
        result = _validate(page)
        expect(result).to_have_class(re.compile(r"\bvalidation-failed\b"))
        expect(result).to_contain_text("The following cell failed")
        # The first visible test fails: it is shown with its code and the error it raised.
        expect(result).to_contain_text(_first_test_line(clone / "assignments" / RELEASED))
        expect(result).to_contain_text("NotImplementedError")
        page.screenshot(path=_screenshot("validate-stub"))
    finally:
        page.close()


def test_completed_notebook_passes_validation(browser, lab):
    # Validate runs the whole notebook on a fresh kernel: running it in Lab first would only
    # double the test's time.
    page, _ = _open_notebook(browser, lab, f"completed/{ASSIGNMENT}/{NOTEBOOK}")
    try:
        result = _validate(page)
        expect(result).to_contain_text(SUCCESS)
        page.screenshot(path=_screenshot("validate-completed"))
    finally:
        page.close()


def _screenshot(name: str) -> Path:
    folder = REPO / "_build" / "browser-screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"jupyterlab-{name}.png"
