"""A Flask app that Entra ID or Okta provisions its users into.

The app has a page of its own (``GET /``: the provisioned users and their
roles) and serves SCIM 2.0 under ``/scim/v2`` from a SQLite file. It
subscribes to the library's events and logs a line when a user is deactivated
or changes role, which is where a real app would end sessions or update
permissions (see ``host.py``, shared with the FastAPI example). Run it, then
paste the Tenant URL it prints and the token into the IdP's provisioning
settings::

    pip install "tomorro-scim[flask,sql]"
    python examples/flask_app.py --port 8000 --token a-secret-of-20-chars-or-more

Flask's development server is fine for a demo; deploy behind a WSGI server.
"""

from __future__ import annotations

from flask import Flask
from host import announce
from host import command_line
from host import scim_service
from host import users_page

from tomorro_scim.adapters.flask import scim_blueprint
from tomorro_scim.storage.sql import SqlStorage


def create_app(database: str, token: str) -> Flask:
    """The host app: its own page at ``/`` and the SCIM service at ``/scim/v2``."""
    storage = SqlStorage(database)
    service = scim_service(storage, token, "flask example")
    app = Flask(__name__)
    app.register_blueprint(scim_blueprint(service), url_prefix="/scim/v2")

    @app.get("/")
    def index() -> str:
        # A real app puts its own login in front of this page.
        return users_page(storage)

    return app


def main() -> None:
    args = command_line("flask_app")
    try:
        app = create_app(args.database, args.token)
    except ValueError as error:  # a token too short, or another tenant's
        raise SystemExit(f"flask_app: {error}") from None
    announce(args.host, args.port)
    app.run(host=args.host, port=args.port, threaded=True)


if __name__ == "__main__":
    main()
