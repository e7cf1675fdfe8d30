"""environment.yml (conda users) installs the same packages as pyproject.toml and the Makefile."""

import re
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[1]


def _pyproject_requirements() -> dict[str, str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs += extra
    return {Requirement(s).name.lower(): str(Requirement(s).specifier) for s in specs}


def _conda_pip_requirements() -> dict[str, str]:
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    lines = [line for line in pip if not line.startswith("-")]
    return {Requirement(s).name.lower(): str(Requirement(s).specifier) for s in lines}


def _makefile_torch_pin() -> str:
    match = re.search(r"^TORCH_SPEC \?= (torch==\S+)$", (REPO / "Makefile").read_text(), re.M)
    assert match, "the Makefile must pin torch with TORCH_SPEC ?= torch==<version>"
    return match.group(1)


def test_environment_lists_the_pyproject_requirements():
    pyproject = _pyproject_requirements()
    conda = _conda_pip_requirements()
    assert set(conda) == set(pyproject)
    different = {name: (pyproject[name], conda[name]) for name in pyproject if name != "torch"}
    different = {name: specs for name, specs in different.items() if specs[0] != specs[1]}
    assert not different, f"pyproject vs environment.yml: {different}"


def test_torch_pin_is_the_same_everywhere_and_satisfies_pyproject():
    pin = Requirement(_makefile_torch_pin())
    conda = _conda_pip_requirements()["torch"]
    assert conda == str(pin.specifier)
    version = Version(str(pin.specifier).removeprefix("=="))
    assert version in Requirement(f"torch{_pyproject_requirements()['torch']}").specifier


def test_environment_installs_course_lib_with_pip():
    environment = yaml.safe_load((REPO / "environment.yml").read_text())
    pip = next(d["pip"] for d in environment["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
