"""Flags in a submitted notebook that an instructor should look at before trusting a grade.

Grading does not depend on these flags: nbgrader restores test cells and the checks run in
the graded kernel whatever the student wrote. The audit reads the student's code (answer
cells and cells the student added) without running it, and lists what a cheating or broken
submission typically does: patch the checks, use the graded reference or another library's
implementation of the answer (the assignment's peers, :class:`course_lib.replay.Peer`), leave
the kernel, touch files or the network, read the grading environment, or tamper with test
cells.

>>> import nbformat
>>> cell = nbformat.v4.new_code_cell("import os\\nos._exit(0)")
>>> cell.metadata["nbgrader"] = {"grade_id": "answer", "solution": True, "grade": False}
>>> [flag.kind for flag in audit_cells([cell], {})]
['kills the kernel']
"""

from __future__ import annotations

import ast
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat

if TYPE_CHECKING:
    from course_lib.replay import Peer

__all__ = ["Flag", "audit_cells", "audit_notebook", "graded_tests"]

# Modules whose attributes a submission has no reason to assign: the checks live there.
_CHECKED_MODULES = {"torch", "np", "numpy", "course_lib", "math", "builtins", "pytest", "nbgrader"}
# Parts of course_lib an answer may use; the others hold the graded references.
_ALLOWED_COURSE_MODULES = {"datasets", "training", "plotting"}
_CALLS = {
    "os._exit": "kills the kernel",
    "os.kill": "kills the kernel",
    "os.abort": "kills the kernel",
    "sys.exit": "leaves the kernel",
    "exit": "leaves the kernel",
    "quit": "leaves the kernel",
    "setattr": "patches an object",
    "delattr": "patches an object",
    "open": "accesses files",
    "os.system": "runs commands",
    "os.popen": "runs commands",
    "eval": "runs generated code",
    "exec": "runs generated code",
    "__import__": "imports dynamically",
    "importlib.import_module": "imports dynamically",
}
_MODULES = {
    "socket": "opens network connections",
    "urllib": "opens network connections",
    "http": "opens network connections",
    "requests": "opens network connections",
    "subprocess": "runs commands",
    "shutil": "accesses files",
    "glob": "accesses files",
    "ctypes": "calls native code",
    "signal": "handles signals",
    "gc": "inspects the interpreter",
    "inspect": "inspects the interpreter",
}
_ENVIRONMENT = re.compile(r"NBGRADER|os\.environ|getenv")
_FILES = re.compile(r"\b(solutions|gradebook|submitted|autograded|feedback)\b|\.\./")


@dataclass(frozen=True)
class Flag:
    """One suspicious thing: what kind, in which cell, and the line that shows it."""

    kind: str
    cell: str
    line: str

    def __str__(self) -> str:
        return f"{self.kind} (cell {self.cell}: {self.line.strip()[:80]})"


def _dotted(node: ast.AST) -> str:
    """``a.b.c`` for a name or attribute chain, else ''."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return ".".join([node.id, *reversed(parts)])
    if isinstance(node, ast.Subscript):
        return _dotted(node.value) + "[]"
    return ""


def _course_module(module: str) -> str | None:
    """The course_lib submodule a dotted name uses, if it is not one an answer may use."""
    parts = module.split(".")
    if parts[0] != "course_lib":
        return None
    if len(parts) > 1 and parts[1] in _ALLOWED_COURSE_MODULES:
        return None
    return ".".join(parts[:2])


def _code_flags(source: str, cell: str) -> list[Flag]:
    lines = source.splitlines()

    def flag(kind: str, node: ast.AST) -> Flag:
        return Flag(kind, cell, lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else "")

    # Notebook magics and shell escapes are not Python; they are flagged, then dropped.
    found = [
        Flag("runs shell commands", cell, line)
        for line in lines
        if line.lstrip().startswith(("!", "%%bash", "%%sh", "%system"))
    ]
    python = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in lines)
    try:
        tree = ast.parse(python)
    except SyntaxError as error:
        return [*found, Flag("is not valid Python", cell, str(error))]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [f"{node.module or ''}.{alias.name}" for alias in node.names]
            )
            for name in names:
                module = _course_module(name)
                if module:
                    found.append(flag(f"uses the graded reference {module}", node))
                elif name.split(".")[0] in _MODULES:
                    found.append(flag(_MODULES[name.split(".")[0]], node))
        elif isinstance(node, ast.Call):
            called = _dotted(node.func)
            if called in _CALLS:
                found.append(flag(_CALLS[called], node))
        elif isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                name = _dotted(target)
                if "." in name and name.split(".")[0] in _CHECKED_MODULES:
                    found.append(flag(f"patches {name}", node))
                elif name.startswith("sys.modules"):
                    found.append(flag("replaces a module in sys.modules", node))
        elif isinstance(node, ast.Attribute):
            module = _course_module(_dotted(node))
            if module:
                found.append(flag(f"uses the graded reference {module}", node))
    for number, line in enumerate(lines):
        if _ENVIRONMENT.search(line):
            found.append(Flag("reads the grading environment", cell, lines[number]))
        if _FILES.search(line) and not line.lstrip().startswith("#"):
            found.append(Flag("names the instructor's folders", cell, lines[number]))
    return found


def _aliases(cells: list) -> dict[str, str]:
    """Name -> the dotted name it was imported as, over every code cell of the notebook (the
    provided cells too: ``from geomloss import SamplesLoss`` in a setup cell)."""
    aliases = {}
    for cell in cells:
        if cell.cell_type != "code":
            continue
        python = "\n".join(
            "" if line.lstrip().startswith(("!", "%")) else line
            for line in cell.source.splitlines()
        )
        try:
            tree = ast.parse(python)
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname:
                        aliases[alias.asname] = alias.name
                    else:
                        head = alias.name.split(".")[0]
                        aliases[head] = head
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                for alias in node.names:
                    aliases[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    return aliases


def _is_within(used: str, name: str) -> bool:
    """Whether the dotted name ``used`` is ``name`` or inside it; ``module.*`` (a star import)
    is within ``name`` when ``name`` is in that module, or the module in ``name``."""
    if used.endswith(".*"):
        module = used[:-2]
        return _is_within(module, name) or name.startswith(f"{module}.")
    return used == name or used.startswith(f"{name}.")


def _peer_flags(source: str, cell: str, peers: Sequence[Peer], aliases: dict) -> list[Flag]:
    """Flags for the peers ``source`` imports or names (through the notebook's imports)."""
    peers = [peer for peer in peers if cell not in peer.allowed]
    if not peers:
        return []
    lines = source.splitlines()
    python = "\n".join("" if line.lstrip().startswith(("!", "%")) else line for line in lines)
    try:
        tree = ast.parse(python)
    except SyntaxError:
        return []  # flagged as invalid Python already
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            used = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            used = [f"{node.module}.{alias.name}" for alias in node.names]
        elif isinstance(node, ast.Attribute | ast.Name):
            dotted = _dotted(node)
            head, _, rest = dotted.partition(".")
            if head not in aliases:
                continue  # a local name, not an imported one
            used = [f"{aliases[head]}.{rest}" if rest else aliases[head]]
        else:
            continue
        for peer in peers:
            if any(_is_within(u, n) for u in used for n in peer.names):
                line = lines[node.lineno - 1] if 0 < node.lineno <= len(lines) else ""
                kind = f"uses {peer.what}, which computes the graded {', '.join(peer.answers)}"
                found.append(Flag(kind, cell, line))
    return found


def _cell_id(cell, index: int) -> str:
    return cell.metadata.get("nbgrader", {}).get("grade_id") or f"#{index + 1}"


def audit_cells(
    cells: list, tests: dict[str, tuple[str, str]], peers: Sequence[Peer] = ()
) -> list[Flag]:
    """Flags in a submission's cells.

    Args:
        cells: The submitted notebook's cells.
        tests: Grade id -> (cell type, source) of the test cells of the source notebook;
            a test cell that is missing, changed or of another type is flagged.
        peers: Other libraries' implementations of the graded answers
            (:attr:`course_lib.replay.OutsideChecks.peers`): flagged where the student's
            code uses them, except in the cells whose task asks for them.

    Returns:
        The flags, in cell order, each kind at most once per cell.
    """
    flags: list[Flag] = []
    seen_ids: set[str] = set()
    aliases = _aliases(cells) if peers else {}
    for index, cell in enumerate(cells):
        meta = cell.metadata.get("nbgrader", {})
        cell_id = _cell_id(cell, index)
        if meta.get("grade_id"):
            if meta["grade_id"] in seen_ids:
                flags.append(Flag("copies a graded cell (duplicate id)", cell_id, ""))
            seen_ids.add(meta["grade_id"])
        if meta.get("grade_id") in tests:
            kind, source = tests[meta["grade_id"]]
            if cell.cell_type != kind:
                flags.append(Flag(f"turned a test cell into {cell.cell_type}", cell_id, ""))
            elif cell.source.strip() != source.strip():
                flags.append(Flag("edited a test cell", cell_id, cell.source[:80]))
            continue
        if cell.cell_type != "code" or (meta and not meta.get("solution")):
            continue  # provided cells: the student did not write them
        found_here = _code_flags(cell.source, cell_id)
        found_here += _peer_flags(cell.source, cell_id, peers, aliases)
        for found in found_here:
            if all((found.kind, found.cell) != (f.kind, f.cell) for f in flags):
                flags.append(found)
    flags += [Flag("deleted a test cell", test, "") for test in sorted(set(tests) - seen_ids)]
    return flags


def graded_tests(source_notebook: str | Path) -> dict[str, tuple[str, str]]:
    """Grade id -> (cell type, source) of a source notebook's autograded test cells."""
    notebook = nbformat.read(str(source_notebook), as_version=4)
    return {
        cell.metadata["nbgrader"]["grade_id"]: (cell.cell_type, cell.source)
        for cell in notebook.cells
        if cell.metadata.get("nbgrader", {}).get("grade")
        and not cell.metadata["nbgrader"].get("solution")
    }


def audit_notebook(
    submission: str | Path, source_notebook: str | Path, peers: Sequence[Peer] = ()
) -> list[Flag]:
    """Flags in a submitted notebook, compared with its source (solutions/) notebook, and
    the uses of ``peers`` (see :func:`audit_cells`).

    Raises:
        ValueError: if the submission is not a readable notebook (that is itself worth a look).
    """
    try:
        notebook = nbformat.read(str(submission), as_version=4)
    except Exception as error:  # nbformat raises several types for broken JSON
        raise ValueError(f"submission {submission} is not a readable notebook: {error}") from None
    return audit_cells(notebook.cells, graded_tests(source_notebook), peers)
