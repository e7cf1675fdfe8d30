"""A throw-away PostgreSQL server from Debian's `postgresql` package, for gradebook tests.

It listens on localhost at a free port and trusts local connections; its data folder is a
fresh temporary directory, removed with the server. PostgreSQL refuses to run as root, so as
root the server runs as the package's `postgres` user (which cannot enter pytest's private
temporary folders: hence a folder of its own).
"""

import contextlib
import getpass
import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path


def server_binaries() -> Path | None:
    """The newest installed PostgreSQL's bin folder, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: p.split("/")[4])
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """Start a server with a database `gradebook`; yields its SQLAlchemy URL."""
    binaries = server_binaries()
    if binaries is None:
        raise RuntimeError("PostgreSQL is not installed: run `make postgres` (Debian package)")
    as_root = os.geteuid() == 0
    user = "postgres" if as_root else getpass.getuser()

    def run(*command: str) -> None:
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    folder = Path(tempfile.mkdtemp(prefix="course-postgres-"))
    data = folder / "data"
    data.mkdir()
    if as_root:
        shutil.chown(folder, user)
        shutil.chown(data, user)
    port = _free_port()
    run(str(binaries / "initdb"), "-D", str(data), "-U", user, "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
    # With -l the server's output goes to a file, not to pipes this process would wait on.
    log = str(folder / "server.log")
    run(str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        run(
            str(binaries / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", user, "gradebook"
        )
        yield f"postgresql://{user}@127.0.0.1:{port}/gradebook"
    finally:
        run(str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)
