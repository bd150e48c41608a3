"""The error family and its SCIM Error body (RFC 7644 §3.12)."""

from __future__ import annotations

import pytest
from scim2_models import Error
from scim2_models import InvalidFilterException
from scim2_models import NotFoundException
from scim2_models import PathNotFoundException
from scim2_models import SCIMException

from tomorro_scim import errors
from tomorro_scim.errors import ERROR_SCHEMA

# RFC 7644 §3.12 Table 9, with errata 6893 for "sensitive".
SCIM_TYPES = {
    errors.InvalidFilter: ("invalidFilter", 400),
    errors.TooMany: ("tooMany", 400),
    errors.Uniqueness: ("uniqueness", 409),
    errors.Mutability: ("mutability", 400),
    errors.InvalidSyntax: ("invalidSyntax", 400),
    errors.InvalidPath: ("invalidPath", 400),
    errors.NoTarget: ("noTarget", 400),
    errors.InvalidValue: ("invalidValue", 400),
    errors.InvalidVersion: ("invalidVers", 400),
    errors.Sensitive: ("sensitive", 403),
    errors.InvalidCursor: ("invalidCursor", 400),
    errors.ExpiredCursor: ("expiredCursor", 400),
}
STATUSES = {
    errors.Unauthorized: 401,
    errors.Forbidden: 403,
    errors.NotFound: 404,
    errors.MethodNotAllowed: 405,
    errors.Conflict: 409,
    errors.PreconditionFailed: 412,
    errors.PayloadTooLarge: 413,
    errors.InternalError: 500,
    errors.NotImplementedFeature: 501,
}


@pytest.mark.parametrize(("cls", "expected"), SCIM_TYPES.items())
def test_one_class_per_scim_type(
    cls: type[errors.ScimError], expected: tuple[str, int]
) -> None:
    scim_type, status = expected
    body = cls("what went wrong").to_dict()
    assert body == {
        "schemas": [ERROR_SCHEMA],
        "status": str(status),
        "scimType": scim_type,
        "detail": "what went wrong",
    }


@pytest.mark.parametrize(("cls", "status"), STATUSES.items())
def test_statuses_without_scim_type(cls: type[errors.ScimError], status: int) -> None:
    """Okta's SPEC suite wants status "401" and a non-empty detail (IDP-DIALECTS §3.4)."""
    body = cls().to_dict()
    assert body["status"] == str(status)
    assert "scimType" not in body
    assert body["detail"]


@pytest.mark.parametrize("cls", [*SCIM_TYPES, *STATUSES])
def test_bodies_are_valid_scim_error_messages(cls: type[errors.ScimError]) -> None:
    error = Error.model_validate(cls().to_dict())
    assert error.status == cls.status


def test_every_error_is_a_scim_error() -> None:
    for cls in [*SCIM_TYPES, *STATUSES]:
        assert issubclass(cls, errors.ScimError)
        assert isinstance(cls("x"), Exception)


@pytest.mark.parametrize(
    ("raised", "expected"),
    [
        (InvalidFilterException(detail="bad at column 3"), errors.InvalidFilter),
        (PathNotFoundException(path="x", field="x"), errors.InvalidPath),
        (NotFoundException(detail="gone"), errors.NotFound),
        (SCIMException(detail="?"), errors.InvalidValue),
    ],
)
def test_scim2_models_exceptions_translate(
    raised: SCIMException, expected: type[errors.ScimError]
) -> None:
    translated = errors.from_scim2_models(raised, context="Operations[1]")
    assert type(translated) is expected
    assert translated.detail.startswith("Operations[1]: ")


def test_internal_errors_never_leak_their_detail() -> None:
    """DESIGN rule 3: a 500 says nothing about internals."""
    leaked = SCIMException(detail="psycopg.errors.UniqueViolation at line 42")
    leaked.status = 500
    translated = errors.from_scim2_models(leaked)
    assert type(translated) is errors.InternalError
    assert "psycopg" not in translated.detail
