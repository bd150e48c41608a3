"""The example host apps, served for real on 127.0.0.1, provisioned as Entra and Okta do.

``examples/flask_app.py`` and ``examples/fastapi_app.py`` each start as a
subprocess with a SQLite file, as their docstrings tell a developer to run
them. Over real HTTP (``httpx``, a socket, the framework's own server) this
module then replays every flow of ``test_entra.py`` and ``test_okta.py`` that
needs nothing but an IdP client: the same functions, the same requests and
the same assertions as in-process, each flow in a tenant of its own issued on
the example's database. Flows that inspect the storage or the events in
process stay in-process only; what the host app sees of them is checked here
through its own page and its log.
"""

from __future__ import annotations

import inspect
import re
import time
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from html.parser import HTMLParser
from types import ModuleType

import pytest

from tomorro_scim.auth import TokenManager
from tomorro_scim.storage.sql import SqlStorage

from . import test_entra
from . import test_okta
from ._served import ServedExample
from ._served import serve_example
from .conftest import entra_idp
from .conftest import httpx
from .conftest import okta_idp

EXAMPLE_NAMES = ("flask_app", "fastapi_app")
APP_TOKEN = "example-app-secret-token-0001"
"""The ``--token`` each example starts with: its own tenant's Secret Token."""

Flow = Callable[..., None]
"""A test function of ``test_entra.py`` or ``test_okta.py`` taking one ``Idp``."""


def replayable(module: ModuleType, idp: str) -> list[Flow]:
    """The module's tests that take the ``idp`` fixture and nothing else."""
    return [
        function
        for name, function in vars(module).items()
        if name.startswith("test_")
        and inspect.isfunction(function)
        and list(inspect.signature(function).parameters) == [idp]
        and not hasattr(function, "pytestmark")
    ]


ENTRA_FLOWS = replayable(test_entra, "entra")
OKTA_FLOWS = replayable(test_okta, "okta")


def flow_params(flows: list[Flow]) -> list[object]:
    return [
        pytest.param(flow, id=flow.__name__.removeprefix("test_")) for flow in flows
    ]


@pytest.fixture(scope="module", params=EXAMPLE_NAMES)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServedExample]:
    name: str = request.param
    with serve_example(name, tmp_path_factory.mktemp(name), APP_TOKEN) as example:
        yield example


@pytest.fixture(scope="module")
def http(served: ServedExample) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.base_url, timeout=30) as client:
        yield client


@pytest.fixture(scope="module")
def tenants(served: ServedExample) -> Iterator[TokenManager]:
    """Issues tokens of new tenants straight into the example's database, as the
    host app's "SCIM settings" screen would; the server finds them on the next
    request."""
    storage = SqlStorage(served.database)
    try:
        yield TokenManager(storage)
    finally:
        storage.close()


def new_tenant(tenants: TokenManager, label: str) -> str:
    """A fresh tenant's token: each replayed flow starts from an empty tenant."""
    return tenants.issue(f"{label}-{uuid.uuid4().hex[:12]}", label).token


def test_the_flows_to_replay_are_found() -> None:
    """The selection is not empty and skips flows that need in-process fixtures."""
    assert test_entra.test_remove_member_by_path_filter in ENTRA_FLOWS
    assert test_entra.test_deactivation_with_a_string_false not in ENTRA_FLOWS
    assert (
        test_okta.test_membership_change_removes_by_filter_and_adds_in_one_patch
        not in OKTA_FLOWS
    )
    assert test_okta.test_push_a_new_group in OKTA_FLOWS
    assert len(ENTRA_FLOWS) >= 15
    assert len(OKTA_FLOWS) >= 15


@pytest.mark.parametrize("flow", flow_params(ENTRA_FLOWS))
def test_entra_flow_over_http(
    flow: Flow, http: httpx.Client, tenants: TokenManager
) -> None:
    """IDP-DIALECTS §2: Entra's flows, each as its docstring in ``test_entra.py``
    describes, against a served example."""
    flow(entra_idp(http, new_tenant(tenants, "entra")))


@pytest.mark.parametrize("flow", flow_params(OKTA_FLOWS))
def test_okta_flow_over_http(
    flow: Flow, http: httpx.Client, tenants: TokenManager
) -> None:
    """IDP-DIALECTS §3: Okta's flows, each as its docstring in ``test_okta.py``
    describes, against a served example."""
    flow(okta_idp(http, new_tenant(tenants, "okta")))


class _Table(HTMLParser):
    """The text of every ``<tr>``'s cells, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def table_rows(page: str) -> list[list[str]]:
    parser = _Table()
    parser.feed(page)
    parser.close()
    return parser.rows


def wait_for_lines(served: ServedExample, lines: list[str]) -> str:
    """The server's output once it holds every line (bounded: 5 s)."""
    deadline = time.monotonic() + 5
    output = served.output()
    while not all(line in output for line in lines) and time.monotonic() < deadline:
        time.sleep(0.05)
        output = served.output()
    return output


def test_host_page_lists_users_with_roles_and_events_are_logged(
    served: ServedExample, http: httpx.Client, tenants: TokenManager
) -> None:
    """The host app's own page lists the users Entra and Okta provisioned into
    its tenant (the one of ``--token``) with the role the role map gave each,
    and its event subscribers log the deactivations and the role change.

    Entra: ``userType`` ``admin`` → Admin, ``user`` → Contributor, then a
    ``Replace userType`` to ``Manager`` (IDP-DIALECTS §2.2 step 3) and a
    ``Replace active "False"`` (§2.4 default job). Okta: a user without
    ``userType`` (the default role) deactivated by the OIN app's path-less
    replace (§3.2 step 5). A user Entra deletes (§2.2 step 5) and a user of
    another tenant are not on the page."""
    entra = entra_idp(http, served.token)
    okta = okta_idp(http, served.token)
    elsewhere = entra_idp(http, new_tenant(tenants, "other"))
    test_entra.new_user(elsewhere, "elsewhere@contoso.com", userType="admin")

    created = entra.post("/Users", raw=test_entra.ADA_POST)
    assert created.status_code == 201, created.text
    linus = test_entra.new_user(
        entra, "linus@contoso.com", userType="user", displayName="Linus T"
    )
    response = entra.patch_ops(
        f"/Users/{linus['id']}",
        {"op": "Replace", "path": "userType", "value": "Manager"},
    )
    assert response.status_code == 200, response.text
    response = entra.patch(
        f"/Users/{linus['id']}",
        raw='{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        '"Operations":[{"op":"Replace","path":"active","value":"False"}]}',
    )
    assert response.status_code == 200, response.text
    grace = test_okta.create_user(okta, "grace.hopper@x.com")
    response = okta.patch(
        f"/Users/{grace['id']}",
        raw='{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],'
        '"Operations":[{"op":"replace","value":{"active":false}}]}',
    )
    assert response.status_code == 200, response.text

    gone = test_entra.new_user(entra, "gone@contoso.com")
    assert entra.delete(f"/Users/{gone['id']}").status_code == 204
    assert entra.get(f"/Users/{gone['id']}").status_code == 404

    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert table_rows(page.text) == [
        ["userName", "displayName", "role", "status"],
        ["ada@contoso.com", "", "Admin", "active"],
        ["linus@contoso.com", "Linus T", "Manager", "deactivated"],
        ["grace.hopper@x.com", "Grace Hopper", "Contributor", "deactivated"],
    ]

    expected = [
        f"user {linus['id']} changed role: Contributor -> Manager (tenant default)",
        f"user {linus['id']} deactivated (tenant default)",
        f"user {grace['id']} deactivated (tenant default)",
    ]
    output = wait_for_lines(served, expected)
    for line in expected:
        assert line in output, output[-2000:]
    # The page's tenant saw exactly these events; the replayed flows' tenants
    # log their own, under their own names.
    own = re.findall(r"^.*\(tenant default\)$", output, flags=re.MULTILINE)
    assert [line.split(" ", 2)[2] for line in own] == expected, own


def test_the_examples_print_their_tenant_url(served: ServedExample) -> None:
    """What the admin pastes into the IdP: the Tenant URL, printed at start; the
    secret is not echoed to the console."""
    output = served.output()
    assert f"Tenant URL:   {served.base_url}/scim/v2" in output
    assert APP_TOKEN not in output
