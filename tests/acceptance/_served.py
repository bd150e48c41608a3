"""Run an example host app (``examples/*.py``) as a real HTTP server on 127.0.0.1.

The example runs as a subprocess, exactly as its docstring tells a developer
to run it (``python examples/flask_app.py --port … --token …``), on a SQLite
file in a temporary directory; its stdout and stderr go to a file the tests
read, so a chatty server can never block on a full pipe.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import httpx

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HOST = "127.0.0.1"
STARTUP_SECONDS = 30.0
"""How long a server may take to answer its first request (imports included)."""


@attrs.frozen
class ServedExample:
    """A running example: where it answers, its database and its output."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    """``http://127.0.0.1:<port>``: the host app's root; SCIM is under ``/scim/v2``."""
    database: str
    """The SQLAlchemy URL of its SQLite file."""
    token: str
    """The Secret Token it was started with (``--token``)."""
    log: Path

    def output(self) -> str:
        """Everything the server printed and logged so far."""
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    """A port nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    """End the server by its pid: SIGTERM, then SIGKILL if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_until_answering(process: subprocess.Popen[bytes], base_url: str) -> bool:
    """Poll the public discovery endpoint until it answers 200; ``False`` if the
    process exits first. Raises ``TimeoutError`` past :data:`STARTUP_SECONDS`."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            answer = httpx.get(f"{base_url}/scim/v2/ServiceProviderConfig", timeout=2)
        except httpx.TransportError:
            time.sleep(0.05)
            continue
        if answer.status_code == 200:
            return True
        time.sleep(0.05)
    raise TimeoutError(f"the server at {base_url} did not answer in time")


@contextmanager
def serve_example(name: str, directory: Path, token: str) -> Iterator[ServedExample]:
    """Start ``examples/<name>.py`` on a free port and yield it once it answers.

    A port another process takes between the choice and the bind makes the
    server exit at once; it is then started again on another port (3 tries).
    """
    database = f"sqlite:///{directory / (name + '.db')}"
    log = directory / f"{name}.log"
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for _ in range(3):
        port = free_port()
        base_url = f"http://{HOST}:{port}"
        command = [
            sys.executable,
            str(EXAMPLES / f"{name}.py"),
            "--host",
            HOST,
            "--port",
            str(port),
            "--token",
            token,
            "--database",
            database,
        ]
        with log.open("wb") as sink:
            process = subprocess.Popen(
                command,
                cwd=directory,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            if _wait_until_answering(process, base_url):
                yield ServedExample(name, process, base_url, database, token, log)
                return
        finally:
            _stop(process)
    raise RuntimeError(
        f"{name} did not start:\n{log.read_text(encoding='utf-8', errors='replace')}"
    )
