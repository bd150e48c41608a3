"""Serve a :class:`~tomorro_scim.service.ScimService` from a Flask app, as a Blueprint.

Register it under the SCIM base path::

    app.register_blueprint(scim_blueprint(service), url_prefix="/scim/v2")

It translates the Flask request into a :class:`~tomorro_scim.http.ScimRequest`
and the :class:`~tomorro_scim.http.ScimResponse` back, and nothing else (compare
:mod:`tomorro_scim.adapters.starlette`). Every path below the prefix reaches the
service, which answers unknown routes and methods itself, with SCIM errors.
"""

from __future__ import annotations

from flask import Blueprint
from flask import Response
from flask import request

from ..http import ScimRequest
from ..service import ScimService

__all__ = ["scim_blueprint"]

_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def scim_blueprint(service: ScimService, name: str = "scim") -> Blueprint:
    """A Blueprint answering every path below its ``url_prefix`` with ``service``."""
    blueprint = Blueprint(name, __name__)

    def handle(path: str = "") -> Response:
        declared = request.content_length or 0
        # An oversized body is refused (413) without being read into memory.
        too_large = declared > service.settings.max_body_bytes
        # The SCIM root is the request URL minus the part below the prefix.
        here = request.base_url.rstrip("/")
        root = here[: len(here) - len(path)].rstrip("/") if path else here
        answer = service.handle(
            ScimRequest(
                method=request.method,
                path="/" + path,
                query=request.query_string.decode("latin-1"),
                headers=dict(request.headers),
                body=b"" if too_large else request.get_data(cache=False),
                base_url=root,
                declared_length=declared,
            )
        )
        return Response(answer.body, answer.status, list(answer.headers))

    blueprint.add_url_rule("/", "root", handle, methods=_METHODS, strict_slashes=False)
    blueprint.add_url_rule("/<path:path>", "path", handle, methods=_METHODS)
    return blueprint
