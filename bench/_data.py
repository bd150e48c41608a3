"""Deterministic, Entra-like SCIM users for the benchmarks.

``make_users(n, seed=...)`` returns ``n`` User + EnterpriseUser resources in
their JSON wire form (plain dicts, camelCase keys, dateTimes as ISO 8601
strings with ``Z``), shaped like what Entra ID provisions:

* a UPN-style ``userName`` (``Given.Family[N]@domain``, ASCII, mixed case) and
  a GUID ``externalId`` (Entra's objectId);
* ``name.givenName`` / ``name.familyName`` drawn from lists that include
  non-ASCII names (``Zoé``, ``Ólafur``, ``Søren``, ...), one of them in NFD
  (``Zoe`` + U+0301), and ``displayName`` = "Given Family";
* ``active`` true for about 80 % of users;
* a work email (the UPN) for every user, a home email for about 40 %;
* ``userType`` admin / manager / user at 20 / 20 / 60 %; ``title`` for about 60 %;
* the enterprise extension for about 90 %: ``employeeNumber``, ``department``
  and, for about 70 %, ``manager: {"value": <id of an earlier user>}``;
* ``meta`` with ``resourceType``, ``created``, ``lastModified`` (between
  2020-01-01 and 2024-12-31) and a weak ``version``.

The same ``(n, seed)`` always gives the same users, on any Python >= 3.11
(only ``random.Random.random``/``randrange``/``choice``/``getrandbits`` are
used, whose sequences are stable). Standard library only.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

__all__ = [
    "CORE_USER",
    "ENTERPRISE_USER",
    "make_users",
]

CORE_USER = "urn:ietf:params:scim:schemas:core:2.0:User"
ENTERPRISE_USER = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"

GIVEN_NAMES = (
    "Aaron", "Alice", "Amelia", "Ana", "Ágnes", "Åsa", "Bob", "Brigitte",
    "Carlos", "Chloé", "Dmitri", "Élodie", "Emma", "Fatima", "François",
    "Grace", "Hannah", "Ingrid", "Ivan", "Jürgen", "Kenji", "Laura", "Łukasz",
    "Maria", "Mark", "Mateo", "Mohammed", "Noah", "Nuno", "Ólafur", "Olivia",
    "Priya", "Quentin", "Rania", "Sofia", "Søren", "Thomas", "Uma", "Victor",
    "Wei", "Yusuf", "Zoé", "Zoe\u0301",
)  # fmt: skip
"""Given names; ``"Zoe\\u0301"`` is ``Zoé`` in NFD, as a macOS keyboard may send it."""

FAMILY_NAMES = (
    "Bartók", "Brown", "Dubois", "Dvořák", "García", "Garcia", "Haraldsdóttir",
    "Hart", "Johansson", "Kim", "Kowalski", "Lee", "Lefèvre", "Martin",
    "Martínez", "Müller", "Nguyen", "Novák", "O'Brien", "Öztürk", "Patel",
    "Rossi", "Schmidt", "Silva", "Smith", "Søndergaard", "Stewart", "Stuart",
    "Tanaka", "Walker",
)  # fmt: skip

TENANT_DOMAINS = ("contoso.com", "fabrikam.io", "example.org", "x.com")
HOME_DOMAINS = ("gmail.example", "outlook.example", "x.com")
DEPARTMENTS = (
    "Legal", "Sales", "Engineering", "Finance", "HR", "Marketing", "Support",
    "Operations",
)  # fmt: skip
TITLES = (
    "Engineer", "Senior Engineer", "Manager", "Director", "Analyst",
    "Consultant", "Paralegal",
)  # fmt: skip

_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)
_CREATED_SPAN = 4 * 365 * 86_400  # created in 2020-2023
_MODIFIED_SPAN = 365 * 86_400  # modified within a year of creation

# Letters NFKD does not decompose to ASCII.
_ASCII = str.maketrans(
    {"ø": "o", "Ø": "O", "ł": "l", "Ł": "L", "æ": "ae", "Æ": "AE", "ß": "ss"}
)


def _ascii(name: str) -> str:
    """The ASCII letters of a name, for the UPN local part (``Søren`` -> ``Soren``)."""
    decomposed = unicodedata.normalize("NFKD", name.translate(_ASCII))
    return "".join(c for c in decomposed if c.isascii() and c.isalnum())


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _guid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_users(n: int, seed: int = 20240601) -> list[dict[str, Any]]:
    """``n`` deterministic Entra-like User + EnterpriseUser resources (JSON dicts)."""
    rng = random.Random(seed)
    users: list[dict[str, Any]] = []
    taken: dict[str, int] = {}
    for i in range(n):
        user_id = _guid(rng)
        given = rng.choice(GIVEN_NAMES)
        family = rng.choice(FAMILY_NAMES)
        local = f"{_ascii(given)}.{_ascii(family)}"
        seen = taken.get(local.lower(), 0)
        taken[local.lower()] = seen + 1
        if seen:
            local = f"{local}{seen + 1}"
        upn = f"{local}@{rng.choice(TENANT_DOMAINS)}"

        roll = rng.random()
        user_type = "admin" if roll < 0.2 else "manager" if roll < 0.4 else "user"
        emails: list[dict[str, Any]] = [{"value": upn, "type": "work", "primary": True}]
        if rng.random() < 0.4:
            home = f"{local.lower()}{rng.randrange(1, 1000)}@{rng.choice(HOME_DOMAINS)}"
            emails.append({"value": home, "type": "home"})

        created = _EPOCH + timedelta(seconds=rng.randrange(_CREATED_SPAN))
        modified = created + timedelta(seconds=rng.randrange(_MODIFIED_SPAN))
        user: dict[str, Any] = {
            "schemas": [CORE_USER],
            "id": user_id,
            "externalId": _guid(rng),
            "userName": upn,
            "name": {"givenName": given, "familyName": family},
            "displayName": f"{given} {family}",
            "active": rng.random() < 0.8,
            "emails": emails,
            "userType": user_type,
        }
        if rng.random() < 0.6:
            user["title"] = rng.choice(TITLES)
        if rng.random() < 0.9:
            enterprise: dict[str, Any] = {"employeeNumber": str(100_000 + i)}
            if rng.random() < 0.9:
                enterprise["department"] = rng.choice(DEPARTMENTS)
            if users and rng.random() < 0.7:
                enterprise["manager"] = {"value": rng.choice(users)["id"]}
            user["schemas"] = [CORE_USER, ENTERPRISE_USER]
            user[ENTERPRISE_USER] = enterprise
        user["meta"] = {
            "resourceType": "User",
            "created": _iso(created),
            "lastModified": _iso(modified),
            "version": f'W/"{rng.getrandbits(64):016x}"',
        }
        users.append(user)
    return users
