"""The SQLite floor of ``bench/http.py``: what its requests cost with no SCIM work.

The floor is the ceiling's Starlette hello-world route on the same uvicorn,
plus the SQLite work each request needs on the very tables ``SqlStorage``
makes (the same indexes, the same preloaded users, WAL with
``synchronous=NORMAL``, foreign keys on), run straight on the stdlib
``sqlite3`` driver on the event loop, one durable commit per write. No
authentication, no validation, no SCIM semantics, no events: JSON is parsed
and spliced only as much as the answer needs to pass the same checks as
ours. So no SCIM server storing in these tables can go faster than this, and
where the floor itself is below a target, that target is out of reach on
SQLite (``http.py`` says so in its report).

Per scenario (the statements ours runs, minus the token lookup):

* ``GET /Users/{id}``: the document by primary key.
* ``GET /Users?filter=userName eq "…"``: the document by the unique
  ``userName`` key, answered as a one-element ListResponse.
* Entra's PATCH: ``BEGIN IMMEDIATE``; the document; an ``UPDATE`` of the
  document and of the columns the four operations move; the user's email rows
  deleted and written again (its work email changed); ``COMMIT``.
* ``POST /Users``: ``BEGIN IMMEDIATE``; the tenant's sequence; the user row
  with every filter column; its email rows; the tenant's count; ``COMMIT``.

The compound filter is not measured here (its target is against the peer
only). Standard library + Starlette, and the service's default role table.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs

from tomorro_scim.roles import RoleMap

__all__ = ["floor_app"]

RESOURCE_COLUMNS = "tenant, id, seq, version, managed, role, document, last_modified,"
USER_COLUMNS = (
    f"{RESOURCE_COLUMNS} user_name, user_name_key, display_name, display_name_key,"
    " external_id, user_type_key, active, given_name_key, family_name_key,"
    " email_key, created_at, modified_at"
)
INSERT_USER = (
    f"INSERT INTO scim_users ({USER_COLUMNS})"
    f" VALUES ({', '.join('?' * len(USER_COLUMNS.split(',')))})"
)
NEXT_SEQ = (
    "INSERT INTO scim_sequences (tenant, name, value) VALUES (?, 'scim_users', 1)"
    " ON CONFLICT (tenant, name) DO UPDATE SET value = scim_sequences.value + 1"
    " RETURNING value"
)
ADD_TO_COUNT = (
    "INSERT INTO scim_counts (tenant, resource_type, total) VALUES (?, 'User', 1)"
    " ON CONFLICT (tenant, resource_type)"
    " DO UPDATE SET total = scim_counts.total + 1"
)
INSERT_EMAILS = (
    "INSERT INTO scim_emails (tenant, user_id, position, value_key, type_key,"
    " is_primary) VALUES (?, ?, ?, ?, ?, ?)"
)
USER_BY_ID = "SELECT document FROM scim_users WHERE tenant = ? AND id = ?"
PATCH_USER = (
    "UPDATE scim_users SET document = ?, version = version + 1, last_modified = ?,"
    " modified_at = ?, active = ?, given_name_key = ?, user_type_key = ?,"
    " role = ?, email_key = ? WHERE tenant = ? AND id = ?"
)
ROLES = {value: role.name for value, role in RoleMap.default().user_types}
"""The service's default ``userType`` roles (its ``role`` column)."""


def _now() -> tuple[str, str]:
    """``meta.lastModified`` and the ``modified_at`` column, for now."""
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%SZ"), now.strftime("%Y-%m-%d %H:%M:%S.%f")


@contextmanager
def _immediate(connection: sqlite3.Connection) -> Iterator[None]:
    """A write transaction (``BEGIN IMMEDIATE``), committed unless it raises."""
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    connection.execute("COMMIT")


def _with_id(resource_id: str, document: str) -> bytes:
    """The stored document (which holds no ``id``) with its ``id`` spliced in."""
    return f'{{"id":"{resource_id}",{document[1:]}'.encode()


def _email_rows(tenant: str, user_id: str, document: dict[str, Any]) -> list[Any]:
    return [
        (
            tenant,
            user_id,
            position,
            str(email.get("value", "")).lower(),
            email.get("type"),
            1 if email.get("primary") else None,
        )
        for position, email in enumerate(document.get("emails") or [])
    ]


def floor_app(database: str, tenant: str, prefix: str) -> Any:
    """The floor's Starlette app over the SQLite file ``database``, whose
    tables ``SqlStorage`` made and filled, serving ``tenant``'s users below
    ``prefix``."""
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    connection = sqlite3.connect(database, isolation_level=None)
    connection.execute("PRAGMA foreign_keys = ON")
    connection.execute("PRAGMA synchronous = NORMAL")
    scim = "application/scim+json"

    def missing() -> Response:
        return Response(b'{"status":"404"}', status_code=404, media_type=scim)

    async def get(request: Request) -> Response:
        resource_id = request.path_params["id"]
        row = connection.execute(USER_BY_ID, (tenant, resource_id)).fetchone()
        if row is None:
            return missing()
        return Response(_with_id(resource_id, row[0]), media_type=scim)

    async def search(request: Request) -> Response:
        # Only the benchmark's one filter shape: userName eq "<name>".
        text = parse_qs(request.url.query).get("filter", [""])[0]
        name = text.partition('"')[2].rpartition('"')[0]
        rows = connection.execute(
            "SELECT id, document FROM scim_users"
            " WHERE tenant = ? AND user_name_key = ?",
            (tenant, name.lower()),
        ).fetchall()
        found = b",".join(_with_id(i, document) for i, document in rows)
        body = b'{"totalResults":%d,"Resources":[%s]}' % (len(rows), found)
        return Response(body, media_type=scim)

    async def patch(request: Request) -> Response:
        resource_id = request.path_params["id"]
        operations = json.loads(await request.body())["Operations"]
        with _immediate(connection):
            row = connection.execute(USER_BY_ID, (tenant, resource_id)).fetchone()
            if row is None:
                return missing()
            document = json.loads(row[0])
            # Entra's four operations, in the benchmark's order.
            document["active"] = operations[0]["value"] != "False"
            document.setdefault("name", {})["givenName"] = operations[1]["value"]
            for email in document.get("emails") or []:
                if email.get("type") == "work":
                    email["value"] = operations[2]["value"]
            document["userType"] = operations[3]["value"]
            last_modified, modified_at = _now()
            text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            emails = _email_rows(tenant, resource_id, document)
            connection.execute(
                PATCH_USER,
                (
                    text,
                    last_modified,
                    modified_at,
                    document["active"],
                    document["name"]["givenName"].lower(),
                    document["userType"].lower(),
                    ROLES.get(document["userType"].lower()),
                    emails[0][3] if emails else None,
                    tenant,
                    resource_id,
                ),
            )
            connection.execute(
                "DELETE FROM scim_emails WHERE tenant = ? AND user_id = ?",
                (tenant, resource_id),
            )
            connection.executemany(INSERT_EMAILS, emails)
        return Response(_with_id(resource_id, text), media_type=scim)

    async def post(request: Request) -> Response:
        document = json.loads(await request.body())
        resource_id = str(uuid.uuid4())
        last_modified, modified_at = _now()
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        name = document.get("name") or {}
        emails = _email_rows(tenant, resource_id, document)
        user_type = str(document.get("userType") or "").lower()
        with _immediate(connection):
            (seq,) = connection.execute(NEXT_SEQ, (tenant,)).fetchone()
            connection.execute(
                INSERT_USER,
                (
                    tenant,
                    resource_id,
                    seq,
                    1,
                    True,
                    ROLES.get(user_type),
                    text,
                    last_modified,
                    document["userName"],
                    document["userName"].lower(),
                    document.get("displayName"),
                    str(document.get("displayName") or "").lower() or None,
                    document.get("externalId"),
                    user_type or None,
                    document.get("active"),
                    str(name.get("givenName") or "").lower() or None,
                    str(name.get("familyName") or "").lower() or None,
                    emails[0][3] if emails else None,
                    modified_at,
                    modified_at,
                ),
            )
            connection.executemany(INSERT_EMAILS, emails)
            connection.execute(ADD_TO_COUNT, (tenant,))
        return Response(_with_id(resource_id, text), status_code=201, media_type=scim)

    async def hello(request: Request) -> Response:
        return Response(b'{"hello":"world"}', media_type="application/json")

    return Starlette(
        routes=[
            Route(f"{prefix}/Users/{{id}}", get, methods=["GET"]),
            Route(f"{prefix}/Users/{{id}}", patch, methods=["PATCH"]),
            Route(f"{prefix}/Users", search, methods=["GET"]),
            Route(f"{prefix}/Users", post, methods=["POST"]),
            Route("/", hello),
        ]
    )
