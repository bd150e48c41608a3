"""A FastAPI app that Entra ID or Okta provisions its users into.

The app has a page of its own (``GET /``: the provisioned users and their
roles) and mounts the SCIM 2.0 service, an ASGI app, under ``/scim/v2`` on a
SQLite file. It subscribes to the library's events and logs a line when a
user is deactivated or changes role, which is where a real app would end
sessions or update permissions (see ``host.py``, shared with the Flask
example). Run it, then paste the Tenant URL it prints and the token into the
IdP's provisioning settings::

    pip install "tomorro-scim[sql]" fastapi uvicorn
    python examples/fastapi_app.py --port 8000 --token a-secret-of-20-chars-or-more
"""

from __future__ import annotations

import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse
from host import announce
from host import command_line
from host import scim_service
from host import users_page

from tomorro_scim.adapters.starlette import scim_app
from tomorro_scim.storage.sql import SqlStorage


def create_app(database: str, token: str) -> FastAPI:
    """The host app: its own page at ``/`` and the SCIM service at ``/scim/v2``."""
    storage = SqlStorage(database)
    service = scim_service(storage, token, "fastapi example")
    app = FastAPI(title="tomorro-scim example")
    # SQLite's storage has a face for event loops: the SCIM app runs its
    # statements on the loop and waits for SQLite's write lock without
    # blocking it. FastAPI runs the plain ``def`` route below in its threads.
    app.mount("/scim/v2", scim_app(service))

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        # A real app puts its own login in front of this page.
        return users_page(storage)

    return app


def main() -> None:
    args = command_line("fastapi_app")
    try:
        app = create_app(args.database, args.token)
    except ValueError as error:  # a token too short, or another tenant's
        raise SystemExit(f"fastapi_app: {error}") from None
    announce(args.host, args.port)
    uvicorn.run(app, host=args.host, port=args.port)


if __name__ == "__main__":
    main()
