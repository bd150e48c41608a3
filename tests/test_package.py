"""The files a user installs: the sdist and the wheel that ``python -m build`` makes.

What a user can check about a release without reading the code: PyPI's upload
checks (``twine check --strict``) accept both files; the wheel holds the
package, its PEP 561 ``py.typed`` marker and nothing else (no tests, benchmarks
or docs); the metadata carries the version, the PEP 639 licence expression, the
project URLs and a changelog entry; and the wheel, installed in a fresh virtual
environment, imports with its core dependencies alone, then, with the ``cli``
extra, runs ``tomorro-scim serve`` and answers SCIM requests (RFC 7644 §4
discovery, §3.3 create, §3.4.2 filtered list, §2 bearer authentication).

The build runs with ``--no-isolation`` against the ``hatchling`` of the ``dev``
extra, so it needs no download; installing the wheel's dependencies in the
fresh environment uses pip's usual sources and cache.
"""

from __future__ import annotations

import datetime
import email.message
import email.parser
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tarfile
import time
import tomllib
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tomorro_scim

ROOT = Path(__file__).resolve().parent.parent
PROJECT: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())[
    "project"
]
VERSION: str = PROJECT["version"]
TOKEN = "package-test-token-0123456789abcdef"
USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"


@dataclass(frozen=True)
class Dists:
    sdist: Path
    wheel: Path


def _run(
    command: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion; fail the test with its output if it fails."""
    done = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, (
        f"{command} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    )
    return done


def _build_artefacts() -> set[Path]:
    """What a build could leave in the checkout: ``dist/``, ``build/``, egg-info."""
    found = {ROOT / "dist", ROOT / "build", ROOT / "src" / "build"}
    found = {path for path in found if path.exists()}
    found.update(ROOT.glob("*.egg-info"))
    found.update((ROOT / "src").glob("*.egg-info"))
    return found


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> Dists:
    """``python -m build``: the sdist, then the wheel built from that sdist."""
    out = tmp_path_factory.mktemp("dist")
    before = _build_artefacts()
    _run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT],
        timeout=120,
        cwd=out,
    )
    # The build writes only to --outdir, never into the checkout.
    assert _build_artefacts() <= before
    sdists = sorted(out.glob("*.tar.gz"))
    wheels = sorted(out.glob("*.whl"))
    assert [path.name for path in sdists] == [f"tomorro_scim-{VERSION}.tar.gz"]
    assert [path.name for path in wheels] == [
        f"tomorro_scim-{VERSION}-py3-none-any.whl"
    ]
    return Dists(sdist=sdists[0], wheel=wheels[0])


def _wheel_metadata(wheel: Path) -> email.message.Message:
    with zipfile.ZipFile(wheel) as archive:
        text = archive.read(f"tomorro_scim-{VERSION}.dist-info/METADATA").decode()
    return email.parser.HeaderParser().parsestr(text)


# -- the files ------------------------------------------------------------------


def test_twine_check_accepts_the_sdist_and_the_wheel(dists: Dists) -> None:
    """``--strict`` also fails on warnings, such as a README PyPI cannot render."""
    done = _run(
        [
            sys.executable,
            "-m",
            "twine",
            "check",
            "--strict",
            dists.sdist,
            dists.wheel,
        ],
        timeout=60,
        cwd=dists.wheel.parent,
    )
    assert done.stdout.count("PASSED") == 2, done.stdout


def test_the_wheel_holds_the_package_and_nothing_else(dists: Dists) -> None:
    with zipfile.ZipFile(dists.wheel) as archive:
        names = archive.namelist()
    dist_info = f"tomorro_scim-{VERSION}.dist-info/"
    strays = [
        name
        for name in names
        if not name.startswith(("tomorro_scim/", dist_info))
        or "__pycache__" in name
        or name.endswith((".pyc", ".db"))
    ]
    assert strays == []  # no tests/, bench/, docs/, examples/, caches or databases
    # PEP 561: the marker that tells type checkers the package ships its types.
    assert "tomorro_scim/py.typed" in names
    assert f"{dist_info}licenses/LICENSE" in names
    # Every module of the source tree is in the wheel, the contract kit included.
    source = ROOT / "src"
    modules = {
        path.relative_to(source).as_posix()
        for path in source.rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert modules <= set(names)
    assert "tomorro_scim/testing/__init__.py" in names
    with zipfile.ZipFile(dists.wheel) as archive:
        entry_points = archive.read(f"{dist_info}entry_points.txt").decode()
    assert "tomorro-scim = tomorro_scim.cli:main" in entry_points


def test_the_sdist_holds_the_sources_tests_and_docs(dists: Dists) -> None:
    """The sdist is the whole source: a packager can run the tests and build the docs."""
    top = f"tomorro_scim-{VERSION}/"
    with tarfile.open(dists.sdist) as archive:
        names = {name.removeprefix(top) for name in archive.getnames()}
    for required in (
        "pyproject.toml",
        "PKG-INFO",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "src/tomorro_scim/__init__.py",
        "src/tomorro_scim/py.typed",
        "tests/conftest.py",
        "tests/test_package.py",
        "docs/conf.py",
        "docs/index.md",
    ):
        assert required in names, required
    # Nothing generated or local: no caches, databases, built docs or venvs.
    local = {
        "__pycache__",
        ".hypothesis",
        "_build",
        ".venv",
        ".ci-venv",
        ".git",
        "dist",
    }
    strays = [
        name
        for name in names
        if local.intersection(name.split("/")) or name.endswith((".pyc", ".db"))
    ]
    assert strays == []


def test_the_metadata(dists: Dists) -> None:
    metadata = _wheel_metadata(dists.wheel)
    assert metadata["Name"] == "tomorro-scim"
    assert metadata["Version"] == VERSION
    # PEP 639: License-Expression needs metadata 2.4 (hatchling >= 1.27).
    major, minor = (int(part) for part in metadata["Metadata-Version"].split("."))
    assert (major, minor) >= (2, 4)
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    classifiers = metadata.get_all("Classifier") or []
    # PEP 639 deprecates licence classifiers; PyPI refuses them beside a
    # License-Expression.
    assert [c for c in classifiers if c.startswith("License ::")] == []
    assert len([c for c in classifiers if c.startswith("Development Status ::")]) == 1
    assert "Typing :: Typed" in classifiers
    # Every Python version claimed is one requires-python admits.
    assert metadata["Requires-Python"] == PROJECT["requires-python"] == ">=3.11"
    claimed = [
        int(c.rsplit(".", 1)[1])
        for c in classifiers
        if re.fullmatch(r"Programming Language :: Python :: 3\.\d+", c)
    ]
    assert claimed
    assert min(claimed) == 11
    assert metadata["Description-Content-Type"] == "text/markdown"
    urls = {
        label: url
        for label, _, url in (
            entry.partition(", ") for entry in metadata.get_all("Project-URL") or []
        )
    }
    assert set(urls) >= {"Homepage", "Documentation", "Changelog", "Issues", "Source"}
    assert all(url.startswith("https://") for url in urls.values())
    assert set(metadata.get_all("Provides-Extra") or []) == set(
        PROJECT["optional-dependencies"]
    )


def test_the_changelog_has_an_entry_for_a_release_version() -> None:
    """Keep a Changelog 1.1.0: ``## [X.Y.Z] - YYYY-MM-DD`` and a link for it."""
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert changelog.count("## [Unreleased]") == 1
    if re.fullmatch(r"\d+\.\d+\.\d+", VERSION) is None:
        # A development or pre-release version has no section of its own yet.
        assert re.search(r"\.dev\d+$|(a|b|rc)\d+$", VERSION), VERSION
        return
    heading = re.search(
        rf"^## \[{re.escape(VERSION)}\] - (\d{{4}}-\d{{2}}-\d{{2}})$",
        changelog,
        re.MULTILINE,
    )
    assert heading is not None, f"CHANGELOG.md has no '## [{VERSION}] - date'"
    datetime.date.fromisoformat(heading.group(1))
    assert changelog.index("## [Unreleased]") < heading.start()
    assert re.search(
        rf"^\[{re.escape(VERSION)}\]: https://\S+$", changelog, re.MULTILINE
    )
    assert re.search(r"^\[Unreleased\]: https://\S+$", changelog, re.MULTILINE)


def test_version_is_the_installed_distribution_version() -> None:
    from importlib.metadata import version

    assert isinstance(tomorro_scim.__version__, str)
    assert tomorro_scim.__version__ == version("tomorro-scim")


# -- the wheel in a fresh virtual environment --------------------------------------


def _clean_env() -> dict[str, str]:
    """This process's environment without what points at the development venv."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP"}
    }
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _call(
    url: str, token: str | None, body: dict[str, Any] | None = None
) -> tuple[int, dict[str, Any]]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data)
    if body is not None:
        request.add_header("Content-Type", "application/scim+json")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


PROBE = """
import importlib.metadata, importlib.util, json, tomorro_scim
print(json.dumps({
    "version": tomorro_scim.__version__,
    "metadata": importlib.metadata.version("tomorro-scim"),
    "file": tomorro_scim.__file__,
    "frameworks": [name for name in ("flask", "starlette", "uvicorn", "sqlalchemy")
                   if importlib.util.find_spec(name) is not None],
}))
"""


def test_the_wheel_installs_in_a_fresh_venv_and_serves(
    dists: Dists, tmp_path: Path
) -> None:
    env = _clean_env()
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], timeout=120, cwd=tmp_path, env=env)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bin_dir / "python"

    # The wheel alone: the core imports with its three dependencies and no
    # web framework or database toolkit.
    pip: list[str | Path] = [python, "-m", "pip", "install", "--quiet"]
    _run([*pip, dists.wheel], timeout=300, cwd=tmp_path, env=env)
    probe = json.loads(
        _run([python, "-c", PROBE], timeout=60, cwd=tmp_path, env=env).stdout
    )
    assert probe["version"] == probe["metadata"] == VERSION
    assert Path(probe["file"]).is_relative_to(venv)  # the wheel, not the checkout
    assert probe["frameworks"] == []
    script = bin_dir / "tomorro-scim"
    done = _run([script, "--version"], timeout=60, cwd=tmp_path, env=env)
    assert done.stdout.strip() == f"tomorro-scim {VERSION}"
    without_extra = subprocess.run(
        [str(script), "serve"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert without_extra.returncode == 2
    assert 'pip install "tomorro-scim[cli]"' in without_extra.stderr

    # With the cli extra, the demo server on an embedded SQLite file.
    _run([*pip, f"{dists.wheel}[cli]"], timeout=300, cwd=tmp_path, env=env)
    port = _free_port()
    root = f"http://127.0.0.1:{port}/scim/v2"
    database = tmp_path / "x.db"
    with subprocess.Popen(
        [
            str(script),
            "serve",
            "--port",
            str(port),
            "--database",
            f"sqlite:///{database}",
            "--token",
            TOKEN,
            "--log-level",
            "warning",
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as server:
        try:
            deadline = time.monotonic() + 30
            while True:
                assert server.poll() is None, "the server exited early"
                try:
                    status, config = _call(f"{root}/ServiceProviderConfig", None)
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            assert status == 200
            assert config["patch"]["supported"] is True
            status, listing = _call(f"{root}/Users", TOKEN)
            assert (status, listing["totalResults"]) == (200, 0)
            status, created = _call(
                f"{root}/Users",
                TOKEN,
                {"schemas": [USER_SCHEMA], "userName": "ada@example.com"},
            )
            assert status == 201
            query = urllib.parse.quote('userName eq "ADA@example.com"')
            status, found = _call(f"{root}/Users?filter={query}", TOKEN)
            assert status == 200
            assert [user["id"] for user in found["Resources"]] == [created["id"]]
            status, error = _call(f"{root}/Users", None)
            assert (status, error["status"]) == (401, "401")
        finally:
            os.kill(server.pid, signal.SIGTERM)
            try:
                output, _ = server.communicate(timeout=15)
            except subprocess.TimeoutExpired:  # pragma: no cover
                server.kill()
                output, _ = server.communicate(timeout=15)
    assert f"tomorro-scim {VERSION}" in output
    assert f"Secret Token: {TOKEN}" in output
    assert database.exists()
