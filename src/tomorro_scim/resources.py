"""The handlers of ``/Users`` and ``/Groups``: what each method does to the storage.

One handler per method, each inside one storage session (one transaction).
Events are collected while the session runs and published after it commits.
The rules the IdPs rely on live here: case-insensitive uniqueness (enforced by
the storage), adoption of users the host app made, member ids checked against
the tenant's users, roles recomputed from ``userType`` and groups on every
write, and the 200-or-204 answer to PATCH (IDP-DIALECTS §4.3).
"""

from __future__ import annotations

import functools
import inspect
import logging
import secrets
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING
from typing import Any

from .cursors import CursorCodec
from .cursors import cursor_fingerprint
from .documents import drop_attributes
from .documents import etag
from .documents import parse_etag
from .documents import read_resource
from .documents import render
from .errors import InvalidValue
from .errors import MethodNotAllowed
from .errors import NotFound
from .errors import NotImplementedFeature
from .errors import PreconditionFailed
from .errors import Uniqueness
from .events import Event
from .events import EventBus
from .events import GroupCreated
from .events import GroupDeleted
from .events import GroupRenamed
from .events import MembersAdded
from .events import MembersRemoved
from .events import MembersSkipped
from .events import RoleChanged
from .events import UserCreated
from .events import UserDeactivated
from .events import UserDeleted
from .events import UserReactivated
from .events import UserUpdated
from .http import ScimRequest
from .http import ScimResponse
from .http import json_response
from .patch import AddMembers
from .patch import RemoveMembers
from .patch import ReplaceMembers
from .patch import plan_patch
from .query import Projection
from .query import parse_list_query
from .query import parse_projection
from .query import search_request_parameters
from .roles import GroupRef
from .roles import UnknownRolePolicy
from .schemas import ResourceType
from .storage import GROUP
from .storage import MAX_START_INDEX
from .storage import USER
from .storage import Keyset
from .storage import SearchQuery
from .storage import Storage
from .storage import StoredResource
from .storage.asynchronous import AsyncStorage
from .storage.asynchronous import AsyncStorageSession
from .storage.asynchronous import as_async_storage

if TYPE_CHECKING:
    from .service import ServiceSettings

__all__ = ["ResourceHandlers"]

_log = logging.getLogger("tomorro_scim.cursors")

LIST_RESPONSE = "urn:ietf:params:scim:api:messages:2.0:ListResponse"


class _Context:
    """What one request knows about itself, for the events it emits."""

    def __init__(self, request: ScimRequest, request_id: str, tenant: str) -> None:
        self.tenant = tenant
        self.request_id = request_id
        self.client = request.header("user-agent")
        self.events: list[Event] = []

    def emit(self, event_type: type[Event], resource_id: str, **fields: Any) -> None:
        self.events.append(
            event_type(
                tenant=self.tenant,
                resource_id=resource_id,
                request_id=self.request_id,
                client=self.client,
                **fields,
            )
        )


def _projection(request: ScimRequest, resource_type: ResourceType) -> Projection:
    params = {k.lower(): v for k, v in request.query_params().items()}
    return parse_projection(
        resource_type, params.get("attributes"), params.get("excludedattributes")
    )


def _asks_projection(request: ScimRequest) -> bool:
    params = {k.lower() for k in request.query_params()}
    return bool(params & {"attributes", "excludedattributes"})


def _check_if_match(request: ScimRequest, stored: StoredResource) -> None:
    """RFC 7644 §3.14: a stale ``If-Match`` is 412."""
    tags = parse_etag(request.header("if-match"))
    if tags and "*" not in tags and str(stored.version) not in tags:
        raise PreconditionFailed(
            f"the resource is at version {etag(stored.version)}; If-Match named another"
        )


def _member_ids(values: Any) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list):
        raise InvalidValue("'members' must be a list")
    ids = []
    for member in values:
        value = member.get("value") if isinstance(member, dict) else None
        if not isinstance(value, str) or not value:
            raise InvalidValue("every member needs a 'value' holding a user id")
        ids.append(value)
    return ids


def _changed_keys(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    keys = (set(old) | set(new)) - {"meta", "id", "schemas"}
    return tuple(sorted(k for k in keys if old.get(k) != new.get(k)))


class ResourceHandlers:
    def __init__(
        self,
        *,
        storage: Storage | AsyncStorage,
        settings: ServiceSettings,
        events: EventBus,
        clock: Callable[[], datetime],
        id_factory: Callable[[], str],
    ) -> None:
        self.storage = as_async_storage(storage)
        self._backend = storage
        self.settings = settings
        self.bus = events
        self.clock = clock
        self.id_factory = id_factory
        self.keyset_paging = bool(getattr(storage, "keyset_paging", False))
        """Whether the storage pages by position, so ``cursor`` is served."""
        self._cursor_codec: CursorCodec | None = None

    async def cursor_codec(self) -> CursorCodec:
        """The cursor signer, made on first use (the SQL storage reads its
        secret from the database)."""
        if self._cursor_codec is None:
            secret = self.settings.cursor_secret
            if secret is None:
                provider = getattr(self._backend, "cursor_secret", None)
                secret = provider() if callable(provider) else None
                if inspect.isawaitable(secret):
                    secret = await secret
            if secret is None:
                _log.warning(
                    "no cursor_secret set and the storage keeps none: cursors are "
                    "signed with a random key that only this process knows"
                )
                secret = secrets.token_bytes(32)
            self._cursor_codec = CursorCodec(
                secret, self.settings.cursor_timeout, lambda: self.clock().timestamp()
            )
        return self._cursor_codec

    def _now(self) -> str:
        return self.clock().isoformat().replace("+00:00", "Z")

    # -- rendering --------------------------------------------------------

    async def render(
        self,
        session: AsyncStorageSession,
        stored: StoredResource,
        resource_type: ResourceType,
        request: ScimRequest,
        projection: Projection,
    ) -> dict[str, Any]:
        members = groups = None
        if resource_type.name == GROUP and projection.returns("members", resource_type):
            members = await session.members(stored.id)
        if resource_type.name == USER and projection.returns("groups", resource_type):
            groups = await session.user_groups(stored.id)
        return render(
            stored,
            resource_type,
            request.base_url,
            projection,
            members=members,
            groups=groups,
        )

    async def _answer(
        self,
        session: AsyncStorageSession,
        stored: StoredResource,
        resource_type: ResourceType,
        request: ScimRequest,
        status: int = 200,
    ) -> ScimResponse:
        body = await self.render(
            session, stored, resource_type, request, _projection(request, resource_type)
        )
        headers: tuple[tuple[str, str], ...] = (("ETag", etag(stored.version)),)
        if status == 201:
            headers = (*headers, ("Location", body["meta"]["location"]))
        return json_response(body, status, headers)

    async def _get(
        self,
        session: AsyncStorageSession,
        resource_type: ResourceType,
        resource_id: str,
        *,
        include_members: bool = False,
    ) -> StoredResource:
        stored = await session.get(
            resource_type.name, resource_id, include_members=include_members
        )
        if stored is None:
            raise NotFound(f"{resource_type.name} {resource_id[:100]!r} not found")
        return stored

    # -- reads ------------------------------------------------------------

    async def get(
        self,
        request: ScimRequest,
        tenant: str,
        resource_type: ResourceType,
        resource_id: str,
    ) -> ScimResponse:
        async with self.storage.session(tenant) as session:
            stored = await self._get(session, resource_type, resource_id)
            # RFC 7232 §3.2: "*" matches any current representation.
            tags = parse_etag(request.header("if-none-match"))
            if "*" in tags or str(stored.version) in tags:
                return ScimResponse(304, (("ETag", etag(stored.version)),))
            return await self._answer(session, stored, resource_type, request)

    async def list_resources(
        self,
        request: ScimRequest,
        tenant: str,
        resource_type: ResourceType,
        parameters: dict[str, Any],
    ) -> ScimResponse:
        settings = self.settings
        query = parse_list_query(
            resource_type,
            parameters,
            default_count=settings.default_page_size,
            max_count=settings.max_page_size,
            filter_limits=settings.filter_limits,
        )
        by_cursor = query.cursor is not None
        fingerprint = ""
        after = None
        if by_cursor:
            fingerprint, after = await self.open_cursor(
                query.cursor,
                tenant,
                resource_type.name,
                query.filter_text,
                query.sort_by.path if query.sort_by is not None else None,
                query.descending,
            )
        search = SearchQuery(
            filter=query.filter,
            sort_by=query.sort_by,
            descending=query.descending,
            start_index=1 if by_cursor else min(query.start_index, MAX_START_INDEX),
            count=query.count,
            include_members=False,
            keyset=by_cursor,
            after=after,
        )
        async with self.storage.session(tenant) as session:
            result = await session.search(resource_type.name, search)
            resources = [
                await self.render(
                    session, stored, resource_type, request, query.projection
                )
                for stored in result.resources
            ]
        return await self.list_response(
            result.total,
            resources,
            start_index=None if by_cursor else query.start_index,
            fingerprint=fingerprint,
            next_position=result.last if result.more else None,
        )

    async def open_cursor(
        self,
        cursor: str | None,
        tenant: str,
        scope: str,
        filter_text: str,
        sort_text: str | None,
        descending: bool,
    ) -> tuple[str, Keyset | None]:
        """The fingerprint of a cursor-paged search and the position its
        ``cursor`` resumes after (``None`` for the first page).

        :raises NotImplementedFeature: the storage does not page by position.
        """
        if not self.keyset_paging:
            raise NotImplementedFeature(
                "this service provider's storage does not page by cursor; "
                "page with startIndex"
            )
        fingerprint = cursor_fingerprint(
            tenant, scope, filter_text, sort_text, descending
        )
        if not cursor:
            return fingerprint, None
        return fingerprint, (await self.cursor_codec()).decode(cursor, fingerprint)

    async def list_response(
        self,
        total: int,
        resources: list[dict[str, Any]],
        *,
        start_index: int | None,
        fingerprint: str = "",
        next_position: Keyset | None = None,
    ) -> ScimResponse:
        """A ListResponse: paged by index (``start_index``), or by cursor
        (``start_index=None``, with a nextCursor when ``next_position`` is set)."""
        body: dict[str, Any] = {"schemas": [LIST_RESPONSE], "totalResults": total}
        if start_index is None:
            # RFC 9865 §2: nextCursor on every page but the last (a count=0
            # request asks for totalResults only, so it has no next page).
            if next_position is not None:
                body["nextCursor"] = (await self.cursor_codec()).encode(
                    fingerprint, next_position
                )
        else:
            body["startIndex"] = start_index
        body["itemsPerPage"] = len(resources)
        body["Resources"] = resources
        return json_response(body)

    async def search(
        self, request: ScimRequest, tenant: str, resource_type: ResourceType, body: Any
    ) -> ScimResponse:
        return await self.list_resources(
            request, tenant, resource_type, search_request_parameters(body)
        )

    # -- members and roles ----------------------------------------------

    async def _known_members(
        self,
        session: AsyncStorageSession,
        context: _Context,
        group_id: str,
        ids: Sequence[str],
    ) -> list[str]:
        """The ids that name users of this tenant; the others are skipped or refused."""
        if not ids:
            return []
        existing = await session.existing_user_ids(ids)
        unknown = tuple(dict.fromkeys(i for i in ids if i not in existing))
        if unknown:
            if self.settings.reject_unknown_members:
                shown = ", ".join(repr(i[:64]) for i in unknown[:10])
                raise InvalidValue(
                    f"these members are not users of this tenant: {shown}"
                )
            context.emit(MembersSkipped, group_id, member_ids=unknown)
        return [i for i in ids if i in existing]

    async def _resolve_role(
        self,
        session: AsyncStorageSession,
        user_type: Any,
        user_id: str | None,
        *,
        lenient: bool = False,
    ) -> str:
        role_map = self.settings.role_map
        groups: Iterable[GroupRef] = ()
        if role_map.group_grants and user_id is not None:
            groups = [
                GroupRef.from_resource(g.document)
                for g in await session.user_groups(user_id)
            ]
        unknown = UnknownRolePolicy.DEFAULT if lenient else None
        return role_map.resolve(user_type, groups, unknown=unknown).name

    async def _recompute_roles(
        self, session: AsyncStorageSession, context: _Context, user_ids: Iterable[str]
    ) -> None:
        """Membership moved: a group may grant a role (DESIGN: roles are recomputed, never accumulated)."""
        if not self.settings.role_map.group_grants:
            return
        for user_id in dict.fromkeys(user_ids):
            user = await session.get(USER, user_id, include_members=False)
            if user is None:
                continue
            role = await self._resolve_role(
                session, user.document.get("userType"), user_id, lenient=True
            )
            if role != user.role:
                await session.set_role(user_id, role)
                context.emit(RoleChanged, user_id, old=user.role, new=role)

    async def _apply_members(
        self,
        session: AsyncStorageSession,
        context: _Context,
        group_id: str,
        changes: Iterable[AddMembers | RemoveMembers | ReplaceMembers],
    ) -> bool:
        added: list[str] = []
        removed: list[str] = []
        now = self._now()
        for change in changes:
            if isinstance(change, AddMembers):
                known = await self._known_members(
                    session, context, group_id, change.ids
                )
                added += await session.add_members(group_id, known, modified=now)
            elif isinstance(change, RemoveMembers):
                removed += await session.remove_members(
                    group_id, change.ids, modified=now
                )
            else:
                known = await self._known_members(
                    session, context, group_id, change.ids
                )
                plus, minus = await session.replace_members(
                    group_id, known, modified=now
                )
                added += plus
                removed += minus
        if added:
            context.emit(MembersAdded, group_id, member_ids=tuple(added))
        if removed:
            context.emit(MembersRemoved, group_id, member_ids=tuple(removed))
        await self._recompute_roles(session, context, [*added, *removed])
        return bool(added or removed)

    def _user_events(
        self,
        context: _Context,
        user_id: str,
        old: dict[str, Any],
        new: dict[str, Any],
        old_role: str | None,
        new_role: str | None,
    ) -> None:
        changed = _changed_keys(old, new)
        if changed:
            context.emit(UserUpdated, user_id, user=new, changed=changed)
        if old.get("active") is not False and new.get("active") is False:
            context.emit(UserDeactivated, user_id)
        elif old.get("active") is False and new.get("active") is True:
            context.emit(UserReactivated, user_id)
        if new_role is not None and new_role != old_role:
            context.emit(RoleChanged, user_id, old=old_role, new=new_role)

    def _group_events(
        self, context: _Context, group_id: str, old: dict[str, Any], new: dict[str, Any]
    ) -> None:
        if old.get("displayName") != new.get("displayName"):
            context.emit(
                GroupRenamed,
                group_id,
                old=old.get("displayName"),
                new=str(new.get("displayName")),
            )

    async def _regrant(
        self,
        session: AsyncStorageSession,
        context: _Context,
        group_id: str,
        old: dict[str, Any],
        new: dict[str, Any],
    ) -> None:
        """A group renamed (or given another externalId) may grant another role."""
        if not self.settings.role_map.group_grants:
            return
        if GroupRef.from_resource(old) == GroupRef.from_resource(new):
            return
        members = [m.value for m in await session.members(group_id)]
        await self._recompute_roles(session, context, members)

    def _publish(self, context: _Context) -> None:
        self.bus.publish(context.events)

    # -- writes -----------------------------------------------------------

    def _read(
        self, body: Any, resource_type: ResourceType
    ) -> tuple[dict[str, Any], list[str] | None]:
        """The document a POST/PUT carries, and its member ids (``None`` when absent)."""
        document = read_resource(
            body, resource_type, ignored_schemas=self.settings.ignored_schemas
        )
        members: list[str] | None = None
        if resource_type.name == GROUP:
            sent = any(isinstance(k, str) and k.lower() == "members" for k in body)
            members = _member_ids(document.pop("members", None)) if sent else None
        self._check(document, resource_type)
        return document, members

    def _check(self, document: dict[str, Any], resource_type: ResourceType) -> None:
        """What every write of a whole document must satisfy, whatever the method."""
        key = "displayName" if resource_type.name == GROUP else "userName"
        name = document.get(key)
        if not isinstance(name, str) or not name.strip():
            raise InvalidValue(
                f"a {resource_type.name} needs a non-empty {key}; it cannot be removed"
            )
        if resource_type.name == USER:
            self.settings.role_map.validate_user_type(document.get("userType"))

    async def _write(
        self,
        session: AsyncStorageSession,
        context: _Context,
        resource_type: ResourceType,
        current: StoredResource,
        document: dict[str, Any],
    ) -> StoredResource:
        """Replace ``current`` by ``document`` (compare-and-swap on its version),
        recompute a user's role, and record the events the change makes."""
        resource_id = current.id
        if resource_type.name == GROUP:
            stored = await session.replace(
                GROUP, resource_id, document, expected_version=current.version
            )
            self._group_events(context, resource_id, current.document, document)
            return stored
        role = await self._resolve_role(session, document.get("userType"), resource_id)
        stored = await session.replace(
            USER, resource_id, document, expected_version=current.version, role=role
        )
        self._user_events(
            context, resource_id, current.document, document, current.role, role
        )
        return stored

    async def write(
        self,
        method: str,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        resource_id: str | None,
        body: Any,
    ) -> ScimResponse:
        """Run the write ``method`` names: ``POST`` to the endpoint (no
        ``resource_id``), ``PUT``, ``PATCH`` or ``DELETE`` on a resource."""
        if resource_id is None:
            if method != "POST":
                raise MethodNotAllowed(allowed=("GET", "POST"))
            return await self.create(request, request_id, tenant, resource_type, body)
        if method == "PUT":
            return await self.replace(
                request, request_id, tenant, resource_type, resource_id, body
            )
        if method == "PATCH":
            return await self.patch(
                request, request_id, tenant, resource_type, resource_id, body
            )
        if method == "DELETE":
            return await self.delete(
                request, request_id, tenant, resource_type, resource_id
            )
        raise MethodNotAllowed(allowed=("GET", "PUT", "PATCH", "DELETE"))

    async def create(
        self,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        body: Any,
    ) -> ScimResponse:
        document, members = self._read(body, resource_type)
        now = self._now()
        attempt = functools.partial(
            self._create,
            request,
            request_id,
            tenant,
            resource_type,
            document,
            members,
            now,
            self.id_factory(),
        )
        try:
            return await attempt()
        except Uniqueness:
            if resource_type.name != USER or not self.settings.adopt_existing_users:
                raise
        # The userName is taken, perhaps by a user the app made, which this
        # POST then links (IDP-DIALECTS §9). That is looked for only now, in a
        # transaction of its own, so that creating a new user reads nothing first.
        return await attempt(adopting=True)

    async def _create(
        self,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        document: dict[str, Any],
        members: list[str] | None,
        now: str,
        new_id: str,
        *,
        adopting: bool = False,
    ) -> ScimResponse:
        """One attempt at a POST, in one transaction (events published if it
        commits): the new resource gets ``new_id``, an adopted user keeps its own."""
        context = _Context(request, request_id, tenant)
        async with self.storage.session(tenant) as session:
            if resource_type.name == USER:
                stored = await self._create_user(
                    session, context, document, now, new_id, adopting=adopting
                )
            else:
                document["id"] = new_id
                document["meta"] = {
                    "resourceType": GROUP,
                    "created": now,
                    "lastModified": now,
                }
                stored = await session.create(GROUP, document)
                context.emit(GroupCreated, stored.id, group=document)
                if members:
                    await self._apply_members(
                        session, context, stored.id, [AddMembers(tuple(members))]
                    )
                    stored = await self._get(session, resource_type, stored.id)
            response = await self._answer(session, stored, resource_type, request, 201)
        self._publish(context)
        return response

    async def _create_user(
        self,
        session: AsyncStorageSession,
        context: _Context,
        document: dict[str, Any],
        now: str,
        new_id: str,
        *,
        adopting: bool,
    ) -> StoredResource:
        """Create the user, or with ``adopting``, link the app-made user of
        that userName if there is one."""
        existing = (
            await session.find_user_by_user_name(document["userName"])
            if adopting
            else None
        )
        if existing is not None and not existing.managed:
            document["id"] = existing.id
            created = (existing.document.get("meta") or {}).get("created", now)
            document["meta"] = {
                "resourceType": USER,
                "created": created,
                "lastModified": now,
            }
            role = await self._resolve_role(
                session, document.get("userType"), existing.id
            )
            stored = await session.replace(
                USER, existing.id, document, role=role, adopt=True
            )
            context.emit(UserCreated, stored.id, user=document, role=role, adopted=True)
            return stored
        document["id"] = new_id
        document["meta"] = {"resourceType": USER, "created": now, "lastModified": now}
        role = await self._resolve_role(session, document.get("userType"), None)
        stored = await session.create(USER, document, role=role)
        context.emit(UserCreated, stored.id, user=document, role=role)
        return stored

    async def replace(
        self,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        resource_id: str,
        body: Any,
    ) -> ScimResponse:
        document, members = self._read(body, resource_type)
        context = _Context(request, request_id, tenant)
        async with self.storage.session(tenant) as session:
            current = await self._get(session, resource_type, resource_id)
            _check_if_match(request, current)
            document["id"] = resource_id
            created = (current.document.get("meta") or {}).get("created")
            document["meta"] = {
                "resourceType": resource_type.name,
                "created": created,
                "lastModified": self._now(),
            }
            stored = await self._write(
                session, context, resource_type, current, document
            )
            if resource_type.name == GROUP:
                # A PUT without members leaves them as they are (IDP-DIALECTS §3.3 [J]).
                if members is not None and await self._apply_members(
                    session, context, resource_id, [ReplaceMembers(tuple(members))]
                ):
                    stored = await self._get(session, resource_type, resource_id)
                await self._regrant(
                    session, context, resource_id, current.document, document
                )
            response = await self._answer(session, stored, resource_type, request)
        self._publish(context)
        return response

    async def patch(
        self,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        resource_id: str,
        body: Any,
    ) -> ScimResponse:
        context = _Context(request, request_id, tenant)
        dialect = self.settings.patch_dialect
        is_group = resource_type.name == GROUP
        plan = plan_patch(body, resource_type, dialect=dialect)
        load_members = is_group and plan.needs_members
        async with self.storage.session(tenant) as session:
            current = await self._get(
                session, resource_type, resource_id, include_members=load_members
            )
            _check_if_match(request, current)
            result = plan.apply(current.document)
            document = dict(result.resource)
            # Okta's password sync PATCHes a password: discarded, as on POST.
            drop_attributes(document, resource_type)
            member_changes = [
                c
                for c in result.changes
                if isinstance(c, AddMembers | RemoveMembers | ReplaceMembers)
            ]
            stored = current
            if len(member_changes) < len(result.changes):
                document.pop("members", None)
                document["meta"] = {
                    **(current.document.get("meta") or {}),
                    "lastModified": self._now(),
                }
                self._check(document, resource_type)
                stored = await self._write(
                    session, context, resource_type, current, document
                )
            if member_changes and await self._apply_members(
                session, context, resource_id, member_changes
            ):
                stored = await self._get(session, resource_type, resource_id)
            if is_group:
                await self._regrant(
                    session, context, resource_id, current.document, document
                )
            wants_body = _asks_projection(request) or (
                self.settings.group_patch_returns_resource
                if is_group
                else self.settings.user_patch_returns_resource
            )
            if stored is current and load_members:
                stored = await self._get(session, resource_type, resource_id)
            if wants_body:
                response = await self._answer(session, stored, resource_type, request)
            else:
                response = ScimResponse(204, (("ETag", etag(stored.version)),))
        self._publish(context)
        return response

    async def delete(
        self,
        request: ScimRequest,
        request_id: str,
        tenant: str,
        resource_type: ResourceType,
        resource_id: str,
    ) -> ScimResponse:
        context = _Context(request, request_id, tenant)
        async with self.storage.session(tenant) as session:
            current = await self._get(session, resource_type, resource_id)
            _check_if_match(request, current)
            former_members: list[str] = []
            if resource_type.name == GROUP and self.settings.role_map.group_grants:
                former_members = [m.value for m in await session.members(resource_id)]
            await session.delete(
                resource_type.name, resource_id, expected_version=current.version
            )
            if resource_type.name == USER:
                context.emit(UserDeleted, resource_id)
            else:
                context.emit(GroupDeleted, resource_id)
                await self._recompute_roles(session, context, former_members)
        self._publish(context)
        return ScimResponse(204)
