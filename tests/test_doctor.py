"""``tomorro-scim check``: the doctor against real servers over real HTTP.

Every server here runs on uvicorn in a thread, bound to a free port on
127.0.0.1, and is stopped after its test:

* our own service (memory and SQLite storage): nothing would break, exit 0;
* scim2-server 0.8.3 as it ships: three real incompatibilities, exit 1; and
  the same server with its compatibility policy and a bearer token: exit 0;
* our service behind a stub that breaks one IdP rule at a time: the step
  that pins the rule fails, with the explanation, and the exit code is 1;
* a server redirecting to another origin: refused before any byte goes there.

The rules and their sources are in IDP-DIALECTS.md (design notes).
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
import urllib.request
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Mount

from tomorro_scim import cli
from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.auth import TokenManager
from tomorro_scim.doctor import STEPS
from tomorro_scim.doctor import CheckReport
from tomorro_scim.doctor import Outcome
from tomorro_scim.doctor import Severity
from tomorro_scim.doctor import run_check
from tomorro_scim.doctor.client import Endpoint
from tomorro_scim.doctor.client import RedirectRefused
from tomorro_scim.http import ScimRequest
from tomorro_scim.http import ScimResponse
from tomorro_scim.service import ScimService
from tomorro_scim.storage import Storage
from tomorro_scim.storage.memory import MemoryStorage

TOKEN = "doctor-test-token-0123456789abcdef"
ASGI = Callable[
    [dict[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]],
    Awaitable[None],
]


# -- serving an ASGI app on 127.0.0.1 --------------------------------------------


@contextlib.contextmanager
def serving(app: Any) -> Iterator[str]:
    """Run ``app`` on uvicorn in a thread on a free 127.0.0.1 port; its origin."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="h11",
        ws="none",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]})
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started:
            assert thread.is_alive(), "uvicorn stopped before it started"
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        listener.close()


def _scim_request(request: Request, body: bytes) -> ScimRequest:
    return ScimRequest(
        method=request.method,
        path=request.url.path.removeprefix("/scim/v2"),
        query=request.url.query,
        headers=dict(request.headers),
        body=body,
        base_url=f"{request.url.scheme}://{request.url.netloc}/scim/v2",
    )


def stub(handle: Callable[[ScimRequest], ScimResponse]) -> ASGI:
    """An ASGI app that answers each request with ``handle``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        answer = handle(_scim_request(request, await request.body()))
        response = Response(answer.body, answer.status, dict(answer.headers))
        await response(scope, receive, send)

    return app


def mounted(service: ScimService) -> Any:
    """The service under ``/scim/v2``, as ``tomorro-scim serve`` mounts it."""
    return Starlette(routes=[Mount("/scim/v2", app=scim_app(service))])


def service_with_token(storage: Storage | None = None) -> ScimService:
    storage = storage if storage is not None else MemoryStorage()
    TokenManager(storage).issue("acme", token=TOKEN)
    return ScimService(storage)


def call(service: ScimService, method: str, path: str, body: Any = None) -> Any:
    """One in-process request to ``service``, as tenant acme; the JSON answer."""
    answer = service.handle(
        ScimRequest(
            method,
            path,
            query=path.partition("?")[2],
            headers={
                "authorization": f"Bearer {TOKEN}",
                "content-type": "application/scim+json",
            },
            body=json.dumps(body).encode() if body is not None else b"",
        )
    )
    return answer.json()


def by_key(report: CheckReport) -> dict[str, Outcome]:
    return {step.key: step.outcome for step in report.steps}


def failing(report: CheckReport) -> set[str]:
    return {key for key, outcome in by_key(report).items() if outcome is Outcome.FAIL}


def messages(report: CheckReport, key: str) -> str:
    (step,) = [step for step in report.steps if step.key == key]
    return "\n".join(finding.message for finding in step.findings)


# -- (a) our own service: nothing would break ------------------------------------


@pytest.fixture(params=["memory", "sqlite"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Storage]:
    if request.param == "memory":
        yield MemoryStorage()
        return
    from tomorro_scim.storage.sql import SqlStorage

    sql = SqlStorage(f"sqlite:///{tmp_path / 'doctor.db'}")
    yield sql
    sql.close()


def test_our_service_passes_every_step_and_leaves_nothing_behind(
    storage: Storage,
) -> None:
    service = service_with_token(storage)
    # Someone else's user and group: the check must never write to them.
    bystander = call(
        service,
        "POST",
        "/Users",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": "bystander@example.com",
            "name": {"givenName": "By"},
        },
    )
    team = call(
        service,
        "POST",
        "/Groups",
        {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
            "displayName": "Team",
            "members": [{"value": bystander["id"]}],
        },
    )
    before = (
        call(service, "GET", f"/Users/{bystander['id']}"),
        call(service, "GET", f"/Groups/{team['id']}"),
    )
    out = io.StringIO()
    with serving(mounted(service)) as origin:
        report = run_check(f"{origin}/scim/v2", TOKEN, timeout=10, out=out)

    assert by_key(report) == {step.key: Outcome.PASS for step in STEPS}
    assert report.exit_code == 0
    assert report.left_behind == []
    assert "Nothing found that would break Entra ID or Okta." in out.getvalue()
    after = (
        call(service, "GET", f"/Users/{bystander['id']}"),
        call(service, "GET", f"/Groups/{team['id']}"),
    )
    assert after == before
    users = call(service, "GET", "/Users")
    assert [user["userName"] for user in users["Resources"]] == [
        "bystander@example.com"
    ]
    assert call(service, "GET", "/Groups")["totalResults"] == 1


def test_progress_shows_every_step_in_order_then_a_summary() -> None:
    out = io.StringIO()
    with serving(mounted(service_with_token())) as origin:
        run_check(f"{origin}/scim/v2/", TOKEN, out=out)
    lines = out.getvalue().splitlines()
    numbered = [line for line in lines if line.startswith("[")]
    assert [line[1:3].strip() for line in numbered] == [
        str(n) for n in range(1, len(STEPS) + 1)
    ]
    assert all(line.rstrip().endswith("ms)") for line in numbered)
    assert lines[-1] == "Nothing found that would break Entra ID or Okta."


# -- (b) scim2-server --------------------------------------------------------------


def scim2_server_app(*, compatible: bool) -> Any:
    """scim2-server 0.8.3's ASGI app, built as ``bench/http.py`` builds it.

    ``compatible`` turns on the scim2-models policy knobs for Entra (ignore
    unknown schemas, read a remove value as a filter) and a bearer token, as
    its test server's ``check_auth`` does.
    """
    import secrets

    from scim2_models import ScimPolicy
    from scim2_models import UnauthorizedException
    from scim2_models.provider import ScimProvider
    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage
    from scim2_server.memory import InMemoryStorage
    from scim2_server.service import ScimService as PeerService
    from scim2_server.utils import load_default_provider
    from scim2_server.utils import load_default_resource_types
    from scim2_server.utils import load_default_schemas
    from scim2_server.utils import load_default_service_provider_config

    provider = load_default_provider()
    if compatible:
        provider = ScimProvider.from_discovery(
            load_default_schemas().values(),
            load_default_resource_types().values(),
            config=load_default_service_provider_config(),
            policy=ScimPolicy(
                unknown=ScimPolicy.Unknown.ignore,
                remove_value_as_filter=ScimPolicy.RemoveValue.apply,
            ),
        )

    class App(ASGIApplication):
        def check_auth(self, request: Any) -> None:
            header = request.header("Authorization") or ""
            if compatible and header != f"Bearer {TOKEN}":
                raise UnauthorizedException

    service = PeerService(provider, secret=secrets.token_urlsafe(32))
    return App(AsyncInMemoryStorage(InMemoryStorage()), provider, service=service)


def test_scim2_server_as_shipped_would_break_entra_three_ways() -> None:
    """What scim2-server 0.8.3 does by default, each a documented Entra break:

    * no authentication at all (its ``check_auth`` accepts everyone);
    * Entra's group body is refused: the ADSCIM schema URI is an "Unknown
      extension schema" (MS-TUT still shows it; PEER-LESSONS [obs]);
    * Entra's default member removal (value array) is refused with 400
      invalidValue (MS-KI; the same break as Captain-P-Goldfish/SCIM-SDK#149).
    """
    with serving(scim2_server_app(compatible=False)) as origin:
        report = run_check(f"{origin}/v2", TOKEN)
        with urllib.request.urlopen(f"{origin}/v2/Users", timeout=5) as answer:
            remaining = json.loads(answer.read())

    assert report.exit_code == 1
    assert failing(report) == {"auth", "create-group", "entra-remove-member"}
    assert {o for k, o in by_key(report).items() if k not in failing(report)} == {
        Outcome.PASS
    }
    auth = messages(report, "auth")
    assert "without a token answered 200" in auth
    assert "with a wrong token answered 200" in auth
    group = messages(report, "create-group")
    assert "got 400" in group
    assert "Unknown extension schemas" in group
    assert "ADSCIM" in group
    (create_group,) = [s for s in report.steps if s.key == "create-group"]
    assert create_group.note is not None
    assert "Okta's body" in create_group.note
    removal = messages(report, "entra-remove-member")
    assert "got 400" in removal
    assert "value array" in removal
    # The group made with Okta's body let the later group steps run.
    assert by_key(report)["filter-remove-member"] is Outcome.PASS
    assert by_key(report)["delete-group"] is Outcome.PASS
    # And the check cleaned up after itself.
    assert remaining["totalResults"] == 0
    assert report.left_behind == []


def test_scim2_server_with_its_compatibility_policy_and_a_token_passes() -> None:
    """The three findings are the server's defaults, not the check's: with the
    policy knobs scim2-models documents and a token, nothing would break."""
    with serving(scim2_server_app(compatible=True)) as origin:
        report = run_check(f"{origin}/v2", TOKEN)
    assert failing(report) == set()
    assert report.exit_code == 0


# -- (c) broken servers: each IdP rule caught -----------------------------------


def _json_content_type(response: ScimResponse) -> ScimResponse:
    headers = tuple(
        (name, "application/json" if name.lower() == "content-type" else value)
        for name, value in response.headers
    )
    return ScimResponse(response.status, headers, response.body)


def _with_body(body: Any, status: int) -> ScimResponse:
    return ScimResponse(
        status,
        (("Content-Type", "application/scim+json"),),
        json.dumps(body).encode(),
    )


class Breakage:
    """Our service, with one IdP rule broken by rewriting requests or answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.service = service_with_token()
        self.duplicates = 0
        # A resource the check did not create, to prove it is never written to.
        self.bystander = call(
            self.service,
            "POST",
            "/Users",
            {
                "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": "bystander@example.com",
            },
        )

    def handle(self, request: ScimRequest) -> ScimResponse:
        name = self.name
        body = json.loads(request.body) if request.body else None
        operations = (
            (body or {}).get("Operations", []) if request.method == "PATCH" else []
        )
        if name == "delete-is-a-no-op" and request.method == "DELETE":
            return ScimResponse(204)
        if name == "string-false-ignored" and any(
            op.get("value") == "False" for op in operations
        ):
            return ScimResponse(204)
        if name == "remove-by-value-wipes-the-group" and any(
            op.get("op") == "Remove" and op.get("path") == "members"
            for op in operations
        ):
            wipe = {
                "schemas": body["schemas"],
                "Operations": [{"op": "replace", "path": "members", "value": []}],
            }
            request = ScimRequest(
                request.method,
                request.path,
                request.query,
                request.headers,
                json.dumps(wipe).encode(),
                request.base_url,
            )
        if name == "filter-ignored" and "filter=" in request.query:
            request = ScimRequest(
                request.method, request.path, "", request.headers, b"", request.base_url
            )
        response = self.service.handle(request)
        if name == "plain-json" and response.body:
            return _json_content_type(response)
        if name == "no-match-is-404" and response.status == 200 and request.query:
            listing = response.json()
            if listing.get("totalResults") == 0:
                error = {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
                    "status": "404",
                    "detail": "no such user",
                }
                return _with_body(error, 404)
        if name == "duplicates-accepted" and response.status == 409:
            self.duplicates += 1
            return _with_body({"id": f"dup-{self.duplicates}", **(body or {})}, 201)
        if name == "numeric-error-status" and response.status >= 400:
            error = response.json()
            error["status"] = int(error["status"])
            return _with_body(error, response.status)
        return response


@pytest.mark.parametrize(
    ("breakage", "step", "explanation"),
    [
        # Rule 13: application/scim+json on every response (MS-TUT).
        ("plain-json", "test-connection", "came as application/json"),
        # Rule 1: a filter that matches nothing is 200 + empty list (MS-TUT).
        ("no-match-is-404", "test-connection", "Expected 200, got 404"),
        # A filter that is ignored answers "everyone" (eneo-ai/eneo#443).
        ("filter-ignored", "test-connection", "ignores or widens the filter"),
        # Rule 3: "False" is the boolean false (MS-KI).
        ("string-false-ignored", "entra-deactivate", "'active' is True, not False"),
        # Rule 4: remove by value array never empties the group (MS-KI).
        (
            "remove-by-value-wipes-the-group",
            "entra-remove-member",
            "emptied the whole group",
        ),
        # Rule 11: a duplicate userName is 409 (RFC 7644 §3.3; OKTA-SPEC).
        ("duplicates-accepted", "duplicate-user", "Expected 409, got 201"),
        # RFC 7644 §3.6: after DELETE, GET is 404.
        ("delete-is-a-no-op", "delete-users", "after the DELETE answered 200"),
    ],
)
def test_a_broken_rule_fails_its_step_with_the_reason(
    breakage: str, step: str, explanation: str
) -> None:
    broken = Breakage(breakage)
    bystander = call(broken.service, "GET", f"/Users/{broken.bystander['id']}")
    with serving(stub(broken.handle)) as origin:
        report = run_check(f"{origin}/scim/v2", TOKEN)
    assert report.exit_code == 1
    assert step in failing(report)
    assert explanation in messages(report, step)
    (result,) = [s for s in report.steps if s.key == step]
    assert all(
        finding.source and finding.severity is Severity.FAIL
        for finding in result.findings
        if explanation in finding.message
    )
    assert call(broken.service, "GET", f"/Users/{broken.bystander['id']}") == bystander


def test_a_deleted_resource_that_survives_is_reported_left_behind() -> None:
    broken = Breakage("delete-is-a-no-op")
    with serving(stub(broken.handle)) as origin:
        report = run_check(f"{origin}/scim/v2", TOKEN)
    assert report.steps[-1].key == "cleanup"
    assert report.steps[-1].outcome is Outcome.WARN
    assert len(report.left_behind) == 3  # two users and a group
    for path in report.left_behind:
        assert call(broken.service, "GET", path)["id"] == path.rsplit("/", 1)[1]
    assert f"/Users/{broken.bystander['id']}" not in report.left_behind


def test_warnings_alone_do_not_fail_the_check() -> None:
    """An integer Error ``status`` breaks RFC 7644 §3.12, not Entra or Okta
    (Okta's own examples use numbers): a warning, exit 0."""
    broken = Breakage("numeric-error-status")
    with serving(stub(broken.handle)) as origin:
        report = run_check(f"{origin}/scim/v2", TOKEN)
    assert report.exit_code == 0
    assert by_key(report)["duplicate-user"] is Outcome.WARN
    assert 'makes it the string "409"' in messages(report, "duplicate-user")
    assert by_key(report)["auth"] is Outcome.WARN


def test_a_refused_token_fails_test_connection_and_skips_the_rest() -> None:
    with serving(mounted(service_with_token())) as origin:
        report = run_check(f"{origin}/scim/v2", "not-the-token-0123456789abcdef")
    assert report.exit_code == 1
    assert failing(report) == {"test-connection"}
    assert "refused the token (401)" in messages(report, "test-connection")
    skipped = [s.key for s in report.steps if s.outcome is Outcome.SKIP]
    assert skipped == [step.key for step in STEPS[3:]]


def test_no_server_is_exit_2() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    report = run_check(f"http://127.0.0.1:{port}/scim/v2", TOKEN, timeout=2)
    assert report.exit_code == 2
    assert report.aborted is not None
    assert "could not connect" in report.aborted


# -- (d) only the URL it is given ----------------------------------------------


class Counter:
    """An ASGI app that counts the requests it gets and answers 200."""

    def __init__(self) -> None:
        self.hits = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.hits += 1
        await Response(b"{}", 200, media_type="application/scim+json")(
            scope, receive, send
        )


def redirecting(location: Callable[[Any], str]) -> ASGI:
    """An ASGI app answering every request with a 307 to ``location(scope)``."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await Response(status_code=307, headers={"Location": location(scope)})(
            scope, receive, send
        )

    return app


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:{other}{path}",  # another port
        "http://localhost:{other}{path}",  # another host name, same machine
        "https://127.0.0.1:{own}{path}",  # another scheme, same host and port
    ],
)
def test_a_redirect_to_another_origin_is_refused_before_contacting_it(
    target: str,
) -> None:
    other = Counter()
    with serving(other) as other_origin:
        port = other_origin.rsplit(":", 1)[1]
        app = redirecting(
            lambda scope: target.format(
                other=port, own=scope["server"][1], path=scope["path"]
            )
        )
        with serving(app) as origin:
            report = run_check(f"{origin}/scim/v2", TOKEN)
    assert other.hits == 0
    assert report.exit_code == 2
    assert report.aborted is not None
    assert "redirected to" in report.aborted
    assert "only talks to the URL it is given" in report.aborted
    assert report.steps[0].skipped is not None


def test_endpoint_follows_same_origin_get_redirects_only() -> None:
    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"].startswith("/old"):
            new = scope["path"].replace("/old", "/scim/v2", 1)
            response = Response(status_code=308, headers={"Location": new})
        else:
            response = Response(
                json.dumps({"path": scope["path"], "method": scope["method"]}),
                200,
                media_type="application/scim+json",
            )
        await response(scope, receive, send)

    with serving(app) as origin:
        endpoint = Endpoint(f"{origin}/old", TOKEN, timeout=5)
        got = endpoint.request("GET", endpoint.url("/Users"))
        assert (got.status, got.json()) == (
            200,
            {"path": "/scim/v2/Users", "method": "GET"},
        )
        # A write is never re-sent anywhere: the redirect is its answer.
        posted = endpoint.request("POST", endpoint.url("/Users"), {"a": 1})
        assert posted.status == 308
        # The endpoint refuses any URL off its origin, not only redirects.
        with pytest.raises(RedirectRefused):
            endpoint.request("GET", origin.replace("127.0.0.1", "localhost"))


@pytest.mark.parametrize(
    "url", ["ftp://example.com/scim", "example.com/scim/v2", "http://", "http://h:x/"]
)
def test_a_url_that_is_not_http_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match=r"URL|port"):
        run_check(url, TOKEN)


# -- (e) the command line -----------------------------------------------------------


def test_cli_check_prints_progress_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with serving(mounted(service_with_token())) as origin:
        code = cli.main(["check", f"{origin}/scim/v2", "--token", TOKEN])
    out = capsys.readouterr().out
    assert code == 0
    assert f"[ 1/{len(STEPS)}] Discovery documents" in out
    assert "Summary: 20 ok, 0 warn, 0 FAIL, 0 skip." in out


def test_cli_check_json_and_the_token_from_the_environment(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOMORRO_SCIM_TOKEN", TOKEN)
    with serving(scim2_server_app(compatible=False)) as origin:
        code = cli.main(["check", f"{origin}/v2", "--json", "--timeout", "5"])
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert code == document["exit_code"] == 1
    assert document["summary"]["fail"] == 3
    assert "[ 1/" in captured.err  # progress goes to stderr with --json
    (removal,) = [s for s in document["steps"] if s["key"] == "entra-remove-member"]
    (finding,) = removal["findings"]
    sent = removal["exchanges"][finding["exchange"]]
    assert sent["method"] == "PATCH"
    assert sent["request"]["Operations"][0]["op"] == "Remove"
    assert sent["status"] == 400
    # Listings that may show other people's records are not kept.
    (auth,) = [s for s in document["steps"] if s["key"] == "auth"]
    assert all(e["response"] is None and e["redacted"] for e in auth["exchanges"])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["check", "http://127.0.0.1:9/scim/v2"], "--token"),
        (["check", "ftp://example.com", "--token", TOKEN], "not an http"),
        (
            ["check", "http://127.0.0.1:9/", "--token", TOKEN, "--timeout", "0"],
            "timeout",
        ),
    ],
)
def test_cli_check_usage_errors_exit_2(
    argv: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("TOMORRO_SCIM_TOKEN", raising=False)
    assert cli.main(argv) == 2
    assert message in capsys.readouterr().err


# -- small parts ---------------------------------------------------------------


def test_an_id_from_the_server_cannot_point_the_check_elsewhere() -> None:
    """Ids go into paths percent-encoded: ``../``, ``?`` and ``#`` stay inside
    the one path segment of the resource the check created."""
    from tomorro_scim.doctor.probe import State

    assert State.path("Users", "../Groups/x?y#z") == "/Users/..%2FGroups%2Fx%3Fy%23z"
    assert State.path("Groups", "2819c223-7f76") == "/Groups/2819c223-7f76"


def test_the_exit_code_is_2_when_aborted_1_on_a_failure_else_0() -> None:
    from tomorro_scim.doctor import Finding
    from tomorro_scim.doctor import StepResult

    report = CheckReport("http://x")
    report.steps.append(StepResult("a", "A", "Entra"))
    assert report.exit_code == 0
    report.steps[0].findings.append(Finding(Severity.WARN, "meh", "RFC 7644"))
    assert report.exit_code == 0
    report.steps[0].findings.append(Finding(Severity.FAIL, "broken", "MS-TUT"))
    assert report.exit_code == 1
    report.aborted = "interrupted"
    assert report.exit_code == 2
    assert json.loads(report.dumps())["summary"] == {
        "pass": 0,
        "warn": 0,
        "fail": 1,
        "skip": 0,
    }
