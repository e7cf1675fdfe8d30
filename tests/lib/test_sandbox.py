"""course_lib.sandbox: a grading kernel sees no network, no course files, and has limits.

The kernel is started the way nbgrader starts it in `make grade`: through the kernel spec,
over Unix sockets in a private folder.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from course_lib import sandbox

PROBLEM = sandbox.sandbox_problem()


def test_bwrap_command_hides_then_shows_again_in_order():
    policy = sandbox.SandboxPolicy(
        hidden=("/course",), readable=("/course/.venv",), memory_bytes=2**30, cpu_seconds=60
    )
    argv = sandbox.bwrap_command(
        policy, Path("/course/autograded/s"), ["python"], writable=(Path("/tmp/k"),)
    )
    assert argv[0] == "bwrap" and argv[-4:] == ["--as=1073741824", "--cpu=60", "--", "python"]
    assert "--unshare-net" in argv and "--clearenv" in argv
    position = {value: i for i, value in enumerate(argv)}
    # The course is emptied first, then the environment and the student's folder come back.
    assert position["/course"] < position["/course/.venv"] < position["/course/autograded/s"]
    assert argv[position["/course"] - 1] == "--tmpfs"
    assert argv[position["/course/.venv"] - 1] == "/course/.venv"  # --ro-bind SRC DEST


def test_policy_round_trips_through_json():
    policy = sandbox.SandboxPolicy(hidden=("/a",), readable=("/a/b",), memory_bytes=None)
    assert sandbox.SandboxPolicy.from_json(policy.to_json()) == policy


@pytest.fixture
def kernel(tmp_path, monkeypatch):
    """A sandboxed kernel whose hidden 'course' holds a secret, and a function to run code."""
    if PROBLEM:
        if os.environ.get("CI"):
            pytest.fail(f"the grading sandbox must work on CI: {PROBLEM}")
        pytest.skip(PROBLEM)
    from jupyter_client.manager import KernelManager

    course = tmp_path / "course"
    (course / "solutions").mkdir(parents=True)
    (course / "solutions" / "answers.txt").write_text("the secret answer")
    work = course / "autograded" / "student"
    work.mkdir(parents=True)
    library = Path(sandbox.__file__).resolve().parents[1]
    policy = sandbox.SandboxPolicy(
        hidden=(str(course), str(library)),
        readable=(str(Path(sys.prefix).resolve()), str(Path(sandbox.__file__).parent)),
        memory_bytes=2 * 2**30,
        cpu_seconds=120,
    )
    sandbox.install_kernel(tmp_path / "jupyter", policy)
    sockets = Path(tempfile.mkdtemp(prefix=sandbox.RUNTIME_PREFIX))
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path / "jupyter"))
    monkeypatch.setenv("JUPYTER_RUNTIME_DIR", str(sockets))
    monkeypatch.setenv("GRADER_SECRET", "token-123")
    monkeypatch.chdir(work)
    manager = KernelManager(
        kernel_name=sandbox.KERNEL_NAME, transport="ipc", ip=str(sockets / "k")
    )
    manager.start_kernel(stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    client = manager.client()
    client.start_channels()
    client.wait_for_ready(timeout=120)

    def run(code: str) -> tuple[str, str]:
        """(printed text, error name) of running ``code``."""
        client.execute(code)
        text, error = "", ""
        while True:
            message = client.get_iopub_msg(timeout=120)
            kind, content = message["msg_type"], message["content"]
            if kind == "stream":
                text += content["text"]
            elif kind == "error":
                error = content["ename"]
            elif kind == "status" and content["execution_state"] == "idle":
                return text, error

    yield run, course, work, client, manager
    client.stop_channels()
    manager.shutdown_kernel(now=True)


def test_the_kernel_sees_no_course_file_and_no_network(kernel):
    run, course, work, *_ = kernel
    text, error = run(f"import os\nprint(sorted(os.listdir({str(course)!r})))")
    assert error == "" and text.strip() == "['autograded']"
    _, error = run(f"open({str(course / 'solutions' / 'answers.txt')!r}).read()")
    assert error == "FileNotFoundError"
    _, error = run("import socket\nsocket.create_connection(('192.0.2.1', 80), timeout=5)")
    assert error == "OSError"  # network unreachable: there is no interface
    text, _ = run("import os\nprint(os.environ.get('GRADER_SECRET'))")
    assert text.strip() == "None"


def test_the_kernel_works_in_its_own_folder_with_the_course_library(kernel):
    run, _, work, *_ = kernel
    text, error = run(
        "import torch, course_lib.grading\n"
        "open('note.txt', 'w').write('mine')\n"
        "print(torch.ones(3).sum().item())"
    )
    assert error == "" and text.strip() == "3.0"
    assert (work / "note.txt").read_text() == "mine"


def test_memory_is_limited_and_interrupts_arrive(kernel):
    run, _, _, client, manager = kernel
    _, error = run("import numpy\nx = numpy.ones(2**31)")  # 16 GiB
    assert error in {"MemoryError", "_ArrayMemoryError"}
    client.execute("while True:\n    pass")
    time.sleep(1.0)
    manager.interrupt_kernel()  # a message: the kernel is not the manager's child
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        message = client.get_iopub_msg(timeout=60)
        if message["msg_type"] == "error":
            assert message["content"]["ename"] == "KeyboardInterrupt"
            break
    else:
        pytest.fail("the interrupt did not stop the loop")


def test_the_launcher_refuses_a_socket_folder_not_made_for_the_kernel(tmp_path):
    connection = tmp_path / "kernel.json"
    connection.write_text(json.dumps({"ip": str(tmp_path / "kernel-ipc")}))
    policy = sandbox.SandboxPolicy(hidden=())
    result = subprocess.run(
        [sys.executable, "-m", "course_lib.sandbox", str(connection)],
        env={**os.environ, "COURSE_SANDBOX_POLICY": policy.to_json()},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0 and "made for them" in result.stderr
