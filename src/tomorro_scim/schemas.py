"""Resource types, attribute metadata and the discovery documents.

Everything here derives from scim2-models' resource models: the engines read
the attribute characteristics (type, multiValued, caseExact, mutability,
returned, uniqueness, sub-attributes, owning schema) from
:class:`AttributeSchema`, and the ``/Schemas``, ``/ResourceTypes`` and
``/ServiceProviderConfig`` documents are rendered from the same models, so the
two can never disagree.

Lookups are case-insensitive (RFC 7643 §2.1) and work on plain names
(``userName``), sub-attribute paths (``name.givenName``) and URN-qualified
paths (``urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value``).
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any

import attrs
from scim2_models import Attribute
from scim2_models import AuthenticationScheme
from scim2_models import Bulk
from scim2_models import ChangePassword
from scim2_models import EnterpriseUser
from scim2_models import ETag
from scim2_models import External
from scim2_models import Filter
from scim2_models import Group
from scim2_models import Mutability
from scim2_models import Pagination
from scim2_models import Patch
from scim2_models import Reference
from scim2_models import Resource
from scim2_models import ResourceType as ResourceTypeDocument
from scim2_models import Returned
from scim2_models import Schema
from scim2_models import ServiceProviderConfig
from scim2_models import Sort
from scim2_models import Uniqueness
from scim2_models import User

# RFC 7643 §3.1 common attributes (id, externalId, meta) are declared on
# scim2-models' Resource base and left out of every Schema document, as the RFC
# wants; this private helper is the one that converts a declared field, so the
# common attributes come from the same declarations. The dependency range pins
# the minor version because of it.
from scim2_models.resources.resource import _model_attribute_to_scim_attribute

__all__ = [
    "AttributeSchema",
    "AttributeType",
    "Capabilities",
    "ResourceType",
    "SchemaRegistry",
    "default_registry",
]

AttributeType = Attribute.Type
"""The RFC 7643 §2.3 data types (re-exported from scim2-models)."""

_COMMON_FIELDS = ("id", "external_id", "meta")


@attrs.frozen(eq=False)
class AttributeSchema:
    """The characteristics of one attribute or sub-attribute (RFC 7643 §2.2, §7)."""

    name: str
    """The canonical name, as the schema spells it (``givenName``)."""

    type: Attribute.Type
    multi_valued: bool
    required: bool
    case_exact: bool
    mutability: Mutability
    returned: Returned
    uniqueness: Uniqueness
    schema_urn: str
    """The schema declaring the attribute; for common attributes, the core schema."""

    extension_urn: str | None
    """The key of the extension object holding it in the JSON form, or ``None`` for core."""

    parent: AttributeSchema | None = None
    """The attribute this one is a sub-attribute of."""

    sub_attributes: Mapping[str, AttributeSchema] = attrs.field(factory=dict)
    """Sub-attributes keyed by their lower-cased name."""

    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()

    @property
    def path(self) -> str:
        """The dotted path from the resource root (``name.givenName``)."""
        return f"{self.parent.name}.{self.name}" if self.parent else self.name

    @property
    def urn(self) -> str:
        """The fully qualified name, ``<schema URN>:<path>``."""
        return f"{self.schema_urn}:{self.path}"

    @property
    def is_complex(self) -> bool:
        return self.type is Attribute.Type.complex

    @property
    def json_keys(self) -> tuple[str, ...]:
        """The keys that lead from the resource root to this attribute's value.

        A sub-attribute of a multi-valued attribute is reached through each
        element of the parent list; its last key is the sub-attribute name.
        """
        head: tuple[str, ...] = (
            (self.extension_urn,) if self.extension_urn is not None else ()
        )
        if self.parent is not None:
            return (*head, self.parent.name, self.name)
        return (*head, self.name)

    def sub_attribute(self, name: str) -> AttributeSchema | None:
        """The sub-attribute called ``name``, whatever its case."""
        return self.sub_attributes.get(name.lower())

    def __repr__(self) -> str:
        return f"AttributeSchema({self.urn!r})"


def _convert(
    attribute: Attribute,
    *,
    schema_urn: str,
    extension_urn: str | None,
    parent: AttributeSchema | None = None,
) -> AttributeSchema:
    subs: dict[str, AttributeSchema] = {}
    converted = AttributeSchema(
        name=str(attribute.name),
        type=attribute.type or Attribute.Type.string,
        multi_valued=bool(attribute.multi_valued),
        required=bool(attribute.required),
        case_exact=bool(attribute.case_exact),
        mutability=attribute.mutability or Mutability.read_write,
        returned=attribute.returned or Returned.default,
        uniqueness=attribute.uniqueness or Uniqueness.none,
        schema_urn=schema_urn,
        extension_urn=extension_urn,
        parent=parent,
        sub_attributes=subs,
        canonical_values=tuple(str(v) for v in attribute.canonical_values or ()),
        reference_types=tuple(str(v) for v in attribute.reference_types or ()),
    )
    # The dict is filled after construction so sub-attributes can point back
    # at their frozen parent; nothing mutates it afterwards.
    for sub in attribute.sub_attributes or ():
        subs[str(sub.name).lower()] = _convert(
            sub, schema_urn=schema_urn, extension_urn=extension_urn, parent=converted
        )
    return converted


def _schema_urn(model: type[Any]) -> str:
    return str(model.__schema__)


@attrs.frozen(eq=False)
class ResourceType:
    """A SCIM resource type (RFC 7643 §6) and the metadata of its attributes.

    Build one from a scim2-models resource model with :meth:`from_model`; the
    library ships ``User`` (core User with the enterprise extension) and
    ``Group`` in :func:`default_registry`.
    """

    name: str
    endpoint: str
    description: str
    schema: str
    """The core schema URN."""

    model: type[Resource[Any]]
    """The scim2-models class that validates this type's payloads."""

    extensions: Mapping[str, bool]
    """Extension schema URNs (as declared) mapped to whether they are required."""

    attributes: Mapping[str, AttributeSchema]
    """Core and common attributes keyed by lower-cased name."""

    extension_attributes: Mapping[str, Mapping[str, AttributeSchema]]
    """Extension attributes keyed by lower-cased URN, then lower-cased name."""

    schema_documents: tuple[Schema, ...]
    """The ``/Schemas`` documents of the core schema and each extension."""

    @classmethod
    def from_model(
        cls,
        model: type[Resource[Any]],
        *,
        name: str | None = None,
        endpoint: str | None = None,
        description: str | None = None,
    ) -> ResourceType:
        """Describe a scim2-models resource model, e.g. ``User[EnterpriseUser]``."""
        document = ResourceTypeDocument.from_resource(model)
        core_urn = _schema_urn(model)
        core_schema = model.to_schema()
        attributes: dict[str, AttributeSchema] = {}
        for field in _COMMON_FIELDS:
            common = _model_attribute_to_scim_attribute(Resource, field)
            converted = _convert(common, schema_urn=core_urn, extension_urn=None)
            attributes[converted.name.lower()] = converted
        for attribute in core_schema.attributes or ():
            converted = _convert(attribute, schema_urn=core_urn, extension_urn=None)
            attributes[converted.name.lower()] = converted

        extensions: dict[str, bool] = {}
        extension_attributes: dict[str, dict[str, AttributeSchema]] = {}
        documents = [core_schema]
        for extension_model in model.get_extension_models().values():
            urn = _schema_urn(extension_model)
            extension_schema = extension_model.to_schema()
            documents.append(extension_schema)
            required = any(
                ext.schema_ == urn and bool(ext.required)
                for ext in document.schema_extensions or ()
            )
            extensions[urn] = required
            extension_attributes[urn.lower()] = {
                str(attribute.name).lower(): _convert(
                    attribute, schema_urn=urn, extension_urn=urn
                )
                for attribute in extension_schema.attributes or ()
            }
        type_name = name or str(document.name)
        return cls(
            name=type_name,
            endpoint=endpoint or str(document.endpoint),
            description=description or type_name,
            schema=core_urn,
            model=model,
            extensions=extensions,
            attributes=attributes,
            extension_attributes=extension_attributes,
            schema_documents=tuple(documents),
        )

    # -- lookups ------------------------------------------------------------

    @property
    def schema_urns(self) -> tuple[str, ...]:
        """The core schema URN followed by the extension URNs."""
        return (self.schema, *self.extensions)

    def extension(self, urn: str) -> str | None:
        """The declared spelling of an extension URN, matched case-insensitively."""
        folded = urn.lower()
        for declared in self.extensions:
            if declared.lower() == folded:
                return declared
        return None

    def split_urn(self, path: str) -> tuple[str | None, str]:
        """Split a possibly URN-qualified path into (schema URN, rest).

        The URN is returned as declared; an unknown URN prefix returns
        ``(None, path)`` unchanged so callers can report it.
        """
        if path[:4].lower() != "urn:":
            return None, path
        folded = path.lower()
        for urn in self.schema_urns:
            prefix = urn.lower() + ":"
            if folded.startswith(prefix):
                return urn, path[len(prefix) :]
        return None, path

    def resolve(
        self,
        attr: str,
        sub_attr: str | None = None,
        uri: str | None = None,
        *,
        search_extensions: bool = False,
    ) -> AttributeSchema | None:
        """Find an attribute from its parts, as a parsed path gives them.

        ``uri`` qualifies the attribute with the core schema or an extension
        URN; without it, only core and common attributes are searched, which
        is what RFC 7644 §3.10 prescribes for unqualified names — unless
        ``search_extensions``, which also accepts the name of an extension
        attribute no other schema of the type declares (Entra sends ``manager``
        unqualified: MS-TUT "Handling provisioning", examples 4 and 5).
        """
        if uri is None or uri.lower() == self.schema.lower():
            head = self.attributes.get(attr.lower())
            if head is None and uri is None and search_extensions:
                head = self.unqualified_extension_attribute(attr)
        else:
            head = self.extension_attributes.get(uri.lower(), {}).get(attr.lower())
        if head is None or sub_attr is None:
            return head
        return head.sub_attribute(sub_attr)

    def unqualified_extension_attribute(self, name: str) -> AttributeSchema | None:
        """The extension attribute called ``name``, if exactly one extension declares it."""
        found = [
            by_name[name.lower()]
            for by_name in self.extension_attributes.values()
            if name.lower() in by_name
        ]
        return found[0] if len(found) == 1 else None

    def attribute(self, path: str) -> AttributeSchema | None:
        """Find an attribute by its (possibly URN-qualified, dotted) path."""
        uri, rest = self.split_urn(path)
        if path[:4].lower() == "urn:" and uri is None:
            return None
        attr, _, sub_attr = rest.partition(".")
        return self.resolve(attr, sub_attr or None, uri)

    def require(self, path: str) -> AttributeSchema:
        """Like :meth:`attribute`, for paths the caller knows are declared.

        :raises KeyError: if the type does not declare ``path``.
        """
        found = self.attribute(path)
        if found is None:
            raise KeyError(f"{self.name} declares no attribute {path!r}")
        return found

    def iter_attributes(self) -> Iterator[AttributeSchema]:
        """Every top-level attribute, core first, then each extension's."""
        yield from self.attributes.values()
        for by_name in self.extension_attributes.values():
            yield from by_name.values()

    # -- discovery documents ------------------------------------------------

    def resource_type_document(self, base_url: str = "") -> dict[str, Any]:
        """The RFC 7643 §6 ``ResourceType`` document for ``/ResourceTypes``."""
        body: dict[str, Any] = {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:ResourceType"],
            "id": self.name,
            "name": self.name,
            "description": self.description,
            "endpoint": self.endpoint,
            "schema": self.schema,
            "schemaExtensions": [
                {"schema": urn, "required": required}
                for urn, required in self.extensions.items()
            ],
            "meta": {
                "resourceType": "ResourceType",
                "location": f"{base_url}/ResourceTypes/{self.name}",
            },
        }
        return body


def _schema_document(schema: Schema, base_url: str) -> dict[str, Any]:
    body: dict[str, Any] = schema.model_dump(exclude_none=True)
    body["meta"] = {
        "resourceType": "Schema",
        "location": f"{base_url}/Schemas/{schema.id}",
    }
    return body


@attrs.frozen
class Capabilities:
    """What the service provider advertises in ``/ServiceProviderConfig``.

    RFC 7643 §5; the pagination block is RFC 9865. The service fills these from
    its settings, so the document always tells what the server enforces.
    """

    max_results: int = 1000
    default_page_size: int = 100
    patch: bool = True
    sort: bool = True
    etag: bool = True
    bulk: bool = False
    """Whether ``POST /Bulk`` is served (RFC 7644 §3.7)."""
    bulk_max_operations: int = 0
    """``maxOperations``: the most operations one bulk request may hold."""
    bulk_max_payload_size: int = 0
    """``maxPayloadSize``: the largest bulk request body, in bytes."""
    change_password: bool = False
    cursor_pagination: bool = False
    cursor_timeout: int | None = None
    """Seconds a cursor stays valid (RFC 9865 §4 ``cursorTimeout``)."""
    documentation_uri: str | None = None


class SchemaRegistry:
    """The resource types a service serves, looked up by name or endpoint."""

    def __init__(self, resource_types: list[ResourceType]) -> None:
        self._by_name = {rt.name.lower(): rt for rt in resource_types}
        self._by_endpoint = {rt.endpoint.lower(): rt for rt in resource_types}
        self._schemas: dict[str, Schema] = {}
        for rt in resource_types:
            for schema in rt.schema_documents:
                self._schemas.setdefault(str(schema.id).lower(), schema)

    def __iter__(self) -> Iterator[ResourceType]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> ResourceType:
        """The resource type called ``name`` (``"User"``), case-insensitively.

        :raises KeyError: if no such type is registered.
        """
        try:
            return self._by_name[name.lower()]
        except KeyError:
            raise KeyError(f"unknown resource type {name!r}") from None

    def by_endpoint(self, endpoint: str) -> ResourceType | None:
        """The resource type served at ``endpoint`` (``"/Users"``), if any."""
        return self._by_endpoint.get(endpoint.lower())

    # -- discovery documents ------------------------------------------------

    def schema_documents(self, base_url: str = "") -> list[dict[str, Any]]:
        """Every ``/Schemas`` document (RFC 7643 §7), with ``meta.location``."""
        return [_schema_document(s, base_url) for s in self._schemas.values()]

    def schema_document(self, urn: str, base_url: str = "") -> dict[str, Any] | None:
        """One ``/Schemas/{urn}`` document, or ``None`` for an unknown URN."""
        schema = self._schemas.get(urn.lower())
        return _schema_document(schema, base_url) if schema else None

    def resource_type_documents(self, base_url: str = "") -> list[dict[str, Any]]:
        """Every ``/ResourceTypes`` document (RFC 7643 §6)."""
        return [rt.resource_type_document(base_url) for rt in self]

    def service_provider_config(
        self, capabilities: Capabilities, base_url: str = ""
    ) -> dict[str, Any]:
        """The ``/ServiceProviderConfig`` document (RFC 7643 §5, RFC 9865)."""
        config = ServiceProviderConfig(
            documentation_uri=Reference[External](capabilities.documentation_uri)
            if capabilities.documentation_uri
            else None,
            patch=Patch(supported=capabilities.patch),
            bulk=Bulk(
                supported=capabilities.bulk,
                max_operations=capabilities.bulk_max_operations,
                max_payload_size=capabilities.bulk_max_payload_size,
            ),
            filter=Filter(supported=True, max_results=capabilities.max_results),
            change_password=ChangePassword(supported=capabilities.change_password),
            sort=Sort(supported=capabilities.sort),
            etag=ETag(supported=capabilities.etag),
            authentication_schemes=[
                AuthenticationScheme(
                    type=AuthenticationScheme.Type.oauthbearertoken,
                    name="OAuth Bearer Token",
                    description="A per-tenant secret token sent as "
                    "'Authorization: Bearer <token>'.",
                    spec_uri=Reference[External](
                        "https://www.rfc-editor.org/info/rfc6750"
                    ),
                    primary=True,
                )
            ],
            pagination=Pagination(
                cursor=capabilities.cursor_pagination,
                index=True,
                default_pagination_method=Pagination.DefaultPaginationMethod.index,
                default_page_size=capabilities.default_page_size,
                max_page_size=capabilities.max_results,
                cursor_timeout=capabilities.cursor_timeout
                if capabilities.cursor_pagination
                else None,
            ),
        )
        body: dict[str, Any] = config.model_dump(exclude_none=True)
        body["meta"] = {
            "resourceType": "ServiceProviderConfig",
            "location": f"{base_url}/ServiceProviderConfig",
        }
        return body


USER = ResourceType.from_model(
    User[EnterpriseUser], name="User", endpoint="/Users", description="User Account"
)
"""The User resource type: RFC 7643 §4.1 core User with the §4.3 enterprise extension."""

GROUP = ResourceType.from_model(
    Group, name="Group", endpoint="/Groups", description="Group"
)
"""The Group resource type (RFC 7643 §4.2)."""

_DEFAULT = SchemaRegistry([USER, GROUP])


def default_registry() -> SchemaRegistry:
    """The registry of the built-in ``User`` and ``Group`` resource types."""
    return _DEFAULT
