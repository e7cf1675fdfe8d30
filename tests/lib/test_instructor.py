"""Collecting submissions into nbgrader's layout, from folders and zip files."""

import shutil
import zipfile
from pathlib import Path

import pytest

from course_lib.instructor import collect_submissions, main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def course(tmp_path):
    (tmp_path / "solutions" / "logit_mle").mkdir(parents=True)
    shutil.copy(REPO / "solutions" / "logit_mle" / "logit_mle.ipynb", tmp_path / "solutions" / "logit_mle")
    return tmp_path


def _notebook(path: Path, text: str = "{}") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_collect_flat_export_renames_to_the_released_notebook(course, tmp_path):
    drop = tmp_path / "drop"
    _notebook(drop / "alice.ipynb", '{"who": "alice"}')
    _notebook(drop / "bob.ipynb", '{"who": "bob"}')
    collected = collect_submissions("logit_mle", drop, course)
    assert sorted(collected) == ["alice", "bob"]
    submitted = course / "submitted" / "alice" / "logit_mle"
    assert (submitted / "logit_mle.ipynb").read_text() == '{"who": "alice"}'
    assert (submitted / "timestamp.txt").read_text().strip()


def test_collect_nested_folders_and_zip_give_the_same_layout(course, tmp_path):
    drop = tmp_path / "drop"
    _notebook(drop / "carol" / "my copy of logit.ipynb", '{"who": "carol"}')
    _notebook(drop / "carol" / ".ipynb_checkpoints" / "old-checkpoint.ipynb")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as handle:
        handle.write(drop / "carol" / "my copy of logit.ipynb", "carol/my copy of logit.ipynb")
    for source in (drop, archive):
        collect_submissions("logit_mle", source, course)
        submitted = course / "submitted" / "carol" / "logit_mle" / "logit_mle.ipynb"
        assert submitted.read_text() == '{"who": "carol"}'


def test_collect_rejects_two_notebooks_for_a_one_notebook_assignment(course, tmp_path):
    _notebook(tmp_path / "drop" / "dan" / "a.ipynb")
    _notebook(tmp_path / "drop" / "dan" / "b.ipynb")
    with pytest.raises(ValueError, match="dan.*2 notebooks"):
        collect_submissions("logit_mle", tmp_path / "drop", course)


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        (lambda drop: drop.mkdir(), "no .ipynb"),
        (lambda drop: _notebook(drop / "bad id!.ipynb"), "student id"),
    ],
)
def test_collect_names_the_problem(course, tmp_path, setup, match):
    drop = tmp_path / "drop"
    setup(drop)
    with pytest.raises(ValueError, match=match):
        collect_submissions("logit_mle", drop, course)


def test_collect_unknown_assignment_is_a_clear_error(course, tmp_path):
    _notebook(tmp_path / "drop" / "erin.ipynb")
    with pytest.raises(ValueError, match="assignment 'flows'"):
        collect_submissions("flows", tmp_path / "drop", course)


def test_command_line_reports_errors_with_exit_code_2(course, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    code = main(["collect", "logit_mle", str(tmp_path / "empty"), "--course-root", str(course)])
    assert code == 2
    assert "no .ipynb" in capsys.readouterr().err
