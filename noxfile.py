"""Task runner: `nox -s tests lint typecheck docs bench build`."""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.options.sessions = ["lint", "typecheck", "tests", "docs"]
nox.options.default_venv_backend = "venv"

DEV = ".[dev]"
LINTED = (
    "src",
    "tests",
    "bench",
    "examples",
    "docs/howto",
    "noxfile.py",
    "docs/conf.py",
)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (PostgreSQL tests run when TOMORRO_SCIM_TEST_POSTGRES_URL is set)."""
    session.install("-e", DEV)
    session.run("pytest", *session.posargs, env={"PYTHONHASHSEED": "0"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check."""
    session.install("-e", DEV)
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the library and the examples."""
    session.install("-e", DEV)
    session.run("mypy", "--strict", "src", "examples")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation; any warning fails the build."""
    session.install("-e", DEV)
    session.run(
        "sphinx-build", "-W", "--keep-going", "-b", "html", "docs", "docs/_build/html"
    )


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks against the peers, in one process each; pass --quick for a smoke run."""
    session.install("-e", DEV)
    args = session.posargs or []
    for script in sorted(os.listdir("bench")):
        if script.endswith(".py") and not script.startswith("_"):
            session.run("python", f"bench/{script}", *args)


@nox.session
def build(session: nox.Session) -> None:
    """The release files: sdist and wheel in dist/, built in isolation, then twine check."""
    session.install("build>=1.2", "twine>=6.1")
    shutil.rmtree("dist", ignore_errors=True)  # upload only what this run built
    session.run("python", "-m", "build", "--outdir", "dist")
    session.run("twine", "check", "--strict", *sorted(glob.glob("dist/*")))
