"""Resource types, attribute metadata and discovery documents (RFC 7643 §§2, 5-7)."""

from __future__ import annotations

import pytest
from scim2_models import Mutability
from scim2_models import ResourceType as ResourceTypeDocument
from scim2_models import Returned
from scim2_models import Schema
from scim2_models import ServiceProviderConfig

from tomorro_scim.schemas import GROUP
from tomorro_scim.schemas import USER
from tomorro_scim.schemas import AttributeType
from tomorro_scim.schemas import Capabilities
from tomorro_scim.schemas import default_registry

ENTERPRISE = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@pytest.mark.parametrize(
    ("path", "urn"),
    [
        ("userName", "urn:ietf:params:scim:schemas:core:2.0:User:userName"),
        ("USERNAME", "urn:ietf:params:scim:schemas:core:2.0:User:userName"),
        (
            "name.FamilyName",
            "urn:ietf:params:scim:schemas:core:2.0:User:name.familyName",
        ),
        ("emails.Value", "urn:ietf:params:scim:schemas:core:2.0:User:emails.value"),
        ("meta.Created", "urn:ietf:params:scim:schemas:core:2.0:User:meta.created"),
        (f"{ENTERPRISE}:employeeNumber", f"{ENTERPRISE}:employeeNumber"),
        (f"{ENTERPRISE.upper()}:manager.VALUE", f"{ENTERPRISE}:manager.value"),
        (
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
            "urn:ietf:params:scim:schemas:core:2.0:User:userName",
        ),
    ],
)
def test_attributes_are_found_case_insensitively(path: str, urn: str) -> None:
    """RFC 7643 §2.1; Microsoft's Postman collection sends "UserName", "meta.Created"."""
    attribute = USER.attribute(path)
    assert attribute is not None
    assert attribute.urn == urn


@pytest.mark.parametrize(
    "path", ["nope", "name.nope", "urn:example:x:y", f"{ENTERPRISE}:nope", "members"]
)
def test_unknown_paths_resolve_to_none(path: str) -> None:
    assert USER.attribute(path) is None


def test_characteristics_come_from_the_models() -> None:
    user_name = USER.attribute("userName")
    assert user_name is not None
    assert (user_name.type, user_name.case_exact, user_name.required) == (
        AttributeType.string,
        False,
        True,
    )
    identifier = USER.attribute("id")
    assert identifier is not None
    assert identifier.case_exact  # RFC 7643 §3.1
    assert identifier.mutability is Mutability.read_only
    assert identifier.returned is Returned.always
    external_id = USER.attribute("externalId")
    assert external_id is not None
    assert external_id.case_exact
    password = USER.attribute("password")
    assert password is not None
    assert password.returned is Returned.never
    emails = USER.attribute("emails")
    assert emails is not None
    assert emails.multi_valued
    assert emails.is_complex
    assert set(emails.sub_attributes) >= {"value", "type", "primary", "display"}
    assert USER.attribute("groups") is not None
    assert USER.attribute("groups").mutability is Mutability.read_only  # type: ignore[union-attr]
    members = GROUP.attribute("members.value")
    assert members is not None
    assert members.case_exact


def test_json_keys_lead_to_the_value() -> None:
    assert USER.attribute("name.givenName").json_keys == ("name", "givenName")  # type: ignore[union-attr]
    manager = USER.attribute(f"{ENTERPRISE}:manager.value")
    assert manager is not None
    assert manager.json_keys == (ENTERPRISE, "manager", "value")
    assert manager.extension_urn == ENTERPRISE


def test_unqualified_names_are_core_only() -> None:
    """RFC 7644 §3.10: extension attributes are addressed with their URN."""
    assert USER.resolve("department") is None
    assert USER.resolve("department", uri=ENTERPRISE) is not None


def test_schema_documents_validate_and_cover_every_schema() -> None:
    documents = default_registry().schema_documents("https://h/scim/v2")
    ids = {document["id"] for document in documents}
    assert ids == {
        "urn:ietf:params:scim:schemas:core:2.0:User",
        ENTERPRISE,
        "urn:ietf:params:scim:schemas:core:2.0:Group",
    }
    for document in documents:
        Schema.model_validate(document)
        assert (
            document["meta"]["location"]
            == f"https://h/scim/v2/Schemas/{document['id']}"
        )
    one = default_registry().schema_document(ENTERPRISE.upper())
    assert one is not None
    assert one["id"] == ENTERPRISE
    assert default_registry().schema_document("urn:nope") is None


def test_schema_documents_list_the_same_attributes_as_the_metadata() -> None:
    """Generated from one source: every attribute advertised is one the engines know."""
    for document in default_registry().schema_documents():
        resource_type = USER if document["id"] != GROUP.schema else GROUP
        for attribute in document["attributes"]:
            path = f"{document['id']}:{attribute['name']}"
            found = resource_type.attribute(path)
            assert found is not None, path
            assert found.mutability.value == attribute["mutability"]


def test_resource_type_documents() -> None:
    documents = {d["id"]: d for d in default_registry().resource_type_documents()}
    assert documents["User"]["endpoint"] == "/Users"
    assert documents["User"]["schemaExtensions"] == [
        {"schema": ENTERPRISE, "required": False}
    ]
    assert documents["Group"]["schemaExtensions"] == []
    for document in documents.values():
        ResourceTypeDocument.model_validate(document)


def test_service_provider_config_tells_what_is_enforced() -> None:
    document = default_registry().service_provider_config(
        Capabilities(
            max_results=250,
            bulk=True,
            bulk_max_operations=10,
            bulk_max_payload_size=1024,
        )
    )
    ServiceProviderConfig.model_validate(document)
    assert document["filter"] == {"supported": True, "maxResults": 250}
    assert document["bulk"] == {
        "supported": True,
        "maxOperations": 10,
        "maxPayloadSize": 1024,
    }
    assert document["patch"] == {"supported": True}
    assert document["authenticationSchemes"][0]["type"] == "oauthbearertoken"


def test_registry_lookups() -> None:
    registry = default_registry()
    assert registry.get("user") is USER
    assert registry.by_endpoint("/groups") is GROUP
    assert registry.by_endpoint("/Devices") is None
    assert len(registry) == 2
    with pytest.raises(KeyError):
        registry.get("Device")
