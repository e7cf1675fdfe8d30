"""A sandboxed Jupyter kernel for grading: no network, no course files, limited resources.

Grading runs each submission in a kernel started through this module's launcher, which
wraps ``ipykernel`` in bubblewrap (``bwrap``, Debian's ``bubblewrap``, Linux namespaces):

- a new network namespace with no interface: no connection leaves the kernel;
- the whole course directory is replaced by an empty one, then only what the kernel needs
  is shown again, read-only: the Python environment and ``course_lib``. ``solutions/``, the
  gradebook, other students' submissions and the grading logs are not there;
- the submission's own folder is writable; ``/tmp`` and ``HOME`` are private and empty;
- the kernel's address space and CPU time are capped (``prlimit``): a memory blow-up
  becomes a ``MemoryError`` in the cell and an endless computation a dead kernel, which
  :class:`course_lib.robust_autograde.ResilientExecute` survives.

The kernel talks to nbgrader over Unix sockets (Jupyter's ``ipc`` transport, with
``KernelManager.ip`` in a private folder), since it has no network to reach ``localhost``.
Interrupts (cell timeouts) travel as messages, not signals: the kernel is not nbgrader's child.

:func:`sandbox_problem` says whether this machine can do it; without namespaces grading
still works, unsandboxed, and says so loudly (see ``course_lib.class_grading``).
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "KERNEL_NAME",
    "RUNTIME_PREFIX",
    "SandboxPolicy",
    "bwrap_command",
    "install_kernel",
    "sandbox_problem",
]

KERNEL_NAME = "course-sandbox"
# Prefix of the private folder that holds one kernel's connection file and sockets.
RUNTIME_PREFIX = "course-kernel-"
_POLICY_VARIABLE = "COURSE_SANDBOX_POLICY"
_KEPT_VARIABLES = (
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES",
    "NVIDIA_TF32_OVERRIDE",
    "CUBLAS_WORKSPACE_CONFIG",
    "PYTHONPATH",
    "NBGRADER_EXECUTION",
)


@dataclass(frozen=True)
class SandboxPolicy:
    """What a sandboxed kernel may see and use.

    Attributes:
        hidden: Folders replaced by empty ones (the course directory).
        readable: Folders inside ``hidden`` shown again, read-only (environment, library).
        memory_bytes: Address-space limit of the kernel (None: unlimited; CUDA needs that).
        cpu_seconds: CPU-time limit of the kernel over the whole notebook (None: unlimited).
        replaced: ``(file, replacement)`` pairs: ``file`` shows ``replacement``'s content
            (read-only), applied after ``readable`` (:mod:`course_lib.replay` swaps graded
            references for versions that refuse to run).
        emptied: Folders inside ``readable`` replaced by empty ones (the ``__pycache__`` of
            replaced modules, whose compiled code would bring the originals back).
    """

    hidden: tuple[str, ...]
    readable: tuple[str, ...] = ()
    memory_bytes: int | None = None
    cpu_seconds: int | None = None
    replaced: tuple[tuple[str, str], ...] = ()
    emptied: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> SandboxPolicy:
        fields = json.loads(text)
        fields["hidden"] = tuple(fields["hidden"])
        fields["readable"] = tuple(fields["readable"])
        fields["replaced"] = tuple(tuple(pair) for pair in fields.get("replaced", ()))
        fields["emptied"] = tuple(fields.get("emptied", ()))
        return cls(**fields)


def bwrap_command(
    policy: SandboxPolicy,
    workdir: Path,
    command: list[str],
    *,
    writable: tuple[Path, ...] = (),
    readable_files: tuple[Path, ...] = (),
) -> list[str]:
    """The bwrap (and prlimit) command line that runs ``command`` under ``policy``.

    ``workdir`` (the submission's folder) and ``writable`` (the socket folder) stay writable,
    ``readable_files`` (the connection file) readable. Later mounts cover earlier ones, so
    the order below matters.
    """
    argv = [
        "bwrap",
        "--ro-bind", "/", "/",
        "--dev", "/dev",
        "--proc", "/proc",
        "--tmpfs", "/tmp",
        "--unshare-net",
        "--unshare-pid",
        "--unshare-ipc",
        "--die-with-parent",
        "--new-session",
        # Only what a kernel needs from the grader's environment: no tokens or passwords.
        "--clearenv",
        *(
            item
            for name in _KEPT_VARIABLES
            if name in os.environ
            for item in ("--setenv", name, os.environ[name])
        ),
        "--setenv", "HOME", "/tmp",
        "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib",
    ]  # fmt: skip
    # The fresh /dev has no GPU: a CUDA runner's devices are bound in again.
    for device in sorted(glob.glob("/dev/nvidia*")):
        argv += ["--dev-bind", device, device]
    for folder in policy.hidden:
        argv += ["--tmpfs", folder]
    for folder in policy.readable:
        argv += ["--ro-bind", folder, folder]
    for folder in policy.emptied:
        argv += ["--tmpfs", folder]
    for path, replacement in policy.replaced:
        argv += ["--ro-bind", replacement, path]
    for path in readable_files:
        argv += ["--ro-bind", str(path), str(path)]
    for folder in (workdir, *writable):
        argv += ["--bind", str(folder), str(folder)]
    argv += ["--chdir", str(workdir)]
    limits = []
    if policy.memory_bytes:
        limits.append(f"--as={policy.memory_bytes}")
    if policy.cpu_seconds:
        limits.append(f"--cpu={policy.cpu_seconds}")
    if limits:
        argv += ["prlimit", *limits, "--"]
    return argv + command


def sandbox_problem() -> str | None:
    """Why grading kernels cannot be sandboxed on this machine, or None if they can."""
    if shutil.which("bwrap") is None:
        return "bubblewrap (bwrap) is not installed (Debian: apt-get install bubblewrap)"
    if shutil.which("prlimit") is None:
        return "prlimit (util-linux) is not installed"
    probe = bwrap_command(SandboxPolicy(hidden=()), Path.cwd(), ["true"])
    try:
        result = subprocess.run(probe, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"bwrap does not run: {error}"
    if result.returncode != 0:
        return f"bwrap cannot create namespaces here: {result.stderr.strip()[:300]}"
    return None


def install_kernel(data_dir: Path, policy: SandboxPolicy) -> Path:
    """Write the sandboxed kernel's spec under ``data_dir/kernels``; returns its folder.

    Put ``data_dir`` on ``JUPYTER_PATH`` and ask for kernel ``KERNEL_NAME``.
    """
    folder = Path(data_dir) / "kernels" / KERNEL_NAME
    folder.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [sys.executable, "-m", "course_lib.sandbox", "{connection_file}"],
        "display_name": "Python 3 (grading sandbox)",
        "language": "python",
        "interrupt_mode": "message",
        "env": {_POLICY_VARIABLE: policy.to_json()},
        "metadata": {"debugger": False},
    }
    (folder / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n")
    return folder


def main(argv: list[str]) -> None:
    """Kernel launcher: ``python -m course_lib.sandbox CONNECTION_FILE [kernel arguments]``."""
    if not argv:
        raise SystemExit("usage: python -m course_lib.sandbox CONNECTION_FILE [arguments]")
    policy = SandboxPolicy.from_json(os.environ[_POLICY_VARIABLE])
    connection_file = Path(argv[0]).resolve()
    # The kernel creates its Unix sockets at "<ip>-<port>": that folder becomes writable in
    # the sandbox, so it must be one made for this kernel's sockets only.
    sockets = Path(json.loads(connection_file.read_text())["ip"]).parent
    if not sockets.name.startswith(RUNTIME_PREFIX):
        raise SystemExit(
            f"the kernel's sockets must be in a folder made for them ({RUNTIME_PREFIX}*), "
            f"not {sockets}: start it with transport 'ipc' and KernelManager.ip in such a folder"
        )
    kernel = [sys.executable, "-m", "ipykernel_launcher", "-f", str(connection_file), *argv[1:]]
    command = bwrap_command(
        policy, Path.cwd(), kernel, writable=(sockets,), readable_files=(connection_file,)
    )
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv[1:])
