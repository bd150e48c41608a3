"""A FastAPI app that Entra ID or Okta provisions its users into.

The app has a page of its own (``GET /``: the provisioned users and their
roles) and mounts the SCIM 2.0 service, an ASGI app, under ``/scim/v2`` on a
SQLite file. It subscribes to the library's events and logs a line when a
user is deactivated or changes role, which is where a real app would end
sessions or update permissions. Run it, then paste the Tenant URL it prints
and the token into the IdP's provisioning settings::

    pip install "tomorro-scim[sql]" fastapi uvicorn
    python examples/fastapi_app.py --port 8000 --token a-secret-of-20-chars-or-more
"""

from __future__ import annotations

import argparse
import html
import logging

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from tomorro_scim import ScimService
from tomorro_scim import TokenManager
from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.events import RoleChanged
from tomorro_scim.events import UserDeactivated
from tomorro_scim.storage import USER
from tomorro_scim.storage import SearchQuery
from tomorro_scim.storage import Storage
from tomorro_scim.storage.sql import SqlStorage

TENANT = "default"
"""This app has one customer; a multi-tenant app issues a token per tenant."""

PAGE_SIZE = 500

log = logging.getLogger("example.fastapi")


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


def users_page(storage: Storage, tenant: str) -> str:
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


def create_app(database: str, token: str) -> FastAPI:
    """The host app: its own page at ``/`` and the SCIM service at ``/scim/v2``."""
    storage = SqlStorage(database)
    # The Secret Token the admin pastes into the IdP; a restart keeps it.
    TokenManager(storage).ensure(TENANT, token, "fastapi example")

    service = ScimService(storage)
    service.events.subscribe(on_deactivated, UserDeactivated)
    service.events.subscribe(on_role_changed, RoleChanged)

    app = FastAPI(title="tomorro-scim example")
    # The storage blocks (SQLite), so the SCIM app runs each request in the
    # thread pool; so does FastAPI for the plain ``def`` route below.
    app.mount("/scim/v2", scim_app(service))

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        # A real app puts its own login in front of this page.
        return users_page(storage, TENANT)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(
        description="A host app serving SCIM 2.0 under /scim/v2."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument(
        "--token", required=True, help="the Secret Token (20+ characters)"
    )
    parser.add_argument("--database", default="sqlite:///./fastapi_app.db")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    try:
        app = create_app(args.database, args.token)
    except ValueError as error:  # a token too short, or another tenant's
        raise SystemExit(f"fastapi_app: {error}") from None
    print(f"Tenant URL:   http://{args.host}:{args.port}/scim/v2", flush=True)
    print("Secret Token: the value given with --token", flush=True)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
