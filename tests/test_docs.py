"""The documentation's code runs: the backend how-to's storage passes the
contract kit, and every ```python block of the guides runs on its own."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tomorro_scim.testing import StorageContract

DOCS = Path(__file__).resolve().parent.parent / "docs"
sys.path.insert(0, str(DOCS / "howto"))

from accounts_storage import AccountsStorage  # noqa: E402


class TestDocsAccountsStorage(StorageContract):
    """docs/howto/storage-backend.md: the guide's backend keeps the contract."""

    def make_storage(self) -> AccountsStorage:
        return AccountsStorage(":memory:")


# What the blocks read from the environment (docs/howto/postgresql.md).
_NEEDS = {"SCIM_DATABASE_URL": "sqlite:///./scim.db"}

_BLOCKS = [
    (path, text[: match.start()].count("\n") + 1, match.group(1))
    for path in sorted(DOCS.rglob("*.md"))
    for text in [path.read_text(encoding="utf-8")]
    for match in re.finditer(r"```python\n(.*?)```", text, re.S)
]


def test_the_guides_have_examples() -> None:
    """The blocks below are collected, not silently lost (the role-mapping
    guide alone has eight)."""
    assert len(_BLOCKS) >= 25
    assert sum(p.name == "roles.md" for p, _, _ in _BLOCKS) >= 8


@pytest.mark.parametrize(
    ("path", "line", "source"),
    _BLOCKS,
    ids=[f"{p.relative_to(DOCS)}:{line}" for p, line, _ in _BLOCKS],
)
def test_docs_python_block_runs(
    path: Path, line: int, source: str, tmp_path: Path
) -> None:
    script = tmp_path / "block.py"
    script.write_text(source, encoding="utf-8")
    env = {**os.environ, **_NEEDS, "PYTHONPATH": str(DOCS / "howto")}
    result = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{path}:{line}\n{result.stderr}"
