"""The ``tomorro-scim`` command: arguments, tenants and tokens, and a real server."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tomorro_scim import cli
from tomorro_scim.auth import parse_token

TOKEN = "demo-secret-token-0123456789abcdef"


def parse(*argv: str) -> argparse.Namespace:
    return cli._parser().parse_args(argv)


@pytest.fixture(autouse=True)
def in_tmp_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``serve`` keeps its SQLite file in the working directory."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- arguments -----------------------------------------------------------------


def test_serve_defaults() -> None:
    args = parse("serve")
    assert (args.host, args.port, args.database, args.log_level) == (
        "127.0.0.1",
        8000,
        "sqlite:///./tomorro-scim.db",
        "info",
    )
    assert args.token is None
    assert args.tenant is None
    assert args.handler is cli.serve


def test_serve_options() -> None:
    args = parse(
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "9000",
        "--token",
        TOKEN,
        "--tenant",
        "acme:a-token",
        "--tenant",
        "globex:b:with:colons",
        "--log-level",
        "warning",
    )
    assert (args.host, args.port, args.token) == ("0.0.0.0", 9000, TOKEN)
    assert args.tenant == ["acme:a-token", "globex:b:with:colons"]
    assert cli._tenant_tokens(args) == [
        ("acme", "a-token"),
        ("globex", "b:with:colons"),
    ]


def test_without_tenants_there_is_one_default_tenant() -> None:
    assert cli._tenant_tokens(parse("serve")) == [("default", None)]
    assert cli._tenant_tokens(parse("serve", "--token", TOKEN)) == [("default", TOKEN)]


@pytest.mark.parametrize("spec", ["acme", "acme:", ":token", ":"])
def test_bad_tenant_specs_exit_with_a_message(spec: str) -> None:
    with pytest.raises(SystemExit) as caught:
        cli._tenant_tokens(parse("serve", "--tenant", spec))
    assert "NAME:TOKEN" in str(caught.value.code)


@pytest.mark.parametrize("argv", [[], ["nonsense"], ["serve", "--port", "http"]])
def test_usage_errors_exit_2(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert caught.value.code == 2
    assert "usage" in capsys.readouterr().err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["--version"])
    assert caught.value.code == 0
    assert capsys.readouterr().out.startswith("tomorro-scim ")


# -- what serve prints ---------------------------------------------------------


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace uvicorn.run; record its arguments."""
    import uvicorn

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(
        uvicorn, "run", lambda app, **kw: runs.append({"app": app, **kw})
    )
    return runs


def test_serve_prints_the_tenant_url_and_the_given_token(
    no_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve", "--port", "8123", "--token", TOKEN]) == 0
    out = capsys.readouterr().out
    assert "Tenant URL:   http://localhost:8123/scim/v2" in out
    assert f"Secret Token: {TOKEN}" in out
    assert "'default'" in out
    (run,) = no_server
    assert (run["host"], run["port"], run["log_level"]) == ("127.0.0.1", 8123, "info")


def test_serve_generates_a_token_when_none_is_given(
    no_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["serve"]) == 0
    out = capsys.readouterr().out
    (line,) = [text for text in out.splitlines() if "Secret Token:" in text]
    token = line.split("Secret Token:")[1].strip()
    assert parse_token(token) is not None


def test_a_restart_keeps_the_data_and_the_tokens(
    no_server: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
    in_tmp_dir: Path,
) -> None:
    """The embedded default is a SQLite file: restarting with the same token
    reuses it, and restarting without one shows no new secret."""
    assert cli.main(["serve", "--token", TOKEN]) == 0
    assert cli.main(["serve", "--token", TOKEN]) == 0
    assert (in_tmp_dir / "tomorro-scim.db").exists()
    capsys.readouterr()
    assert cli.main(["serve"]) == 0
    out = capsys.readouterr().out
    assert "Secret Token: unchanged (1 issued before" in out
    assert len(no_server) == 3


def test_serve_prints_one_token_per_tenant(
    no_server: list[dict[str, Any]], capsys: pytest.CaptureFixture[str]
) -> None:
    cli.main(
        [
            "serve",
            "--host",
            "scim.example.com",
            "--tenant",
            f"acme:{TOKEN}-a",
            "--tenant",
            f"globex:{TOKEN}-b",
        ]
    )
    out = capsys.readouterr().out
    assert "http://scim.example.com:8000/scim/v2" in out
    assert "'acme'" in out
    assert "'globex'" in out
    assert f"Secret Token: {TOKEN}-a" in out
    assert f"Secret Token: {TOKEN}-b" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--token", "short"], "20+ characters"),
        (["serve", "--tenant", "acme:short"], "20+ characters"),
        (
            ["serve", "--tenant", f"a:{TOKEN}", "--tenant", f"b:{TOKEN}"],
            "another tenant",
        ),
        (["serve", "--database", "mysql://db/scim"], "SQLite or PostgreSQL"),
    ],
)
def test_serve_refuses_bad_settings(
    no_server: list[dict[str, Any]], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(argv)
    assert message in str(caught.value.code)
    assert no_server == []


# -- a real server -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _command() -> list[str]:
    script = shutil.which("tomorro-scim", path=os.path.dirname(sys.executable))
    if script is not None:
        return [script]
    return [sys.executable, "-m", "tomorro_scim.cli"]  # pragma: no cover


def _get(url: str, token: str | None) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, json.loads(error.read())


def test_serve_answers_over_http(in_tmp_dir: Path) -> None:
    port = _free_port()
    root = f"http://127.0.0.1:{port}/scim/v2"
    with subprocess.Popen(
        [
            *_command(),
            "serve",
            "--port",
            str(port),
            "--token",
            TOKEN,
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=in_tmp_dir,
    ) as server:
        try:
            deadline = time.monotonic() + 20
            while True:
                assert server.poll() is None, "the server exited early"
                try:
                    status, config = _get(f"{root}/ServiceProviderConfig", None)
                    break
                except (urllib.error.URLError, ConnectionError):
                    assert time.monotonic() < deadline, "the server did not start"
                    time.sleep(0.1)
            assert status == 200
            assert config["patch"]["supported"] is True
            status, listing = _get(f"{root}/Users", TOKEN)
            assert status == 200
            assert listing["totalResults"] == 0
            status, error = _get(f"{root}/Users", "wrong-token-0123456789")
            assert status == 401
            assert error["status"] == "401"
        finally:
            os.kill(server.pid, signal.SIGTERM)
            try:
                output, _ = server.communicate(timeout=10)
            except subprocess.TimeoutExpired:  # pragma: no cover
                server.kill()
                output, _ = server.communicate(timeout=10)
    assert f"Secret Token: {TOKEN}" in output
    assert f"Tenant URL:   http://localhost:{port}/scim/v2" in output


def test_token_issue_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    """Issue 6 §2: what a host app's "SCIM settings" screen does, from the shell;
    the plaintext is printed once and only its hash is stored."""
    from tomorro_scim import ScimService
    from tomorro_scim.http import ScimRequest
    from tomorro_scim.storage.sql import SqlStorage

    assert cli.main(["token", "issue", "--tenant", "acme", "--label", "Entra"]) == 0
    issued = capsys.readouterr().out
    secret = issued.split("(shown once): ")[1].split()[0]
    token_id = issued.split("token id: ")[1].strip()

    storage = SqlStorage("sqlite:///./tomorro-scim.db")
    service = ScimService(storage)
    request = ScimRequest(
        "GET", "/Users", headers={"authorization": f"Bearer {secret}"}
    )
    assert service.handle(request).status == 200

    assert cli.main(["token", "list", "--tenant", "acme"]) == 0
    listed = capsys.readouterr().out
    assert token_id in listed
    assert "live" in listed
    assert secret not in listed

    assert cli.main(["token", "revoke", "--tenant", "globex", token_id]) == 1
    assert cli.main(["token", "revoke", "--tenant", "acme", token_id]) == 0
    assert service.handle(request).status == 401
    storage.close()


def test_token_commands_refuse_a_memory_database() -> None:
    with pytest.raises(SystemExit, match="die with the command"):
        cli.main(["token", "list", "--tenant", "acme", "--database", "memory"])
