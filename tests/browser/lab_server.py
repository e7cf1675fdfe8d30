"""A JupyterLab server for one test: started like a person starts it, stopped with nothing left."""

import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil

BIN = Path(sys.executable).parent
START_TIMEOUT_S = 90
STOP_TIMEOUT_S = 30


@dataclass
class LabServer:
    url: str  # base URL, ending in "/"
    token: str
    process: subprocess.Popen
    log: Path

    def page_url(self, path: str) -> str:
        """The URL of ``path`` (e.g. ``lab/tree/x.ipynb``) with the login token."""
        separator = "&" if "?" in path else "?"
        return f"{self.url}{path}{separator}token={self.token}"

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def request(self, method: str, path: str) -> int:
        request = urllib.request.Request(
            self.url + path, method=method, headers={"Authorization": f"token {self.token}"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def jupyter_lab(cwd: Path, *args: str, home: Path) -> Iterator[LabServer]:
    """Run ``jupyter lab *args`` in ``cwd`` on a free localhost port until the block ends.

    Jupyter's per-user folders live in ``home``, so the test neither reads nor writes the
    user's settings. News and update checks, which need the internet, are off. On exit the
    server is shut down through its API, which stops its kernels; the test fails if any
    process it started is still running afterwards.
    """
    home.mkdir(parents=True, exist_ok=True)
    # Lab would otherwise ask, in a pop-up over the notebook, whether to fetch Jupyter news.
    notifications = home / "lab-settings" / "@jupyterlab" / "apputils-extension"
    notifications.mkdir(parents=True, exist_ok=True)
    (notifications / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    token = secrets.token_hex(16)
    port = _free_port()
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(home / "config"),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(home / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "lab-workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
    }
    command = [
        str(BIN / "jupyter"),
        "lab",
        *args,
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if os.geteuid() == 0:  # CI runs as root, which Jupyter refuses unless told
        command.append("--allow-root")
    log = home / "jupyter-lab.log"
    with open(log, "w") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
    server = LabServer(f"http://127.0.0.1:{port}/", token, process, log)
    try:
        _wait_until_up(server)
        yield server
    finally:
        _stop(server)


def _wait_until_up(server: LabServer) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise AssertionError(f"jupyter lab exited at start:\n{server.log_tail()}")
        try:
            if server.request("GET", "api/status") == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(
        f"jupyter lab did not answer within {START_TIMEOUT_S} s:\n{server.log_tail()}"
    )


def _stop(server: LabServer) -> None:
    """Shut the server down as its API does; fail if it or one of its kernels lingers."""
    try:
        started = psutil.Process(server.process.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        started = []
    if server.process.poll() is None:
        try:
            server.request("POST", "api/shutdown")
        except OSError:
            pass
    try:
        server.process.wait(timeout=STOP_TIMEOUT_S)
        clean = True
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait(timeout=10)
        clean = False
    _, alive = psutil.wait_procs(started, timeout=10)
    left = []
    for process in alive:
        try:
            left.append(" ".join(process.cmdline()[:3]) or process.name())
            process.kill()
        except psutil.NoSuchProcess:
            pass
    assert clean, f"jupyter lab did not stop within {STOP_TIMEOUT_S} s:\n{server.log_tail()}"
    assert not left, f"processes left running after jupyter lab stopped: {left}"
