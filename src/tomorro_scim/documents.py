"""Resource bodies in and out: validate what a client sends, render what we return.

Inbound, a POST or PUT body is checked by scim2-models (types, formats, the
Entra/Okta leniencies pydantic already has such as ``"active": "True"``) and
dumped back to the canonical JSON form the engines and storages work on, with
what the client may not write removed: read-only attributes (``id``, ``meta``,
``groups``) are ignored as RFC 7644 §3.3 and §3.5.1 say, ``password`` is
discarded (RFC 7643 §4.1.1 forbids returning it; this library stores none), and
schema URNs the service does not serve but IdPs send (Entra's ADSCIM group URI)
are dropped.

Outbound, :func:`render` adds ``meta.location`` and ``meta.version`` and the
derived ``members``/``groups`` lists, then applies the projection.

Email addresses are checked as scim2-models checks them (pydantic's
``EmailStr``, that is email-validator without DNS), one kind excepted, which
is nearly every address an IdP sends: a plain ASCII ``local@domain`` (dot-atom
local part of at most 64 characters, a domain of at least two LDH labels
ending in a letter, no ``--`` label, no special-use domain, 254 characters in
all) is accepted by a regular expression instead, in a few hundred
nanoseconds. email-validator accepts every such address (its own rules,
``tests/test_documents.py`` checks it against them) and spends about
20 µs on it; every other address still goes through it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from collections.abc import Iterable
from typing import Any

import email_validator
from pydantic import ValidationError
from scim2_models import Mutability
from scim2_models import ScimPolicy

from .errors import InvalidSyntax
from .errors import InvalidValue
from .patch.dialect import DEFAULT
from .patch.values import canonical_value
from .query import Projection
from .schemas import ResourceType
from .storage import MemberRef
from .storage import StoredResource

__all__ = [
    "IGNORED_SCHEMAS",
    "drop_attributes",
    "etag",
    "parse_etag",
    "read_resource",
    "render",
]

IGNORED_SCHEMAS = frozenset(
    {
        # Entra ID's group schema (MS-TUT "Group Operations"; IDP-DIALECTS rule 7).
        "http://schemas.microsoft.com/2006/11/resourcemanagement/adscim/2.0/group",
        # Okta's group description, sent with every pushed group that has one
        # (Okta SCIM reference "Create Groups"; IDP-DIALECTS rule 7,
        # lightdash/lightdash#28062).
        "urn:okta:custom:group:1.0",
    }
)
"""Schema URNs (folded) that clients send and this service ignores."""

_TOLERANT = ScimPolicy(unknown=ScimPolicy.Unknown.ignore)

_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_PLAIN_EMAIL = re.compile(rf"({_ATOM}(?:\.{_ATOM})*)@({_LABEL}(?:\.{_LABEL})+)")
"""RFC 5322's dot-atom ``@`` RFC 1035's LDH labels (at least two), in ASCII."""


def _plain_email(value: str) -> bool:
    """Whether ``value`` is a plain address email-validator accepts (see the
    module's docstring); ``False`` says nothing either way."""
    if len(value) > 254 or not value.isascii():
        return False
    match = _PLAIN_EMAIL.fullmatch(value)
    if match is None:
        return False
    local, domain = match.groups()
    if len(local) > 64 or len(domain) > 253 or "--" in domain:
        return False
    if not domain[-1].isalpha():
        return False  # email-validator wants a top-level domain ending in a letter
    folded = domain.lower()
    # Read on every call: a host app may add names to email-validator's list.
    return not any(
        folded == name or folded.endswith("." + name)
        for name in email_validator.SPECIAL_USE_DOMAIN_NAMES
    )


def _email_keys(body: dict[str, Any]) -> list[str]:
    return [k for k in body if isinstance(k, str) and k.lower() == "emails"]


def _for_the_model(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` with the plain email addresses already checked set to ``None``,
    so that the model checks everything else about the emails (their types,
    ``primary``, ``type``...) without checking those again.

    Keys are matched case-insensitively, as scim2-models matches them.
    """
    keys = _email_keys(body)
    if not keys:
        return body
    body = dict(body)
    for key in keys:
        items = body[key]
        if not isinstance(items, list):
            continue
        checked = []
        for item in items:
            if isinstance(item, dict):
                values = [
                    k
                    for k, v in item.items()
                    if isinstance(k, str)
                    and k.lower() == "value"
                    and isinstance(v, str)
                    and _plain_email(v)
                ]
                if values:
                    item = {**item, **dict.fromkeys(values)}
            checked.append(item)
        body[key] = checked
    return body


def _validation_detail(error: ValidationError) -> str:
    parts = []
    for item in error.errors()[:3]:
        location = ".".join(str(p) for p in item.get("loc", ()))
        parts.append(
            f"'{location}': {item.get('msg', 'invalid')}"
            if location
            else item.get("msg", "invalid")
        )
    more = error.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _declared_schemas(
    body: dict[str, Any], resource_type: ResourceType, ignored: frozenset[str]
) -> list[str]:
    schemas = body.get("schemas")
    if not isinstance(schemas, list) or not all(isinstance(s, str) for s in schemas):
        raise InvalidValue("'schemas' must be a list of schema URNs")
    kept: list[str] = []
    for urn in schemas:
        if urn.lower() == resource_type.schema.lower():
            kept.append(resource_type.schema)
        elif (extension := resource_type.extension(urn)) is not None:
            kept.append(extension)
        elif urn.lower() not in ignored:
            raise InvalidValue(
                f"schema {urn[:120]!r} is not served by the {resource_type.name} endpoint"
            )
    if resource_type.schema not in kept:
        raise InvalidValue(f"'schemas' must include {resource_type.schema}")
    return list(dict.fromkeys(kept))


def _normalise_manager(body: dict[str, Any]) -> None:
    """Entra sends the enterprise manager as a bare id (SCIM-SDK#686)."""
    for key, value in body.items():
        if (
            key.lower() == "urn:ietf:params:scim:schemas:extension:enterprise:2.0:user"
            and isinstance(value, dict)
        ):
            for name, manager in list(value.items()):
                if name.lower() != "manager":
                    continue
                if isinstance(manager, str):
                    value[name] = {"value": manager} if manager else None
                elif isinstance(manager, list) and len(manager) == 1:
                    value[name] = manager[0]


def read_resource(
    body: Any,
    resource_type: ResourceType,
    *,
    ignored_schemas: frozenset[str] = IGNORED_SCHEMAS,
) -> dict[str, Any]:
    """The canonical JSON form of a POST or PUT body, or a 400 saying what is wrong.

    Attributes the type does not declare are ignored (Microsoft's validator
    PUTs a misspelt attribute and expects 200), as are read-only ones.
    """
    if not isinstance(body, dict):
        raise InvalidSyntax(f"a {resource_type.name} must be a JSON object")
    body = dict(body)
    schemas = _declared_schemas(body, resource_type, ignored_schemas)
    body["schemas"] = schemas
    if resource_type.name == "User":
        _normalise_manager(body)
    try:
        resource_type.model.model_validate(_for_the_model(body), scim_policy=_TOLERANT)
    except ValidationError as error:
        raise InvalidValue(_validation_detail(error)) from None
    except (ValueError, TypeError) as error:
        raise InvalidValue(f"the {resource_type.name} is not valid: {error}") from None
    # The stored form is the client's own values, checked above and spelled
    # canonically, not the model's dump: a dump normalises some values (an
    # email's domain is lower-cased), and a value that does not come back as
    # sent makes Entra re-send it every cycle (MS-TUT "General").
    document = _canonical(body, resource_type)
    drop_attributes(
        document, resource_type, (Mutability.read_only, Mutability.write_only)
    )
    # Every schema whose attributes are present is named, declared or not
    # (RFC 7643 §3).
    document["schemas"] = [
        urn
        for urn in dict.fromkeys([*schemas, *resource_type.extensions])
        if urn == resource_type.schema or document.get(urn)
    ]
    for urn in resource_type.extensions:
        if urn in document and not document[urn]:
            del document[urn]
    return document


def _pruned(value: Any) -> Any:
    """``value`` without null members and empty containers, as a dump omits them."""
    if isinstance(value, dict):
        kept = {}
        for key, item in value.items():
            if isinstance(item, dict | list):
                item = _pruned(item)
                if not item:
                    continue
            elif item is None:
                continue
            kept[key] = item
        return kept
    if isinstance(value, list):
        return [
            _pruned(item) if isinstance(item, dict | list) else item
            for item in value
            if item is not None
        ]
    return value


def _canonical(body: dict[str, Any], resource_type: ResourceType) -> dict[str, Any]:
    """The declared attributes of a validated body, canonically named and typed.

    The PATCH engine's value reader does the spelling (attribute names as the
    schema has them, Entra's "True"/"False" as booleans), so a value written by
    POST and by PATCH is stored the same way. Undeclared attributes are
    ignored.
    """
    document: dict[str, Any] = {}
    for key, value in body.items():
        if key == "schemas" or value is None:
            continue
        extension = resource_type.extension(key) if key[:4].lower() == "urn:" else None
        if extension is not None:
            if isinstance(value, dict):
                document[extension] = {
                    attribute.name: canonical_value(attribute, sub, DEFAULT)
                    for name, sub in value.items()
                    if sub is not None
                    and (attribute := resource_type.resolve(name, uri=extension))
                    is not None
                }
            continue
        attribute = resource_type.resolve(key)
        if attribute is not None:
            document[attribute.name] = canonical_value(attribute, value, DEFAULT)
    pruned: dict[str, Any] = _pruned(document)
    return pruned


def drop_attributes(
    document: dict[str, Any],
    resource_type: ResourceType,
    mutabilities: Collection[Mutability] = (Mutability.write_only,),
) -> None:
    """Remove, in place, the attributes whose mutability is one of ``mutabilities``.

    By default the write-only ones: a ``password`` a PATCH writes (Okta's
    password sync) is discarded like the one a POST carries, never stored
    nor returned (RFC 7643 §4.1.1).
    """
    for attribute in resource_type.iter_attributes():
        if attribute.mutability in mutabilities:
            if attribute.extension_urn is None:
                document.pop(attribute.name, None)
            else:
                extension = document.get(attribute.extension_urn)
                if isinstance(extension, dict):
                    extension.pop(attribute.name, None)


def etag(version: int) -> str:
    """The entity tag of a stored version (RFC 7644 §3.14), as ``meta.version`` and ``ETag``."""
    return f'W/"{version}"'


def parse_etag(header: str | None) -> list[str]:
    """The opaque tags of an ``If-Match``/``If-None-Match`` header (``*`` kept)."""
    if not header:
        return []
    tags = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        tags.append(tag.strip('"') if tag != "*" else "*")
    return tags


def render(
    stored: StoredResource,
    resource_type: ResourceType,
    base_url: str,
    projection: Projection,
    *,
    members: Iterable[MemberRef] | None = None,
    groups: Iterable[StoredResource] | None = None,
) -> dict[str, Any]:
    """The JSON a client receives for ``stored``."""
    # id first and meta last, as RFC 7643's examples and every IdP log show them.
    document = {"id": stored.id, **stored.document}
    location = f"{base_url}{resource_type.endpoint}/{stored.id}"
    meta = dict(document.get("meta") or {})
    document.setdefault("meta", None)
    meta["resourceType"] = resource_type.name
    meta["location"] = location
    meta["version"] = etag(stored.version)
    del document["meta"]
    document["meta"] = meta
    if members is not None:
        document["members"] = [
            {
                "value": member.value,
                "$ref": f"{base_url}/{member.type}s/{member.value}",
                "type": member.type,
                **({"display": member.display} if member.display else {}),
            }
            for member in members
        ]
    else:
        document.pop("members", None)
    if groups is not None:
        document["groups"] = [
            {
                "value": group.id,
                "$ref": f"{base_url}/Groups/{group.id}",
                "display": group.document.get("displayName"),
                "type": "direct",
            }
            for group in groups
        ]
    if projection.is_default:
        return document
    return projection.apply(document, resource_type)
