"""The role map: what the IdP sends (``userType`` and groups) → the app's role.

There is no SCIM standard for roles, so every provider invents a mapping; this
one follows the admin setup the library is built for: Entra or Okta maps some
directory attribute onto ``userType`` (RFC 7643 §4.1.1), and the host app turns
its value into one of its own roles. A :class:`RoleMap` is an immutable value
the service reads; :meth:`RoleMap.resolve` is a pure function of the user's
*current* ``userType`` and groups, so a role is recomputed on every write and
never accumulates (Entra only ever *adds* app roles, so a mapping that kept
what it once granted could never demote anyone).

``userType`` is stored exactly as sent (Microsoft's SCIM guide: a ``userType``
of ``admin`` must come back as ``admin``); only the lookup folds case,
whitespace and Unicode composition.

Two kinds of failure are kept apart: a mistake in the host app's table raises
:class:`ValueError` or :class:`TypeError` when the map is built, and a value a
client sends that the map cannot accept raises
:class:`~tomorro_scim.errors.InvalidValue` (400 ``invalidValue``).
"""

from __future__ import annotations

import enum
import json
import unicodedata
from collections.abc import Iterable
from collections.abc import Mapping
from typing import Any

import attrs

from tomorro_scim.errors import InvalidValue

__all__ = [
    "ADMIN",
    "CONTRIBUTOR",
    "MANAGER",
    "USER_TYPE_ATTRIBUTE",
    "GroupGrant",
    "GroupRef",
    "Role",
    "RoleMap",
    "UnknownRolePolicy",
    "fold",
]

USER_TYPE_ATTRIBUTE = "userType"
"""The SCIM attribute the role map reads, as named in error details."""

# Long values are cut in error details: the detail is shown in Entra's
# provisioning logs and must stay readable, whatever the client sent.
_MAX_ECHO = 64


def fold(value: str) -> str:
    """The form ``userType`` values and group names are compared in.

    Case-folded (not lower-cased, so ``"ß"`` meets ``"SS"``), NFC-normalised
    (so a decomposed ``"é"`` from one directory meets a composed one from
    another) and stripped of surrounding whitespace.
    """
    # casefold() can leave a string unnormalised, hence NFC on both sides.
    return unicodedata.normalize(
        "NFC", unicodedata.normalize("NFC", value).casefold()
    ).strip()


def _non_blank(_: Any, attribute: attrs.Attribute[Any], value: str) -> None:
    if not value.strip():
        raise ValueError(f"{attribute.name} must not be blank")


def _is_int(_: Any, attribute: attrs.Attribute[Any], value: object) -> None:
    # bool is an int subclass; True as a privilege is a bug, not a rank.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{attribute.name} must be an int, got {value!r}")


@attrs.frozen
class Role:
    """One of the host app's roles.

    Roles are compared by value: two ``Role("Admin", 30)`` are the same role.
    A map may not hold two different roles with the same (case-folded) name.
    """

    name: str = attrs.field(validator=[attrs.validators.instance_of(str), _non_blank])
    """The role's name in the host app (``"Admin"``)."""

    privilege: int = attrs.field(validator=_is_int)
    """How much the role may do; higher wins a conflict unless the map gives
    an explicit :attr:`RoleMap.precedence`."""

    def __str__(self) -> str:
        return self.name


ADMIN = Role("Admin", 30)
"""The default table's ``admin`` role."""

MANAGER = Role("Manager", 20)
"""The default table's ``manager`` role."""

CONTRIBUTOR = Role("Contributor", 10)
"""The default table's ``user`` role, and its role for an absent ``userType``."""


class UnknownRolePolicy(enum.Enum):
    """What a ``userType`` value that is not in the table gets."""

    REJECT = "reject"
    """Answer 400 ``invalidValue`` listing the accepted values, so a mis-mapped
    attribute shows up in the IdP's provisioning logs instead of silently
    provisioning everyone with the default role."""

    DEFAULT = "default"
    """Give the map's default role, as for an absent ``userType``."""


def _optional_str(_: Any, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{attribute.name} must be a str or None, got {value!r}")


@attrs.frozen
class GroupRef:
    """A group a user belongs to, as the role map needs to see it."""

    display_name: str | None = attrs.field(default=None, validator=_optional_str)
    external_id: str | None = attrs.field(default=None, validator=_optional_str)

    @classmethod
    def from_resource(cls, group: Mapping[str, Any]) -> GroupRef:
        """Read ``displayName`` and ``externalId`` from a Group's JSON form.

        Attribute names are matched case-insensitively (RFC 7643 §2.1); a
        missing or non-string value reads as ``None``.
        """
        wanted = {"displayname": "display_name", "externalid": "external_id"}
        found: dict[str, str] = {}
        for key, value in group.items():
            field = wanted.get(key.lower())
            if field is not None and isinstance(value, str):
                found[field] = value
        return cls(**found)


@attrs.frozen
class GroupGrant:
    """Membership of one group grants a role.

    Give exactly one of ``display_name`` (matched like ``userType``:
    case-insensitively and trimmed, as group ``displayName`` is
    ``caseExact: false`` in RFC 7643 §4.2) or ``external_id`` (the IdP's stable
    id, matched exactly as RFC 7643 §3.1 wants). Prefer ``external_id`` when
    the IdP sends one: a rename in the directory then keeps the grant.
    """

    role: Role = attrs.field(validator=attrs.validators.instance_of(Role))
    display_name: str | None = attrs.field(
        default=None, kw_only=True, validator=_optional_str
    )
    external_id: str | None = attrs.field(
        default=None, kw_only=True, validator=_optional_str
    )

    def __attrs_post_init__(self) -> None:
        if (self.display_name is None) == (self.external_id is None):
            raise ValueError(
                "a GroupGrant needs exactly one of display_name or external_id"
            )
        if self.display_name is not None and not fold(self.display_name):
            raise ValueError("GroupGrant.display_name must not be blank")
        if self.external_id is not None and not self.external_id:
            raise ValueError("GroupGrant.external_id must not be empty")

    @property
    def key(self) -> tuple[str, str]:
        """What two grants must not share: ``("displayName", folded name)`` or
        ``("externalId", id)``."""
        if self.external_id is not None:
            return ("externalId", self.external_id)
        assert self.display_name is not None  # guaranteed by __attrs_post_init__
        return ("displayName", fold(self.display_name))


def _to_user_types(
    table: Mapping[str, Role] | Iterable[tuple[str, Role]],
) -> tuple[tuple[str, Role], ...]:
    items = table.items() if isinstance(table, Mapping) else table
    return tuple((value, role) for value, role in items)


def _to_grants(grants: Iterable[GroupGrant]) -> tuple[GroupGrant, ...]:
    return tuple(grants)


def _to_precedence(roles: Iterable[Role] | None) -> tuple[Role, ...] | None:
    return None if roles is None else tuple(roles)


def _to_policy(policy: UnknownRolePolicy | str) -> UnknownRolePolicy:
    return UnknownRolePolicy(policy)


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return f"a {type(value).__name__}"


def _quote(value: str) -> str:
    if len(value) > _MAX_ECHO:
        value = value[:_MAX_ECHO] + "…"
    # JSON quoting escapes control characters a client may have sent.
    return json.dumps(value, ensure_ascii=False)


@attrs.frozen
class RoleMap:
    """The table that turns ``userType`` and group memberships into a role.

    Resolution takes the role of ``userType`` (its table entry, or
    :attr:`default_role` when it is absent or empty, or unknown under the
    ``DEFAULT`` policy) and the role of every matching :class:`GroupGrant`,
    and returns the one that comes first in :attr:`precedence` (by default:
    the highest :attr:`Role.privilege`). The default role therefore also acts
    as a floor: a group can raise a user above it, and can take them below it
    only through an explicit precedence. Set the default to your least
    privileged role.

    Build one with the constructor (a whole table) or from :meth:`default`
    with the ``with_*`` methods, which return a new map. Every combination is
    checked when the map is built, so a bad table fails at import time rather
    than on the first provisioning request.
    """

    user_types: tuple[tuple[str, Role], ...] = attrs.field(converter=_to_user_types)
    """``userType`` values and their role, in the order the error detail lists
    them; pass a mapping or pairs. Keys are stored as given and matched through
    :func:`fold`."""

    default_role: Role = attrs.field(validator=attrs.validators.instance_of(Role))
    """The role for an absent or empty ``userType`` (and, under
    :attr:`UnknownRolePolicy.DEFAULT`, for an unknown one)."""

    unknown: UnknownRolePolicy = attrs.field(
        default=UnknownRolePolicy.REJECT, converter=_to_policy
    )
    """What a ``userType`` value outside the table gets."""

    group_grants: tuple[GroupGrant, ...] = attrs.field(default=(), converter=_to_grants)
    """Groups whose members get a role."""

    precedence: tuple[Role, ...] | None = attrs.field(
        default=None, converter=_to_precedence
    )
    """An explicit ordering, winner first, naming every role the map can give;
    ``None`` means the highest privilege wins."""

    _by_user_type: dict[str, Role] = attrs.field(init=False, eq=False, repr=False)
    _by_display_name: dict[str, Role] = attrs.field(init=False, eq=False, repr=False)
    _by_external_id: dict[str, Role] = attrs.field(init=False, eq=False, repr=False)
    _ranked: tuple[Role, ...] = attrs.field(init=False, eq=False, repr=False)
    _rank: dict[Role, int] = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        # Frozen: the lookup indexes are derived once here, the only place
        # that may set them.
        by_user_type = self._index_user_types()
        by_display_name, by_external_id = self._index_group_grants()
        grantable = _distinct(
            [
                *by_user_type.values(),
                self.default_role,
                *by_display_name.values(),
                *by_external_id.values(),
            ]
        )
        _check_names([*grantable, *(self.precedence or ())])
        ranked = self._rank_roles(grantable)
        object.__setattr__(self, "_by_user_type", by_user_type)
        object.__setattr__(self, "_by_display_name", by_display_name)
        object.__setattr__(self, "_by_external_id", by_external_id)
        object.__setattr__(self, "_ranked", ranked)
        object.__setattr__(self, "_rank", {role: i for i, role in enumerate(ranked)})

    def _index_user_types(self) -> dict[str, Role]:
        index: dict[str, Role] = {}
        spelled: dict[str, str] = {}
        for value, role in self.user_types:
            if not isinstance(value, str):
                raise TypeError(f"userType values must be str, got {value!r}")
            if not isinstance(role, Role):
                raise TypeError(f"userType {value!r} must map to a Role, got {role!r}")
            key = fold(value)
            if not key:
                raise ValueError("a userType value must not be blank")
            if key in spelled:
                raise ValueError(
                    f"userType values {spelled[key]!r} and {value!r} are the same "
                    "once case and whitespace are folded"
                )
            spelled[key] = value
            index[key] = role
        return index

    def _index_group_grants(self) -> tuple[dict[str, Role], dict[str, Role]]:
        by_display_name: dict[str, Role] = {}
        by_external_id: dict[str, Role] = {}
        for grant in self.group_grants:
            if not isinstance(grant, GroupGrant):
                raise TypeError(f"group_grants must hold GroupGrant, got {grant!r}")
            kind, name = grant.key
            index = by_external_id if kind == "externalId" else by_display_name
            if name in index:
                raise ValueError(f"two group grants for {kind} {name!r}")
            index[name] = grant.role
        return by_display_name, by_external_id

    def _rank_roles(self, grantable: list[Role]) -> tuple[Role, ...]:
        """The roles the map can give, the one that wins a conflict first."""
        if self.precedence is None:
            by_privilege: dict[int, Role] = {}
            for role in grantable:
                tied = by_privilege.setdefault(role.privilege, role)
                if tied != role:
                    raise ValueError(
                        f"roles {tied.name!r} and {role.name!r} have the same "
                        f"privilege ({role.privilege}); give them different "
                        "privileges or an explicit precedence"
                    )
            return tuple(sorted(grantable, key=lambda role: -role.privilege))
        if len(set(self.precedence)) != len(self.precedence):
            raise ValueError("precedence lists a role more than once")
        missing = [role.name for role in grantable if role not in self.precedence]
        if missing:
            raise ValueError(
                "precedence must rank every role the map can give; missing: "
                + ", ".join(missing)
            )
        # Roles listed but not grantable are tolerated, so that a builder
        # step removing a table entry does not invalidate the ordering.
        return tuple(role for role in self.precedence if role in grantable)

    # -- the defaults ---------------------------------------------------------

    @classmethod
    def default(cls) -> RoleMap:
        """The table of the library's first user: ``admin`` → Admin,
        ``manager`` → Manager, ``user`` → Contributor; Contributor for an
        absent ``userType``; unknown values rejected."""
        return cls(
            user_types={"admin": ADMIN, "manager": MANAGER, "user": CONTRIBUTOR},
            default_role=CONTRIBUTOR,
        )

    # -- reading --------------------------------------------------------------

    @property
    def roles(self) -> tuple[Role, ...]:
        """Every role the map can give, the winner of a conflict first."""
        return self._ranked

    @property
    def accepted_user_types(self) -> tuple[str, ...]:
        """The ``userType`` values of the table, as the host app spelled them."""
        return tuple(value for value, _ in self.user_types)

    def resolve(
        self,
        user_type: object,
        groups: Iterable[GroupRef] = (),
        *,
        unknown: UnknownRolePolicy | None = None,
    ) -> Role:
        """The role a user with this ``userType`` and these groups has.

        A pure function of its arguments: call it with the user's *current*
        ``userType`` and *current* groups after every write, never with a
        previous role, so that a removed group or a changed attribute takes
        its grant away. ``None`` (absent, or JSON ``null``, which RFC 7643
        §2.5 treats as unassigned) and blank strings give the default role.

        ``unknown`` overrides the map's policy for this call. Pass
        :attr:`UnknownRolePolicy.DEFAULT` when recomputing a role for another
        reason than a ``userType`` write (a group membership change): a value
        stored under an older table must not fail a request that did not send
        it, and the default role is the least privileged outcome.

        Raises :class:`~tomorro_scim.errors.InvalidValue` for a non-string
        ``userType``, or for an unknown one under the reject policy.
        """
        policy = self.unknown if unknown is None else unknown
        best = self._user_type_role(user_type, policy)
        rank = self._rank
        for group in groups:
            for role in self._grants_for(group):
                if rank[role] < rank[best]:
                    best = role
        return best

    def validate_user_type(self, value: object) -> None:
        """Check a ``userType`` a client sends before it is written.

        Call it on create, PUT and PATCH: it raises the same
        :class:`~tomorro_scim.errors.InvalidValue` as :meth:`resolve` would,
        before anything is stored. The value itself is stored as sent.
        """
        self._user_type_role(value, self.unknown)

    def _user_type_role(self, value: object, policy: UnknownRolePolicy) -> Role:
        if value is None:
            return self.default_role
        if not isinstance(value, str):
            raise InvalidValue(
                f"{USER_TYPE_ATTRIBUTE} must be a string, got {_json_type(value)}."
            )
        key = fold(value)
        if not key:
            return self.default_role
        role = self._by_user_type.get(key)
        if role is not None:
            return role
        if policy is UnknownRolePolicy.DEFAULT:
            return self.default_role
        raise InvalidValue(self._unknown_detail(value))

    def _unknown_detail(self, value: str) -> str:
        sent = f"{USER_TYPE_ATTRIBUTE} {_quote(value)} is not an accepted value"
        if not self.user_types:
            return (
                f"{sent}; no {USER_TYPE_ATTRIBUTE} values are accepted, leave it empty."
            )
        accepted = ", ".join(_quote(v) for v in self.accepted_user_types)
        return f"{sent}; accepted values (case-insensitive): {accepted}."

    def _grants_for(self, group: GroupRef) -> Iterable[Role]:
        if group.external_id is not None:
            role = self._by_external_id.get(group.external_id)
            if role is not None:
                yield role
        if group.display_name is not None:
            role = self._by_display_name.get(fold(group.display_name))
            if role is not None:
                yield role

    # -- building -------------------------------------------------------------

    def with_user_type(self, value: str, role: Role) -> RoleMap:
        """A copy where ``value`` maps to ``role``, replacing the entry that
        folds to the same key (in place) or appending a new one."""
        key = fold(value)
        entries = list(self.user_types)
        for i, (existing, _) in enumerate(entries):
            if fold(existing) == key:
                entries[i] = (value, role)
                break
        else:
            entries.append((value, role))
        return attrs.evolve(self, user_types=entries)

    def without_user_type(self, value: str) -> RoleMap:
        """A copy without the entry for ``value``; :class:`ValueError` if none."""
        key = fold(value)
        entries = [(v, r) for v, r in self.user_types if fold(v) != key]
        if len(entries) == len(self.user_types):
            raise ValueError(f"no userType entry for {value!r}")
        return attrs.evolve(self, user_types=entries)

    def with_group_grant(self, grant: GroupGrant) -> RoleMap:
        """A copy where ``grant`` applies, replacing a grant for the same group."""
        grants = [g for g in self.group_grants if g.key != grant.key]
        return attrs.evolve(self, group_grants=[*grants, grant])

    def with_default_role(self, role: Role) -> RoleMap:
        """A copy whose absent (or, under ``DEFAULT``, unknown) ``userType``
        gives ``role``."""
        return attrs.evolve(self, default_role=role)

    def with_unknown_policy(self, policy: UnknownRolePolicy) -> RoleMap:
        """A copy that treats unknown ``userType`` values by ``policy``."""
        return attrs.evolve(self, unknown=policy)

    def with_precedence(self, *roles: Role) -> RoleMap:
        """A copy with an explicit ordering, winner first; no roles restores
        the default (highest privilege wins)."""
        return attrs.evolve(self, precedence=roles or None)


def _distinct(roles: Iterable[Role]) -> list[Role]:
    return list(dict.fromkeys(roles))


def _check_names(roles: Iterable[Role]) -> None:
    """Two different roles must not share a (case-folded) name: the host app
    reads roles back by name."""
    named: dict[str, Role] = {}
    for role in roles:
        if not isinstance(role, Role):
            raise TypeError(f"expected a Role, got {role!r}")
        other = named.setdefault(fold(role.name), role)
        if other != role:
            raise ValueError(
                f"two different roles are called {role.name!r}: {other!r} and {role!r}"
            )
