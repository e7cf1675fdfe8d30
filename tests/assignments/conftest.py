"""Fixtures for the assignment tests."""

from pathlib import Path

import pytest
from nbgrader_course import ASSIGNMENTS, generate, new_course


@pytest.fixture(scope="session")
def generated_course(tmp_path_factory) -> Path:
    """A course directory in which every assignment has been generated."""
    course = new_course(tmp_path_factory.mktemp("course"))
    for assignment in ASSIGNMENTS:
        generate(course, assignment)
    return course
