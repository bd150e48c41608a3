"""The SQL backend at scale: lookups, pages and membership changes vs table size.

Run: ``python bench/storage.py [--quick] [--users 10000,100000,1000000]
[--backends sqlite,postgresql] [--postgres-url URL] [--repeat 100]``.

For each backend and each size N the run

1. creates a fresh database (a SQLite file in a temporary directory; a
   PostgreSQL schema of its own, dropped at the end);
2. **loads** N deterministic Entra-like users (``bench/_data.py``, generated
   in chunks so the loader's memory stays flat) straight into the tables,
   with the column values the storage itself computes
   (``tomorro_scim.storage.sql.schema``), in transactions of 5,000 users: a
   bulk import, timed and reported as users/s. The API's own write path is
   timed separately (``POST /Users`` below);
3. makes a **big group** of min(100,000, N - 1,000) members and a **small
   group** of 10, through ``SqlSession.add_members`` (10,000 ids a call);
4. starts a **fresh process** that opens the database with ``SqlStorage``,
   serves requests through ``ScimService.handle`` (the whole sans-I/O stack:
   bearer-token check, routing, query parsing, storage, rendering; no HTTP
   server) and times each scenario ``--repeat`` times (fewer for the full
   scans), then reports the process's peak RSS (``VmHWM``). A fresh process
   is what a restarted server is: nothing is cached in Python.

Scenarios (median and p95 per request, ms):

* ``GET /Users/{id}`` and ``GET /Users?filter=userName eq "…"`` (a different
  existing user each time), ``filter=externalId eq "…"``;
* a complex filter with ``count=50``: ``userType eq "admin" or (active eq
  false and not (name.givenName sw "a"))``, whose exact ``totalResults``
  needs every match counted (a scan), and ``active eq true and userType eq
  "admin"``;
* the first page and the 20,000th page (``startIndex`` 999,951) of 50 users
  in the default order (the last page when N is smaller);
* the same two pages by RFC 9865 cursor: ``cursor=`` (empty) and the
  ``nextCursor`` of the page before the 20,000th (minted here with the
  service's key, since walking 19,999 pages to get it would time the walk);
* ``PATCH /Groups/{id}`` adding 1 member to the big group and to the small
  one (Entra's ``Add members``), a different user each time;
* ``GET /Groups/{id}?excludedAttributes=members`` of the big group, and the
  full ``GET`` of the big group (all its members, one query);
* ``POST /Users`` (new users through validation, role map and uniqueness).

``--quick`` runs 2,000 and 10,000 users with few repeats: a smoke run under
a minute. Standard library + tomorro-scim only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sqlalchemy import select

from _data import make_users
from tomorro_scim.auth import TokenManager
from tomorro_scim.cursors import cursor_fingerprint
from tomorro_scim.http import ScimRequest
from tomorro_scim.service import ScimService
from tomorro_scim.storage import GROUP
from tomorro_scim.storage import Keyset
from tomorro_scim.storage.asynchronous import run_sync
from tomorro_scim.storage.sql import SqlStorage
from tomorro_scim.storage.sql import schema

GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"

TENANT = "bench"
CHUNK = 5_000
BIG_GROUP = 100_000
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
COMPLEX = 'userType eq "admin" or (active eq false and not (name.givenName sw "a"))'
SELECTIVE = 'active eq true and userType eq "admin"'
PAGE = 50
DEEP_PAGE = 20_000


# -- data ----------------------------------------------------------------------


def _chunk(index: int, size: int) -> list[dict[str, Any]]:
    """Users of one chunk; the chunk number makes names unique across chunks."""
    users = make_users(size, seed=20240601 + index)
    for user in users:
        local, _, domain = user["userName"].partition("@")
        name = f"{local}+{index}@{domain}"
        user["userName"] = name
        user["emails"][0]["value"] = name
        user["meta"].pop("version", None)
    return users


def _ids(path: Path) -> list[str]:
    return path.read_text().split()


def load(storage: SqlStorage, n: int, ids_file: Path) -> float:
    """Bulk-load ``n`` users; returns users/s. Writes their ids to ``ids_file``."""
    sqlite = storage.engine.dialect.name == "sqlite"
    started = time.perf_counter()
    seq = 0
    with ids_file.open("w") as out:
        for index in range((n + CHUNK - 1) // CHUNK):
            size = min(CHUNK, n - index * CHUNK)
            rows = []
            email_rows = []
            for user in _chunk(index, size):
                text, last_modified = schema.encode_document(user)
                row = {
                    "tenant": TENANT,
                    "id": user["id"],
                    "version": 1,
                    "managed": True,
                    "role": {"admin": "Admin", "manager": "Manager"}.get(
                        user["userType"], "Contributor"
                    ),
                    "document": text,
                    "last_modified": last_modified,
                    **schema.user_columns(user),
                }
                if sqlite:
                    seq += 1
                    row["seq"] = seq
                rows.append(row)
                email_rows += schema.email_rows(TENANT, user["id"], user)
                out.write(user["id"] + "\n")
            with storage.engine.begin() as connection:
                connection.execute(schema.users.insert(), rows)
                connection.execute(schema.emails.insert(), email_rows)
    with storage.engine.begin() as connection:
        # What the storage keeps as it writes: the count of SCIM's users
        # and, on SQLite, the counter ``seq`` continues from.
        connection.execute(
            schema.counts.insert(),
            [{"tenant": TENANT, "resource_type": "User", "total": n}],
        )
        if sqlite:
            connection.execute(
                schema.sequences.insert(),
                [{"tenant": TENANT, "name": schema.users.name, "value": seq}],
            )
    return n / (time.perf_counter() - started)


def make_groups(storage: SqlStorage, ids: list[str]) -> dict[str, Any]:
    big_size = max(1, min(BIG_GROUP, len(ids) - 1_000))
    started = time.perf_counter()
    with storage.session(TENANT) as session:
        big = session.create(
            GROUP, {"schemas": [GROUP_SCHEMA], "id": str(uuid.uuid4()),
                    "displayName": "Everyone"},
        ).id  # fmt: skip
        small = session.create(
            GROUP, {"schemas": [GROUP_SCHEMA], "id": str(uuid.uuid4()),
                    "displayName": "Legal"},
        ).id  # fmt: skip
        session.add_members(small, ids[-10:])
    for start in range(0, big_size, 10_000):
        with storage.session(TENANT) as session:
            session.add_members(big, ids[start : min(big_size, start + 10_000)])
    return {
        "big": big,
        "small": small,
        "big_size": big_size,
        "members_per_s": big_size / (time.perf_counter() - started),
    }


# -- measuring (in a fresh process) --------------------------------------------------


def _rss() -> dict[str, int]:
    found = {}
    with open("/proc/self/status") as status:
        for line in status:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                found[key] = int(value.split()[0]) // 1024
    return found


def measure(config: dict[str, Any]) -> dict[str, Any]:
    options = {"schema": config["schema"]} if config.get("schema") else {}
    storage = SqlStorage(config["url"], **options)
    token = TokenManager(storage).issue(TENANT, "bench").token
    service = ScimService(storage)
    opened = _rss()
    n = config["users"]
    big, small = config["big"], config["small"]
    repeat = config["repeat"]
    scan_repeat = config["scan_repeat"]
    with storage.session(TENANT) as session:
        names = {
            user_id: (stored.document["userName"], stored.document.get("externalId"))
            for user_id in config["sample"]
            if (stored := session.get("User", user_id)) is not None
        }

    def call(method: str, path: str, query: str = "", body: Any = None) -> Any:
        # The query is written readable here and encoded as a client would.
        encoded = urlencode([tuple(p.split("=", 1)) for p in query.split("&") if p])
        response = service.handle(
            ScimRequest(
                method=method,
                path=path,
                query=encoded,
                headers={
                    "authorization": f"Bearer {token}",
                    "content-type": "application/scim+json",
                },
                body=json.dumps(body).encode() if body is not None else b"",
                base_url="https://app.example.com/scim/v2",
            )
        )
        if response.status >= 400:
            raise RuntimeError(
                f"{method} {path}?{query}: {response.status} {response.body[:300]!r}"
            )
        return response

    timings: dict[str, list[float]] = {}

    def timed(
        name: str, method: str, path: str, query: str = "", body: Any = None
    ) -> Any:
        started = time.perf_counter()
        response = call(method, path, query, body)
        timings.setdefault(name, []).append((time.perf_counter() - started) * 1000)
        return response

    sample = list(names.items())
    for user_id, _ in sample:
        timed("GET /Users/{id}", "GET", f"/Users/{user_id}")
    for _, (user_name, _external) in sample:
        found = timed(
            "filter userName eq", "GET", "/Users", f'filter=userName eq "{user_name}"'
        )
        assert found.json()["totalResults"] == 1
    for _, (_name, external_id) in sample:
        timed(
            "filter externalId eq",
            "GET",
            "/Users",
            f'filter=externalId eq "{external_id}"',
        )
    totals = {}
    for _ in range(scan_repeat):
        body = timed(
            "complex filter, count=50",
            "GET",
            "/Users",
            f"filter={COMPLEX}&count={PAGE}",
        ).json()
        totals["complex"] = body["totalResults"]
        body = timed(
            "active and userType, count=50",
            "GET",
            "/Users",
            f"filter={SELECTIVE}&count={PAGE}",
        ).json()
        totals["selective"] = body["totalResults"]
    for _ in range(repeat):
        timed("first page (50)", "GET", "/Users", f"startIndex=1&count={PAGE}")
    deep = min((DEEP_PAGE - 1) * PAGE + 1, max(1, n - PAGE + 1))
    for _ in range(scan_repeat):
        page = timed(
            "page 20,000 (50)", "GET", "/Users", f"startIndex={deep}&count={PAGE}"
        )
        assert len(page.json()["Resources"]) == PAGE
    by_index = [r["id"] for r in page.json()["Resources"]]
    for _ in range(repeat):
        timed("first page by cursor (50)", "GET", "/Users", f"cursor=&count={PAGE}")
    cursor = ""
    if deep > 1:
        users = schema.users
        with storage.engine.connect() as connection:
            before = connection.execute(
                select(users.c.seq)
                .where(users.c.tenant == TENANT, schema.managed(users))
                .order_by(users.c.seq)
                .offset(deep - 2)
                .limit(1)
            ).scalar_one()
        fingerprint = cursor_fingerprint(TENANT, "User", "", None, False)
        codec = run_sync(service._handlers.cursor_codec())
        cursor = codec.encode(fingerprint, Keyset(None, before))
    for _ in range(repeat):
        page = timed(
            "page 20,000 by cursor (50)",
            "GET",
            "/Users",
            f"cursor={cursor}&count={PAGE}",
        )
        assert [r["id"] for r in page.json()["Resources"]] == by_index
    outsiders = iter(config["outsiders"])
    for _ in range(repeat):
        member = next(outsiders)
        add = {"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "members", "value": [{"value": member}]}]}  # fmt: skip
        timed("PATCH add 1 member, big group", "PATCH", f"/Groups/{big}", body=add)
        member = next(outsiders)
        add = {"schemas": [PATCH_OP], "Operations": [
            {"op": "Add", "path": "members", "value": [{"value": member}]}]}  # fmt: skip
        timed(
            "PATCH add 1 member, 10-member group", "PATCH", f"/Groups/{small}", body=add
        )
        timed(
            "GET big group, excludedAttributes=members",
            "GET",
            f"/Groups/{big}",
            "excludedAttributes=members",
        )
    for i in range(repeat):
        user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
                "userName": f"new.user{i}.{uuid.uuid4().hex[:6]}@contoso.com",
                "active": True, "userType": "user",
                "name": {"givenName": "New", "familyName": "User"},
                "emails": [{"value": f"new{i}@contoso.com", "type": "work", "primary": True}]}  # fmt: skip
        timed("POST /Users", "POST", "/Users", body=user)
    serving = _rss()
    for _ in range(scan_repeat):
        full = timed("GET big group with its members", "GET", f"/Groups/{big}")
    members = len(full.json()["members"])
    rss = {
        "opened": opened["VmRSS"],
        "serving": serving["VmHWM"],
        "peak": _rss()["VmHWM"],
    }
    storage.close()
    return {
        "timings": {
            name: {
                "median": statistics.median(values),
                "p95": sorted(values)[math.ceil(len(values) * 0.95) - 1],
                "n": len(values),
            }
            for name, values in timings.items()
        },
        "totals": totals,
        "big_group_members": members,
        "rss_mb": rss,
    }


# -- orchestration --------------------------------------------------------------------


def run_one(
    backend: str, n: int, args: argparse.Namespace, work: Path
) -> dict[str, Any]:
    db_schema = None
    if backend == "sqlite":
        url = f"sqlite:///{work / f'bench-{n}.db'}"
    else:
        url = args.postgres_url
        db_schema = f"scim_bench_{os.getpid()}_{n}"
    options = {"schema": db_schema} if db_schema else {}
    storage = SqlStorage(url, **options)
    try:
        ids_file = work / f"ids-{backend}-{n}.txt"
        rate = load(storage, n, ids_file)
        groups = make_groups(storage, _ids(ids_file))
        if backend == "postgresql":
            # What autovacuum does shortly after a bulk load: plan statistics
            # and the visibility map that index-only scans (counts, deep
            # pages) rely on.
            with storage.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                for name in (
                    "scim_users",
                    "scim_emails",
                    "scim_groups",
                    "scim_group_members",
                ):
                    connection.exec_driver_sql(f'VACUUM ANALYZE "{db_schema}".{name}')
        size_mb = None
        if backend == "sqlite":
            size_mb = (
                sum(p.stat().st_size for p in work.glob(f"bench-{n}.db*")) / 1_000_000
            )
        else:
            with storage.engine.connect() as connection:
                size_mb = (
                    float(
                        connection.exec_driver_sql(
                            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                            "JOIN pg_namespace s ON s.oid = c.relnamespace "
                            f"WHERE s.nspname = '{db_schema}' AND c.relkind = 'r'"
                        ).scalar()
                    )
                    / 1_000_000
                )
        # The measuring process gets the ids it uses, not the million: its
        # memory is the server's.
        ids = _ids(ids_file)
        big_size = groups["big_size"]
        config = {
            "url": url,
            "schema": db_schema,
            "users": n,
            "sample": random.Random(7).sample(ids, min(args.repeat, n)),
            "outsiders": ids[big_size : big_size + 2 * args.repeat],
            "big": groups["big"],
            "small": groups["small"],
            "repeat": args.repeat,
            "scan_repeat": args.scan_repeat,
        }
        del ids
        measured = subprocess.run(
            [sys.executable, __file__, "--measure", json.dumps(config)],
            check=False,
            capture_output=True,
            text=True,
        )
        if measured.returncode != 0:
            raise RuntimeError(f"the measuring process failed:\n{measured.stderr}")
        result = json.loads(measured.stdout)
        result.update(
            backend=backend,
            users=n,
            load_per_s=rate,
            members_per_s=groups["members_per_s"],
            big_size=groups["big_size"],
            size_mb=size_mb,
        )
        return result
    finally:
        if db_schema:
            with storage.engine.begin() as connection:
                connection.exec_driver_sql(
                    f'DROP SCHEMA IF EXISTS "{db_schema}" CASCADE'
                )
        storage.close()


def table(results: list[dict[str, Any]]) -> str:
    lines = []
    for backend in dict.fromkeys(r["backend"] for r in results):
        rows = [r for r in results if r["backend"] == backend]
        head = " | ".join(f"{r['users']:,} users" for r in rows)
        lines.append(f"\n**{backend}** (median / p95 ms per request)\n")
        lines.append(f"| scenario | {head} |")
        lines.append("|---|" + "---|" * len(rows))
        for name in rows[0]["timings"]:
            cells = " | ".join(
                f"{r['timings'][name]['median']:.2f} / {r['timings'][name]['p95']:.2f}"
                for r in rows
            )
            lines.append(f"| {name} | {cells} |")
        lines.append(
            "| bulk load, users/s | "
            + " | ".join(f"{r['load_per_s']:,.0f}" for r in rows)
            + " |"
        )
        lines.append(
            "| big group (members), built at members/s | "
            + " | ".join(
                f"{r['big_size']:,} at {r['members_per_s']:,.0f}" for r in rows
            )
            + " |"
        )
        lines.append(
            "| totalResults: complex / active+admin | "
            + " | ".join(
                f"{r['totals']['complex']:,} / {r['totals']['selective']:,}"
                for r in rows
            )
            + " |"
        )
        lines.append(
            "| server RSS: opened / peak serving the rest / peak with the big GET, MB | "
            + " | ".join(
                f"{r['rss_mb']['opened']} / {r['rss_mb']['serving']} / "
                f"{r['rss_mb']['peak']}"
                for r in rows
            )
            + " |"
        )
        lines.append(
            "| database size, MB | "
            + " | ".join(f"{r['size_mb']:,.0f}" for r in rows)
            + " |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--users", default="10000,100000")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "TOMORRO_SCIM_TEST_POSTGRES_URL",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
    )
    parser.add_argument("--repeat", type=int, default=100)
    parser.add_argument("--scan-repeat", type=int, default=5)
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--measure", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(json.loads(args.measure))))
        return 0
    if args.quick:
        args.users, args.repeat, args.scan_repeat = "2000,10000", 20, 2
    sizes = [int(s) for s in args.users.split(",")]
    print(
        f"# bench/storage.py — {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.machine()}, {os.cpu_count()} CPUs"
    )
    results = []
    with tempfile.TemporaryDirectory(prefix="tomorro-bench-") as directory:
        for backend in args.backends.split(","):
            for n in sizes:
                started = time.perf_counter()
                result = run_one(backend, n, args, Path(directory))
                results.append(result)
                print(
                    f"{backend} {n:,} users: loaded at {result['load_per_s']:,.0f}/s, "
                    f"run in {time.perf_counter() - started:.0f} s",
                    flush=True,
                )
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
