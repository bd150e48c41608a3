"""The Flask Blueprint: the same service, translated and nothing else."""

from __future__ import annotations

import json

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tomorro_scim import MemoryStorage
from tomorro_scim import ScimService
from tomorro_scim import ServiceSettings
from tomorro_scim import TokenManager
from tomorro_scim.adapters.flask import scim_blueprint

USER = "urn:ietf:params:scim:schemas:core:2.0:User"


@pytest.fixture
def client_and_token() -> tuple[FlaskClient, str]:
    storage = MemoryStorage()
    token = TokenManager(storage).issue("acme").token
    app = Flask(__name__)
    service = ScimService(storage, settings=ServiceSettings(max_body_bytes=4096))
    app.register_blueprint(scim_blueprint(service), url_prefix="/scim/v2")

    @app.get("/")
    def home() -> str:
        return "the host app's own page"

    return app.test_client(), token


def test_entra_test_connection_and_create(
    client_and_token: tuple[FlaskClient, str],
) -> None:
    """IDP-DIALECTS §2.1/§2.2 through Flask: the probe, then a create."""
    client, token = client_and_token
    auth = {"Authorization": f"Bearer {token}"}
    probe = client.get('/scim/v2/Users?filter=userName+eq+"7d1c0b0e"', headers=auth)
    assert probe.status_code == 200
    assert probe.headers["Content-Type"] == "application/scim+json"
    assert probe.get_json(force=True)["totalResults"] == 0
    created = client.post(
        "/scim/v2/Users",
        data=json.dumps({"schemas": [USER], "userName": "ada@contoso.com"}),
        headers={**auth, "Content-Type": "application/scim+json"},
    )
    assert created.status_code == 201
    body = created.get_json(force=True)
    location = f"http://localhost/scim/v2/Users/{body['id']}"
    assert body["meta"]["location"] == location
    assert created.headers["Location"] == location
    assert created.headers["ETag"] == 'W/"1"'


def test_errors_and_routes_come_from_the_service(
    client_and_token: tuple[FlaskClient, str],
) -> None:
    client, token = client_and_token
    unauthorised = client.get("/scim/v2/Users")
    assert unauthorised.status_code == 401
    assert unauthorised.headers["WWW-Authenticate"].startswith("Bearer")
    assert unauthorised.get_json(force=True)["status"] == "401"
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/scim/v2/Nope", headers=auth).status_code == 404
    assert client.get("/scim/v2/ServiceProviderConfig").status_code == 200
    too_big = client.post(
        "/scim/v2/Users",
        data=b"{" + b" " * 5000 + b"}",
        headers={**auth, "Content-Type": "application/scim+json"},
    )
    assert too_big.status_code == 413
    assert client.get("/").data == b"the host app's own page"
