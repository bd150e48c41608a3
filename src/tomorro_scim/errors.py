"""The one family of errors a SCIM client can cause, and their SCIM Error body.

Every failure a client can provoke is one of these classes. The service maps
them to a response in exactly one place; nothing else reaches the wire. The
``detail`` names what was wrong (an attribute, an operation index, a position
in a filter) and never carries a traceback, SQL or internal state.

Statuses and scimTypes follow RFC 7644 §3.12 (Tables 8 and 9), with the
verified errata 6893 (``sensitive`` is 403) and RFC 9865 for cursors.
"""

from __future__ import annotations

from typing import Any
from typing import ClassVar

from scim2_models import SCIMException

ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

__all__ = [
    "ERROR_SCHEMA",
    "Conflict",
    "ExpiredCursor",
    "Forbidden",
    "InternalError",
    "InvalidCursor",
    "InvalidFilter",
    "InvalidPath",
    "InvalidSyntax",
    "InvalidValue",
    "InvalidVersion",
    "MethodNotAllowed",
    "Mutability",
    "NoTarget",
    "NotFound",
    "NotImplementedFeature",
    "PayloadTooLarge",
    "PreconditionFailed",
    "ScimError",
    "Sensitive",
    "TooMany",
    "Unauthorized",
    "Uniqueness",
    "UnsupportedMediaType",
    "from_scim2_models",
]


class ScimError(Exception):
    """Base of every error a SCIM client can cause.

    Subclasses fix :attr:`status` and :attr:`scim_type`; an instance carries
    the human-readable :attr:`detail`. Raise one anywhere in the library and
    the service answers with :meth:`to_dict` as the body.
    """

    status: ClassVar[int] = 400
    """The HTTP status of the response."""

    scim_type: ClassVar[str | None] = None
    """The RFC 7644 §3.12 ``scimType``, or ``None`` for statuses that have none."""

    default_detail: ClassVar[str] = "The request could not be processed."

    def __init__(self, detail: str | None = None) -> None:
        self.detail: str = detail or self.default_detail
        super().__init__(self.detail)

    def to_dict(self) -> dict[str, Any]:
        """Render the SCIM Error body (RFC 7644 §3.12), ``status`` as a string."""
        body: dict[str, Any] = {
            "schemas": [ERROR_SCHEMA],
            "status": str(self.status),
            "detail": self.detail,
        }
        if self.scim_type is not None:
            body["scimType"] = self.scim_type
        return body

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.detail!r})"


# -- RFC 7644 §3.12 Table 9: one class per scimType -------------------------


class InvalidFilter(ScimError):
    """The filter syntax was invalid, or the attribute and comparison do not fit."""

    scim_type = "invalidFilter"
    default_detail = "The filter is invalid."


class TooMany(ScimError):
    """The filter yields more results than the server is willing to return."""

    scim_type = "tooMany"
    default_detail = "The request would return too many results."


class Uniqueness(ScimError):
    """A value that must be unique is already taken."""

    status = 409
    scim_type = "uniqueness"
    default_detail = "A unique attribute value is already in use."


class Mutability(ScimError):
    """The request would change an attribute that cannot be changed."""

    scim_type = "mutability"
    default_detail = "The attribute cannot be modified."


class InvalidSyntax(ScimError):
    """The request body is unparsable or does not follow the message schema."""

    scim_type = "invalidSyntax"
    default_detail = "The request is unparsable or syntactically incorrect."


class InvalidPath(ScimError):
    """A PATCH path is malformed or names no attribute of the resource type."""

    scim_type = "invalidPath"
    default_detail = "The path attribute is invalid or malformed."


class NoTarget(ScimError):
    """A PATCH path matched no value where one is required."""

    scim_type = "noTarget"
    default_detail = "The path did not yield an attribute or value to operate on."


class InvalidValue(ScimError):
    """A value is missing, of the wrong type, or not acceptable."""

    scim_type = "invalidValue"
    default_detail = "A required value was missing or a value was not compatible."


class InvalidVersion(ScimError):
    """The request asks for a SCIM protocol version the server does not speak."""

    scim_type = "invalidVers"
    default_detail = "The specified SCIM protocol version is not supported."


class Sensitive(ScimError):
    """Sensitive information was sent where it must not be (RFC 7644 §7.5.2)."""

    status = 403
    scim_type = "sensitive"
    default_detail = "The request carries sensitive information in its URI."


class InvalidCursor(ScimError):
    """The pagination cursor is not one this server issued (RFC 9865)."""

    scim_type = "invalidCursor"
    default_detail = "The cursor is invalid."


class ExpiredCursor(ScimError):
    """The pagination cursor has expired (RFC 9865)."""

    scim_type = "expiredCursor"
    default_detail = "The cursor has expired."


# -- RFC 7644 §3.12 Table 8: statuses without a scimType ---------------------


class Unauthorized(ScimError):
    """Missing or invalid credentials."""

    status = 401
    default_detail = "Authentication is required."


class Forbidden(ScimError):
    """The credentials do not allow this operation."""

    status = 403
    default_detail = "The operation is not permitted."


class NotFound(ScimError):
    """The resource or endpoint does not exist."""

    status = 404
    default_detail = "The resource was not found."


class MethodNotAllowed(ScimError):
    """The endpoint exists but does not take this HTTP method."""

    status = 405
    default_detail = "The method is not allowed on this endpoint."

    def __init__(
        self, detail: str | None = None, *, allowed: tuple[str, ...] = ()
    ) -> None:
        super().__init__(detail)
        self.allowed = allowed
        """The methods the endpoint takes, for the ``Allow`` header."""


class UnsupportedMediaType(ScimError):
    """The request body is not JSON (RFC 7644 §3.1: ``application/scim+json``)."""

    status = 415
    default_detail = "The request body must be application/scim+json."


class Conflict(ScimError):
    """The request conflicts with the state of the resource."""

    status = 409
    default_detail = "The request conflicts with the current state of the resource."


class PreconditionFailed(ScimError):
    """``If-Match`` named a version that is no longer current."""

    status = 412
    default_detail = "The resource has changed since the given version."


class PayloadTooLarge(ScimError):
    """The request body is larger than the server accepts."""

    status = 413
    default_detail = "The request body is too large."


class InternalError(ScimError):
    """Something failed inside the server; the detail never says what."""

    status = 500
    default_detail = "An internal error occurred."


class NotImplementedFeature(ScimError):
    """The operation is part of SCIM but not offered by this server."""

    status = 501
    default_detail = "The operation is not supported."


_BY_SCIM_TYPE: dict[str, type[ScimError]] = {
    cls.scim_type: cls
    for cls in (
        InvalidFilter,
        TooMany,
        Uniqueness,
        Mutability,
        InvalidSyntax,
        InvalidPath,
        NoTarget,
        InvalidValue,
        InvalidVersion,
        Sensitive,
        InvalidCursor,
        ExpiredCursor,
    )
    if cls.scim_type is not None
}

_BY_STATUS: dict[int, type[ScimError]] = {
    cls.status: cls
    for cls in (
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        UnsupportedMediaType,
        Conflict,
        PreconditionFailed,
        PayloadTooLarge,
        NotImplementedFeature,
    )
}


def from_scim2_models(exc: SCIMException, *, context: str = "") -> ScimError:
    """Translate an exception raised by scim2-models into this library's family.

    scim2-models raises its own exceptions from its grammar and models; they
    carry the same scimType vocabulary, so the translation keeps the kind and
    the detail. ``context`` is prefixed to the detail (for example the PATCH
    operation index) so the client sees where the fault is.
    """
    cls = _BY_SCIM_TYPE.get(exc.scim_type) or _BY_STATUS.get(exc.status)
    if cls is None:
        cls = InvalidValue if 400 <= exc.status < 500 else InternalError
    detail = exc.detail if cls is not InternalError else None
    if detail and context:
        detail = f"{context}: {detail}"
    return cls(detail)
