"""ScimService: the sans-I/O protocol core.

``ScimService(storage).handle(ScimRequest) -> ScimResponse`` routes the
request, authenticates it to a tenant, opens one storage transaction, runs the
handler and renders the answer. Every failure a client can cause is a
:class:`~tomorro_scim.errors.ScimError` mapped to its SCIM Error body here and
nowhere else; anything else becomes a generic 500 logged with the request id.
No framework is imported and no I/O is done beyond the storage calls.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from typing import Any

import attrs

from .auth import Authenticator
from .auth import BearerTokenAuthenticator
from .bulk import serve_bulk
from .documents import IGNORED_SCHEMAS
from .errors import InternalError
from .errors import InvalidSyntax
from .errors import InvalidValue
from .errors import MethodNotAllowed
from .errors import NotFound
from .errors import NotImplementedFeature
from .errors import PayloadTooLarge
from .errors import ScimError
from .errors import UnsupportedMediaType
from .events import EventBus
from .filter import DEFAULT_LIMITS
from .filter import FilterLimits
from .http import ACCEPTED_MEDIA_TYPES
from .http import SCIM_MEDIA_TYPE
from .http import ScimRequest
from .http import ScimResponse
from .http import json_response
from .patch import PatchDialect
from .query import search_request_parameters
from .resources import ResourceHandlers
from .roles import RoleMap
from .root_search import search_root
from .schemas import Capabilities
from .schemas import SchemaRegistry
from .schemas import default_registry
from .storage import Storage
from .storage.asynchronous import AsyncStorage
from .storage.asynchronous import event_loop_face
from .storage.asynchronous import is_async_storage
from .storage.asynchronous import run_sync

__all__ = ["ScimService", "ServiceSettings"]

_log = logging.getLogger("tomorro_scim.request")
_errors = logging.getLogger("tomorro_scim.errors")

_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


@attrs.frozen
class ServiceSettings:
    """What a host app can tune; every limit is advertised in ServiceProviderConfig."""

    default_page_size: int = 100
    """Resources per list page when the client sends no ``count``."""
    max_page_size: int = 1000
    """The largest ``count`` served (a larger one is lowered to it, RFC 7644
    §3.4.2.4); advertised as ``filter.maxResults``."""
    max_body_bytes: int = 1_048_576
    """The largest request body read; a larger one is ``413`` before it is parsed."""
    filter_limits: FilterLimits = DEFAULT_LIMITS
    """Length, depth and clause limits of a filter (``400 invalidFilter`` past them)."""
    patch_dialect: PatchDialect = attrs.field(factory=PatchDialect)
    """Which IdP quirks PATCH accepts (all of Entra's and Okta's by default)."""
    user_patch_returns_resource: bool = True
    """PATCH on a user answers 200 with the user (the validators want it), else 204."""
    group_patch_returns_resource: bool = False
    """PATCH on a group answers 204 (MS-TUT), else 200 with the group."""
    reject_unknown_members: bool = False
    """Answer 400 for member ids that name no user of the tenant, instead of skipping them."""
    adopt_existing_users: bool = True
    """A POST /Users whose userName matches a user the app made links it instead of 409."""
    role_map: RoleMap = attrs.field(factory=RoleMap.default)
    """How ``userType`` and groups become the app's roles."""
    ignored_schemas: frozenset[str] = IGNORED_SCHEMAS
    """Extension schemas an IdP sends that are accepted and dropped
    (Entra's ADSCIM group schema, Okta's custom group schema)."""
    public_discovery: bool = True
    """Serve /ServiceProviderConfig, /Schemas and /ResourceTypes without a token."""
    documentation_uri: str | None = None
    """``documentationUri`` of ``/ServiceProviderConfig``."""
    cursor_timeout: int = 3600
    """Seconds an RFC 9865 cursor stays valid (advertised as ``cursorTimeout``)."""
    cursor_secret: bytes | None = attrs.field(default=None, repr=False)
    """The secret cursors are signed with. ``None`` takes the storage's
    ``cursor_secret()`` (the SQL backend keeps one in its database, so every
    process behind a load balancer agrees), else a random one per service,
    which only a single process can use. Give the same value to every process
    that serves the same data if their storage keeps none."""
    bulk_max_operations: int = 1000
    """``maxOperations`` of ``POST /Bulk`` (RFC 7644 §3.7.4): more is 413.
    ``0`` turns ``/Bulk`` off (501, advertised as unsupported). Entra ID and
    Okta never send ``/Bulk``; 1000 is RFC 7643 §8.5's example value."""
    bulk_max_payload_bytes: int = 1_048_576
    """``maxPayloadSize`` of ``POST /Bulk`` in bytes: a larger body is 413. The
    limit enforced and advertised is the lower of this and ``max_body_bytes``
    (the adapters read no body beyond ``max_body_bytes``)."""

    @property
    def bulk_payload_limit(self) -> int:
        """The ``maxPayloadSize`` enforced and advertised: the lower byte limit."""
        return min(self.bulk_max_payload_bytes, self.max_body_bytes)

    def capabilities(self) -> Capabilities:
        """What ``/ServiceProviderConfig`` advertises for these settings."""
        bulk = self.bulk_max_operations > 0
        return Capabilities(
            max_results=self.max_page_size,
            default_page_size=self.default_page_size,
            documentation_uri=self.documentation_uri,
            cursor_pagination=True,
            cursor_timeout=self.cursor_timeout,
            bulk=bulk,
            bulk_max_operations=self.bulk_max_operations if bulk else 0,
            bulk_max_payload_size=self.bulk_payload_limit if bulk else 0,
        )


def _now() -> datetime:
    return datetime.now(UTC)


def _new_id() -> str:
    return str(uuid.uuid4())


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
"""A JSON escape of a UTF-16 surrogate: the only way a body can carry one, as
raw UTF-8 cannot. Pairs decode to one character; a lone one is no character."""


def _refuse_lone_surrogates(document: Any) -> None:
    """``400`` for a string holding a lone surrogate: it can be neither stored
    as UTF-8 nor sent back (RFC 8259 §8.2 leaves its meaning unpredictable)."""
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, str):
            try:
                value.encode()
            except UnicodeEncodeError:
                raise InvalidValue(
                    "a string holds a lone UTF-16 surrogate, which is not a character"
                ) from None
        elif isinstance(value, dict):
            pending.extend(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)


_DISCOVERY = frozenset(
    {"serviceproviderconfig", "serviceconfiguration", "schemas", "resourcetypes"}
)


class ScimService:
    """The SCIM 2.0 service provider, independent of any web framework.

    :param storage: where resources and tokens live: a synchronous
        :class:`~tomorro_scim.storage.Storage` or an
        :class:`~tomorro_scim.storage.asynchronous.AsyncStorage`. Both run the
        same handlers; :meth:`handle` serves the first, :meth:`handle_async`
        either.
    :param authenticator: maps a request to its tenant; defaults to the
        storage's bearer tokens (:class:`~tomorro_scim.auth.BearerTokenAuthenticator`).
    :param events: the bus the host app subscribes to.
    """

    def __init__(
        self,
        storage: Storage | AsyncStorage,
        *,
        settings: ServiceSettings | None = None,
        authenticator: Authenticator | None = None,
        events: EventBus | None = None,
        registry: SchemaRegistry | None = None,
        clock: Callable[[], datetime] = _now,
        id_factory: Callable[[], str] = _new_id,
    ) -> None:
        self.storage = storage
        self._async = is_async_storage(storage)
        self.settings = settings or ServiceSettings()
        self.authenticator = authenticator or BearerTokenAuthenticator(storage)
        self.events = events or EventBus()
        self.registry = registry or default_registry()

        def handlers(over: Storage | AsyncStorage) -> ResourceHandlers:
            return ResourceHandlers(
                storage=over,
                settings=self.settings,
                events=self.events,
                clock=clock,
                id_factory=id_factory,
            )

        self._handlers = handlers(storage)
        # A synchronous storage may have a face of its own for an event loop
        # (SQLite's runs its statements on the loop and suspends only to
        # wait for a lock): handle_async uses it, handle the storage itself.
        on_loop = None if self._async else event_loop_face(storage)
        self._loop_handlers = self._handlers
        self._loop_authenticator: Authenticator | None = None
        if on_loop is not None:
            self._loop_handlers = handlers(on_loop)
            if authenticator is None:
                self._loop_authenticator = BearerTokenAuthenticator(on_loop)

    # -- entry point ------------------------------------------------------

    def handle(self, request: ScimRequest) -> ScimResponse:
        """Answer one request; never raises.

        For a synchronous storage: this runs :meth:`handle_async` to
        completion at once, with no event loop (nothing it awaits suspends).
        An async storage needs :meth:`handle_async`.
        """
        if self._async:
            raise TypeError(
                "this service's storage is async: await service.handle_async(request)"
            )
        return run_sync(self._answer(request, on_loop=False))

    async def handle_async(self, request: ScimRequest) -> ScimResponse:
        """Answer one request on an event loop; never raises.

        Works with any storage: an async one is awaited. A synchronous one
        with a face for event loops (``on_event_loop()``, as
        :class:`~tomorro_scim.storage.sql.SqlStorage` has on SQLite) is used
        through it; any other is called directly, so it blocks the loop while
        it works: run :meth:`handle` in a thread instead when it waits on I/O.
        """
        return await self._answer(request, on_loop=True)

    @property
    def awaits_storage(self) -> bool:
        """Whether :meth:`handle_async` runs on an async storage, or on a
        synchronous storage's face for event loops, rather than calling a
        synchronous storage directly."""
        return self._async or self._loop_handlers is not self._handlers

    async def _answer(self, request: ScimRequest, *, on_loop: bool) -> ScimResponse:
        started = time.perf_counter()
        request_id = self._request_id(request)
        who: dict[str, str] = {}
        try:
            response = await self._dispatch(request, request_id, who, on_loop)
        except ScimError as error:
            response = self._error(error)
        except Exception:
            _errors.exception(
                "unexpected error on %s %s (request %s)",
                request.method,
                request.path,
                request_id,
            )
            response = self._error(InternalError())
        response = ScimResponse(
            response.status,
            (*response.headers, ("X-Request-Id", request_id)),
            response.body,
        )
        if _log.isEnabledFor(logging.INFO):
            duration_ms = round((time.perf_counter() - started) * 1000, 3)
            _log.info(
                "%s %s %d tenant=%s duration_ms=%s request_id=%s",
                request.method,
                request.path,
                response.status,
                who.get("tenant", "-"),
                duration_ms,
                request_id,
                extra={
                    "scim_method": request.method,
                    "scim_path": request.path,
                    "scim_status": response.status,
                    "scim_tenant": who.get("tenant"),
                    "scim_duration_ms": duration_ms,
                    "scim_request_id": request_id,
                },
            )
        return response

    @staticmethod
    def _request_id(request: ScimRequest) -> str:
        given = request.header("x-request-id")
        if given and _REQUEST_ID.fullmatch(given):
            return given
        return os.urandom(16).hex()  # 128 random bits, quicker than uuid4().hex

    def _error(self, error: ScimError) -> ScimResponse:
        headers: list[tuple[str, str]] = []  # after json_response's Content-Type
        if error.status == 401:
            headers.append(("WWW-Authenticate", 'Bearer realm="SCIM"'))
        if isinstance(error, MethodNotAllowed) and error.allowed:
            headers.append(("Allow", ", ".join(error.allowed)))
        return json_response(error.to_dict(), error.status, tuple(headers))

    # -- routing ----------------------------------------------------------

    async def _dispatch(
        self, request: ScimRequest, request_id: str, who: dict[str, str], on_loop: bool
    ) -> ScimResponse:
        """Route and run the request; records the authenticated tenant in ``who``
        so the request log names it even when the handler fails. ``on_loop``:
        through the storage's face for event loops, if it has one."""
        segments = [s for s in request.path.split("/") if s]
        head = segments[0].lower() if segments else ""
        if head in _DISCOVERY and self.settings.public_discovery:
            return self._discovery(request, segments)
        handlers = self._loop_handlers if on_loop else self._handlers
        authenticator = (on_loop and self._loop_authenticator) or self.authenticator
        tenant = authenticator(request)
        if not isinstance(tenant, str):
            tenant = await tenant
        who["tenant"] = tenant
        if head in _DISCOVERY:
            return self._discovery(request, segments)
        if head == "bulk":
            return await serve_bulk(
                request,
                request_id,
                tenant,
                segments=segments,
                handlers=handlers,
                registry=self.registry,
                max_operations=self.settings.bulk_max_operations,
                max_payload_bytes=self.settings.bulk_payload_limit,
                read_body=self._body,
            )
        if not segments or head == ".search":
            # RFC 7644 §3.4.2.1 (GET at the root) and §3.4.3 (POST /.search).
            if len(segments) > 1:
                raise NotFound(f"no endpoint at '{request.path[:200]}'")
            if segments and request.method != "POST":
                raise MethodNotAllowed(allowed=("POST",))
            if not segments and request.method != "GET":
                raise MethodNotAllowed(allowed=("GET",))
            parameters = (
                search_request_parameters(self._body(request))
                if segments
                else request.query_params()
            )
            return await search_root(
                handlers, list(self.registry), request, tenant, parameters
            )
        if head == "me":
            raise NotImplementedFeature("/Me is not supported by this service provider")
        resource_type = self.registry.by_endpoint("/" + segments[0])
        if resource_type is None or len(segments) > 2:
            raise NotFound(f"no endpoint at '{request.path[:200]}'")
        body = self._body(request)
        method = request.method
        resource_id = segments[1] if len(segments) == 2 else None
        if resource_id is not None and resource_id.lower() == ".search":
            if method != "POST":
                raise MethodNotAllowed(allowed=("POST",))
            return await handlers.search(request, tenant, resource_type, body)
        if method == "GET":
            if resource_id is None:
                return await handlers.list_resources(
                    request, tenant, resource_type, request.query_params()
                )
            return await handlers.get(request, tenant, resource_type, resource_id)
        return await handlers.write(
            method, request, request_id, tenant, resource_type, resource_id, body
        )

    def _body(self, request: ScimRequest) -> Any:
        """The request body as JSON, or ``None`` when there is none."""
        raw = request.body
        size = max(len(raw), request.declared_length)
        if size > self.settings.max_body_bytes:
            raise PayloadTooLarge(
                f"the body is {size} bytes; the limit is {self.settings.max_body_bytes}"
            )
        if not raw or request.method in ("GET", "DELETE"):
            return None
        content_type = (
            (request.header("content-type") or "").split(";")[0].strip().lower()
        )
        if content_type and content_type not in ACCEPTED_MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"'{content_type[:80]}' is not accepted; send {SCIM_MEDIA_TYPE}"
            )
        try:
            document = json.loads(raw)
            if _SURROGATE_ESCAPE.search(raw):
                _refuse_lone_surrogates(document)
            return document
        except UnicodeDecodeError:
            raise InvalidSyntax("the body is not UTF-8") from None
        except json.JSONDecodeError as error:
            raise InvalidSyntax(
                f"the body is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        except RecursionError:
            raise InvalidSyntax("the body nests too deeply") from None

    # -- discovery (RFC 7644 §4) -----------------------------------------------

    def _discovery(self, request: ScimRequest, segments: list[str]) -> ScimResponse:
        if request.method != "GET":
            raise MethodNotAllowed(allowed=("GET",))
        head = segments[0].lower()
        base = request.base_url
        if head in ("serviceproviderconfig", "serviceconfiguration"):
            if len(segments) > 1:
                raise NotFound("ServiceProviderConfig has no sub-resources")
            capabilities = self.settings.capabilities()
            if not self._handlers.keyset_paging:
                capabilities = attrs.evolve(
                    capabilities, cursor_pagination=False, cursor_timeout=None
                )
            return json_response(
                self.registry.service_provider_config(capabilities, base)
            )
        if head == "schemas":
            documents = self.registry.schema_documents(base)
        else:
            documents = self.registry.resource_type_documents(base)
        if len(segments) == 1:
            return json_response(
                {
                    "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                    "totalResults": len(documents),
                    "startIndex": 1,
                    "itemsPerPage": len(documents),
                    "Resources": documents,
                }
            )
        wanted = "/".join(segments[1:]).lower()
        for document in documents:
            if str(document["id"]).lower() == wanted:
                return json_response(document)
        raise NotFound(f"no {segments[0]} entry '{wanted[:120]}'")
