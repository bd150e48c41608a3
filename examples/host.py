"""What the two example apps share: the host app's own logic, framework-free.

Setting up the storage and the service, reacting to the library's events,
the page listing the provisioned users, and the command line. Each example
then shows only what differs per framework: how the SCIM service is mounted.
"""

from __future__ import annotations

import argparse
import html
import logging

from tomorro_scim import ScimService
from tomorro_scim import TokenManager
from tomorro_scim.events import RoleChanged
from tomorro_scim.events import UserDeactivated
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import Storage

TENANT = "default"
"""This app has one customer; a multi-tenant app issues a token per tenant."""

PAGE_SIZE = 500

log = logging.getLogger("example")


def on_deactivated(event: UserDeactivated) -> None:
    """Called once the deactivation is committed: end the user's sessions here."""
    log.info("user %s deactivated (tenant %s)", event.resource_id, event.tenant)


def on_role_changed(event: RoleChanged) -> None:
    """Called once the new role is committed: refresh the user's permissions here."""
    log.info(
        "user %s changed role: %s -> %s (tenant %s)",
        event.resource_id,
        event.old,
        event.new,
        event.tenant,
    )


def scim_service(storage: Storage, token: str, label: str) -> ScimService:
    """The SCIM service on ``storage``, with ``token`` as the Secret Token."""
    # The Secret Token the admin pastes into the IdP; a restart keeps it.
    TokenManager(storage).ensure(TENANT, token, label)
    service = ScimService(storage)
    service.events.subscribe(on_deactivated, UserDeactivated)
    service.events.subscribe(on_role_changed, RoleChanged)
    return service


def users_page(storage: Storage, tenant: str = TENANT) -> str:
    """The app's own page: a table of the provisioned users and their app roles."""
    with storage.session(tenant) as session:
        found = session.search(USER, SearchQuery(count=PAGE_SIZE))
    rows = "".join(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>".format(
            html.escape(str(user.document.get("userName", ""))),
            html.escape(str(user.document.get("displayName", ""))),
            html.escape(user.role or "-"),
            "active" if user.document.get("active", True) else "deactivated",
        )
        for user in found.resources
    )
    return (
        "<!doctype html><title>Provisioned users</title>"
        f"<h1>Provisioned users ({found.total})</h1>"
        "<table><tr><th>userName</th><th>displayName</th><th>role</th>"
        f"<th>status</th></tr>{rows}</table>"
    )


def command_line(name: str) -> argparse.Namespace:
    """``--host``, ``--port``, ``--token`` and ``--database``; logging set up."""
    parser = argparse.ArgumentParser(
        prog=name, description="A host app serving SCIM 2.0 under /scim/v2."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--token", required=True, help="the Secret Token (20+ characters)"
    )
    parser.add_argument("--database", default=f"sqlite:///./{name}.db")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    return args


def announce(host: str, port: int) -> None:
    """Print what the admin pastes into the IdP (never the token itself)."""
    print(f"Tenant URL:   http://{host}:{port}/scim/v2", flush=True)
    print("Secret Token: the value given with --token", flush=True)
