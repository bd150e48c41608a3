"""HTTP end to end: ``tomorro-scim serve``'s app vs scim2-server's ASGI app, same uvicorn.

Run: ``python bench/http.py [--storage memory|sqlite|both] [--users 10000]
[--requests 2000] [--runs 3] [--threads N] [--quick]``.

One invocation starts one server per storage measured plus two (three with
SQLite), each in its own subprocess on a free 127.0.0.1 port, each under the
same uvicorn settings (one worker, the asyncio loop and h11 that uvicorn
picks here, ``log_level="warning"``, ``access_log=False``):

* **ours-memory**, **ours-sqlite** (``--storage``, both by default): the app
  ``tomorro-scim serve`` builds, ``Starlette(routes=[Mount("/scim/v2",
  scim_app(ScimService(storage)))])``, over ``MemoryStorage()`` or
  ``SqlStorage("sqlite:///<temporary folder>/ours-sqlite.db")`` with its
  defaults (WAL, ``synchronous=NORMAL``), with one tenant and its bearer
  token (``TokenManager.issue``). Every request carries the token. The users
  are preloaded **through the service**: one in-process
  ``ScimService.handle(POST /Users)`` per user (validation, role map,
  uniqueness index, the same path an HTTP POST takes, minus the socket).
  The adapter calls the memory storage on the event loop, and awaits the
  SQLite one on the loop through its face for event loops
  (``SqlStorage.on_event_loop()``), the default; ``--threads N`` runs it on
  the adapter's thread pool instead (``scim_app(service, offload=True,
  threads=N)``), to compare.
* **peer**: scim2-server 0.8.3's ``ASGIApplication`` over
  ``AsyncInMemoryStorage(InMemoryStorage())`` with its default schemas,
  resource types and ServiceProviderConfig (``load_default_provider()``),
  served at ``/v2``, with no authentication (its ``check_auth`` accepts every
  request by default). The users are preloaded as PEER-LESSONS did it, through
  the POST path without HTTP: ``service.read_creation`` then
  ``storage.create`` on the synchronous storage the async one wraps.
* **ceiling**: a Starlette hello-world route (``/{path:path}``, GET, POST and
  PATCH, reads the body, answers a 17-byte JSON). It gets the very same
  requests as ours, so each scenario has its own ceiling.
* **floor-sqlite**, when SQLite is measured: the ceiling's route plus only the
  SQLite statements each request needs, on the same tables as ours-sqlite
  (made by ``SqlStorage``, preloaded through the service as ours), straight
  on the ``sqlite3`` driver, one commit per write, no SCIM work
  (``bench/_sqlite_floor.py``). Ours runs these statements and more, so it
  cannot beat the floor: where the floor is below half the ceiling, that
  target is out of reach on these tables, and the report says so. The floor
  answers well enough to pass ours' checks; it is not run on the compound
  filter.

Every SCIM server holds the same ``make_users(N)`` users (``bench/_data.py``;
``id`` and ``meta`` are stripped, each server makes its own).

**Client.** The same for every server: 4 threads in this process, stdlib
``http.client``, one connection per request (``Connection: close``), a fixed
request count per scenario, loopback only. Each request is timed from the
connect to the last body byte. A scenario also stops taking new requests
after ``--time-limit`` seconds (the count then says how many ran), and every
socket has a 60 s timeout.

**Scenarios.** ``GET /Users/{id}`` (random existing ids); ``GET
/Users?filter=userName eq "…"`` (distinct existing users, url-encoded);
Entra's 4-operation ``PATCH`` (``Replace`` active ``"False"``, ``Replace``
``name.givenName``, ``Add`` ``emails[type eq "work"].value``, ``Replace``
userType) on distinct existing users; ``POST /Users`` (new unique users); and
a compound filter that forces a full scan, ``userName sw "a" and active eq true
and userType eq "admin"`` with ``count=100``. PATCH targets never match that
filter, and POSTed users neither, so its hit count stays fixed all run.

**Checks.** After the timed window every response is checked: 200 with the
right id for GET; 200, ``totalResults`` 1 and the right ``userName`` for the
``eq`` filter; 200 (ours answers with the resource and ``active`` false) or
204 (scim2-server's default) for PATCH; 201 and the right ``userName`` for
POST; 200 and the expected ``totalResults`` for the compound filter; 200 for
the ceiling. Failures are counted; a scenario with any is flagged ``ERR`` and
the exit status is 1.

Each run goes through the scenarios in order; within a scenario the servers
run back to back, in an order rotated every run. One table per storage gives
the median req/s over the runs, the p50/p95 latency pooled over every run,
and the ratios to scim2-server and to the ceiling: each ratio is taken
between the windows of the same run (the servers of a run share the host's
load of the moment), and the table shows the median of the per-run ratios,
each run's listed below it; with SQLite, a table of the floor follows (its
ratio to the ceiling, and ours-sqlite's to it). A last table gives each
server's CPU time (user + system, read from ``/proc/<pid>/stat`` around each
window) per request, median over runs: on a shared, busy host it moves much
less than req/s. Every subprocess is killed by its pid at the end, also on
error, and the temporary folder removed.

Standard library + uvicorn, Starlette and scim2-server (the dev extras).
"""

# ruff: noqa: E402 -- the imports follow a sys.path fix, see below

from __future__ import annotations

import os
import sys

# This file is bench/http.py: run as a script, its folder heads sys.path and
# would shadow the standard library's ``http`` (which uvicorn and http.client
# need). Drop the folder while importing, then append it for ``_data``.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import argparse
import http.client
import itertools
import json
import math
import platform
import random
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

sys.path.append(_HERE)

from _data import make_users

HOST = "127.0.0.1"
THREADS = 4
TOKEN = "bench-http-token-0123456789abcdef"
TENANT = "bench"
SIMPLE_TARGET = 2.0
"""Issue 4: 2x scim2-server on GET by id, filter ``userName eq``, PATCH, POST."""
CEILING_TARGET = 0.5
"""Issue 4: at least half the hello-world ceiling on those simple requests."""
COMPLEX_TARGET = 20.0
"""Issue 4: 20x scim2-server on a complex filter."""
COMPLEX_FILTER = 'userName sw "a" and active eq true and userType eq "admin"'
PAGE = 100
PATCH_OP = "urn:ietf:params:scim:api:messages:2.0:PatchOp"
STORAGES = ("memory", "sqlite")
OURS = tuple(f"ours-{storage}" for storage in STORAGES)
FLOOR = "floor-sqlite"
"""The SQLite floor (``bench/_sqlite_floor.py``), measured with ours-sqlite."""
KINDS = (*OURS, "peer", "ceiling", FLOOR)
PREFIX = {
    **dict.fromkeys(OURS, "/scim/v2"),
    "peer": "/v2",
    "ceiling": "/scim/v2",
    FLOOR: "/scim/v2",
}
SCENARIOS = ("get", "filter_eq", "patch", "post", "complex")
FLOOR_SCENARIOS = SCENARIOS[:-1]
"""Not the compound filter: its target is against the peer alone."""
LABELS = {
    "get": "GET /Users/{id}",
    "filter_eq": 'GET /Users?filter=userName eq "…"',
    "patch": "PATCH /Users/{id} (Entra, 4 ops)",
    "post": "POST /Users",
    "complex": "GET /Users?filter=<compound, full scan>&count=100",
}
Dict = dict[str, Any]


def _wire_body(user: Dict) -> Dict:
    """A user as an IdP POSTs it: no ``id``, no ``meta``."""
    return {k: v for k, v in user.items() if k not in ("id", "meta")}


def _complex_hit(user: Dict) -> bool:
    return (
        user["userName"].lower().startswith("a")
        and user["active"] is True
        and user["userType"] == "admin"
    )


# -- the servers (run in subprocesses) ------------------------------------------


def _ours_app(
    kind: str, users: list[Dict], port: int, workdir: Path, threads: int | None
) -> tuple[Any, list[str]]:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    from tomorro_scim.adapters.starlette import scim_app
    from tomorro_scim.storage import Storage
    from tomorro_scim.storage.memory import MemoryStorage

    storage: Storage
    if kind == "ours-sqlite":
        from tomorro_scim.storage.sql import SqlStorage

        storage = SqlStorage(f"sqlite:///{workdir / kind}.db")
    else:
        storage = MemoryStorage()
    service, ids = _preloaded(storage, users, f"http://{HOST}:{port}{PREFIX[kind]}")
    scim = (
        scim_app(service, offload=True, threads=threads)
        if threads is not None and kind == "ours-sqlite"
        else scim_app(service)
    )
    app = Starlette(routes=[Mount(PREFIX[kind], app=scim)])
    return app, ids


def _preloaded(storage: Any, users: list[Dict], base_url: str) -> tuple[Any, list[str]]:
    """A service over ``storage`` holding ``users``, each POSTed through
    ``ScimService.handle`` (with the benchmark's tenant and token), and their ids."""
    from tomorro_scim.auth import TokenManager
    from tomorro_scim.http import ScimRequest
    from tomorro_scim.service import ScimService

    TokenManager(storage).issue(TENANT, "bench", token=TOKEN)
    service = ScimService(storage)
    headers = {
        "authorization": f"Bearer {TOKEN}",
        "content-type": "application/scim+json",
    }
    ids = []
    for user in users:
        answer = service.handle(
            ScimRequest(
                "POST",
                "/Users",
                headers=headers,
                body=json.dumps(_wire_body(user)).encode(),
                base_url=base_url,
            )
        )
        if answer.status != 201:
            raise SystemExit(f"preload failed {answer.status} {answer.body!r}")
        ids.append(answer.json()["id"])
    return service, ids


def _floor_app(users: list[Dict], port: int, workdir: Path) -> tuple[Any, list[str]]:
    """The SQLite floor, over tables ``SqlStorage`` made and filled as ours'."""
    from _sqlite_floor import floor_app
    from tomorro_scim.storage.sql import SqlStorage

    database = workdir / f"{FLOOR}.db"
    storage = SqlStorage(f"sqlite:///{database}")
    try:
        _, ids = _preloaded(storage, users, f"http://{HOST}:{port}{PREFIX[FLOOR]}")
    finally:
        storage.close()
    return floor_app(str(database), TENANT, PREFIX[FLOOR]), ids


def _peer_app(users: list[Dict]) -> tuple[Any, list[str]]:
    import secrets

    from scim2_server.applications.asgi import ASGIApplication
    from scim2_server.memory import AsyncInMemoryStorage
    from scim2_server.memory import InMemoryStorage
    from scim2_server.service import ScimService
    from scim2_server.utils import load_default_provider

    provider = load_default_provider()
    service = ScimService(provider, secret=secrets.token_urlsafe(32))
    storage = InMemoryStorage()
    user_type = service.get_resource_type("User")
    ids = []
    for user in users:
        resource = service.read_creation(
            user_type, json.dumps(_wire_body(user)).encode(), "application/scim+json"
        )
        ids.append(str(storage.create(user_type, resource).id))
    app = ASGIApplication(AsyncInMemoryStorage(storage), provider, service=service)
    return app, ids


def _ceiling_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    async def hello(request: Request) -> Response:
        await request.body()
        return Response(b'{"hello":"world"}', media_type="application/json")

    return Starlette(
        routes=[Route("/{path:path}", hello, methods=["GET", "POST", "PATCH"])]
    )


def serve(
    kind: str, port: int, n_users: int, ids_file: Path, threads: int | None
) -> None:
    """The subprocess: build one server, preload it, write its ids, run uvicorn."""
    import uvicorn

    users = make_users(n_users)
    started = time.perf_counter()
    if kind in OURS:
        app, ids = _ours_app(kind, users, port, ids_file.parent, threads)
    elif kind == "peer":
        app, ids = _peer_app(users)
    elif kind == FLOOR:
        app, ids = _floor_app(users, port, ids_file.parent)
    else:
        app, ids = _ceiling_app(), []
    loaded = time.perf_counter() - started
    partial = ids_file.with_suffix(".part")
    partial.write_text(json.dumps({"ids": ids, "preload_s": loaded}))
    partial.replace(ids_file)
    uvicorn.run(app, host=HOST, port=port, log_level="warning", access_log=False)


# -- the client -----------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: bytes | None
    check: Callable[[int, bytes], str | None]


@dataclass
class Outcome:
    planned: int
    done: int
    seconds: float
    latencies: list[float]
    errors: list[str]
    cpu: float = math.nan
    """CPU seconds (user + system) the server process spent meanwhile."""

    @property
    def rate(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (Linux ``/proc``; NaN elsewhere)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            fields = stat.read().rsplit(b")", 1)[1].split()
    except OSError:
        return math.nan
    # Fields 14 and 15 of proc(5), counted after the ")" that ends field 2.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _request(port: int, call: Call, headers: dict[str, str]) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        connection.request(call.method, call.path, body=call.body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def drive(port: int, calls: Sequence[Call], time_limit: float) -> Outcome:
    """Send ``calls`` from 4 threads, one connection each; check afterwards."""
    headers = {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/scim+json",
        "Accept": "application/scim+json",
        "Connection": "close",
    }
    counter = itertools.count()
    results: list[tuple[int, float, int, bytes | str]] = []
    lock = threading.Lock()
    started = time.perf_counter()
    deadline = started + time_limit

    def worker() -> None:
        mine: list[tuple[int, float, int, bytes | str]] = []
        while True:
            index = next(counter)
            if index >= len(calls) or time.perf_counter() > deadline:
                break
            begin = time.perf_counter()
            try:
                status, body = _request(port, calls[index], headers)
                mine.append((index, time.perf_counter() - begin, status, body))
            except (OSError, http.client.HTTPException) as error:
                mine.append((index, time.perf_counter() - begin, 0, repr(error)))
        with lock:
            results.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    errors = []
    for index, _, status, body in results:
        problem = (
            f"transport error {body}"
            if isinstance(body, str)
            else calls[index].check(status, body)
        )
        if problem:
            errors.append(problem)
    return Outcome(
        planned=len(calls),
        done=len(results),
        seconds=seconds,
        latencies=[latency for _, latency, _, _ in results],
        errors=errors,
    )


# -- the requests -----------------------------------------------------------------


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _status(expected: int) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        return None if status == expected else f"status {status}: {body[:200]!r}"

    return check


def _get_check(resource_id: str) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"GET status {status}: {body[:200]!r}"
        document = _json(body)
        if not isinstance(document, dict) or document.get("id") != resource_id:
            return f"GET returned another resource than {resource_id}"
        return None

    return check


def _eq_check(user_name: str) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"filter status {status}: {body[:200]!r}"
        document = _json(body) or {}
        found = document.get("Resources") or []
        if document.get("totalResults") != 1 or len(found) != 1:
            return f"filter eq {user_name!r}: {document.get('totalResults')} hits"
        if str(found[0].get("userName", "")).lower() != user_name.lower():
            return f"filter eq {user_name!r} found {found[0].get('userName')!r}"
        return None

    return check


def _patch_check(given: str) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        if status == 204:
            return None
        if status != 200:
            return f"PATCH status {status}: {body[:200]!r}"
        document = _json(body) or {}
        if document.get("active") is not False:
            return "PATCH: active is not false"
        if (document.get("name") or {}).get("givenName") != given:
            return "PATCH: givenName not replaced"
        return None

    return check


def _post_check(user_name: str) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        if status != 201:
            return f"POST status {status}: {body[:200]!r}"
        if (_json(body) or {}).get("userName") != user_name:
            return "POST: the answer names another userName"
        return None

    return check


def _complex_check(expected: int) -> Callable[[int, bytes], str | None]:
    def check(status: int, body: bytes) -> str | None:
        if status != 200:
            return f"complex filter status {status}: {body[:200]!r}"
        document = _json(body) or {}
        shown = len(document.get("Resources") or [])
        if document.get("totalResults") != expected or shown != min(PAGE, expected):
            return (
                f"complex filter: {document.get('totalResults')} hits, {shown} shown;"
                f" expected {expected}"
            )
        return None

    return check


@dataclass
class Plan:
    """The data the client needs: the users, and each server's ids for them."""

    users: list[Dict]
    ids: dict[str, list[str]]
    patchable: list[int]
    complex_hits: int
    ours: tuple[str, ...]
    """The ``ours-*`` servers of this run."""


def make_calls(
    plan: Plan, server: str, scenario: str, count: int, tag: str, seed: int
) -> list[Call]:
    """``count`` requests of one scenario for one server; ``seed`` picks the users,
    the same for every server of a run; ``tag`` makes POSTed names unique."""
    rng = random.Random(seed)
    users = plan.users
    n = len(users)
    # The ceiling gets ours' requests: the same paths, query strings and bodies.
    ids = plan.ids[plan.ours[0] if server == "ceiling" else server]
    prefix = PREFIX[server]
    ceiling = server == "ceiling"
    calls = []
    if scenario == "get":
        for _ in range(count):
            i = rng.randrange(n)
            check = _status(200) if ceiling else _get_check(ids[i])
            calls.append(Call("GET", f"{prefix}/Users/{ids[i]}", None, check))
    elif scenario == "filter_eq":
        for i in _distinct(rng, range(n), count):
            name = users[i]["userName"]
            query = quote(f'userName eq "{name}"', safe="")
            check = _status(200) if ceiling else _eq_check(name)
            calls.append(Call("GET", f"{prefix}/Users?filter={query}", None, check))
    elif scenario == "patch":
        for k, i in enumerate(_distinct(rng, plan.patchable, count)):
            given = f"Patched{tag}x{k}"
            body = {
                "schemas": [PATCH_OP],
                "Operations": [
                    {"op": "Replace", "path": "active", "value": "False"},
                    {"op": "Replace", "path": "name.givenName", "value": given},
                    {
                        "op": "Add",
                        "path": 'emails[type eq "work"].value',
                        "value": f"patched.{tag}.{k}@contoso.com",
                    },
                    {
                        "op": "Replace",
                        "path": "userType",
                        "value": rng.choice(("manager", "user")),
                    },
                ],
            }
            check = _status(200) if ceiling else _patch_check(given)
            calls.append(
                Call(
                    "PATCH",
                    f"{prefix}/Users/{ids[i]}",
                    json.dumps(body).encode(),
                    check,
                )
            )
    elif scenario == "post":
        for k in range(count):
            template = users[rng.randrange(n)]
            name = f"bench.{tag}.{server}.{k}@load.example"
            body = _wire_body(template)
            body["userName"] = name
            body["externalId"] = f"ext-{tag}-{server}-{k}"
            body["emails"] = [{"value": name, "type": "work", "primary": True}]
            check = _status(200) if ceiling else _post_check(name)
            calls.append(
                Call("POST", f"{prefix}/Users", json.dumps(body).encode(), check)
            )
    else:
        query = quote(COMPLEX_FILTER, safe="")
        check = _status(200) if ceiling else _complex_check(plan.complex_hits)
        path = f"{prefix}/Users?filter={query}&count={PAGE}"
        calls = [Call("GET", path, None, check) for _ in range(count)]
    return calls


def _distinct(rng: random.Random, pool: Sequence[int], count: int) -> list[int]:
    """``count`` picks from ``pool``, without repeats while the pool lasts."""
    pool = list(pool)
    picks: list[int] = []
    while len(picks) < count:
        picks += rng.sample(pool, min(len(pool), count - len(picks)))
    return picks


# -- orchestration ---------------------------------------------------------------


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    ids_file: Path
    log: Path
    ids: list[str] = field(default_factory=list)
    preload_s: float = 0.0


def start(kind: str, n_users: int, workdir: Path, threads: int | None) -> Server:
    port = _free_port()
    ids_file = workdir / f"{kind}.json"
    log = workdir / f"{kind}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [
                sys.executable,
                os.path.abspath(__file__),
                "--serve",
                kind,
                "--port",
                str(port),
                "--users",
                str(n_users),
                "--ids-file",
                str(ids_file),
                *(["--threads", str(threads)] if threads is not None else []),
            ],
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    return Server(kind, port, process, ids_file, log)


def wait_ready(server: Server, timeout: float) -> None:
    """Wait for the ids file, then for the port to answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(
                f"{server.kind} exited with {server.process.returncode}:\n"
                + server.log.read_text(errors="replace")[-2000:]
            )
        if server.ids_file.exists():
            try:
                _request(server.port, Call("GET", "/", None, _status(200)), {})
            except OSError:
                pass
            else:
                loaded = json.loads(server.ids_file.read_text())
                server.ids = loaded["ids"]
                server.preload_s = loaded["preload_s"]
                return
        time.sleep(0.2)
    raise RuntimeError(f"{server.kind} was not ready within {timeout:.0f} s")


def stop(servers: Sequence[Server]) -> None:
    for server in servers:
        if server.process.poll() is None:
            server.process.kill()  # by its pid (Popen.kill), never by name
    for server in servers:
        try:
            server.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            print(f"warning: {server.kind} (pid {server.process.pid}) did not exit")


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(0, math.ceil(q * len(ordered)) - 1)
    return ordered[rank]


@dataclass
class Cell:
    rates: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    planned: int = 0
    done: int = 0

    def add(self, outcome: Outcome) -> None:
        self.rates.append(outcome.rate)
        # /proc counts CPU in clock ticks (10 ms); a reading of zero ticks in a
        # short run is below that resolution, not a measurement.
        if outcome.done and outcome.cpu > 0:
            self.cpu_ms.append(outcome.cpu * 1000 / outcome.done)
        self.latencies += outcome.latencies
        self.errors += outcome.errors
        self.planned += outcome.planned
        self.done += outcome.done

    @property
    def rate(self) -> float:
        return statistics.median(self.rates) if self.rates else math.nan

    @property
    def cpu(self) -> float:
        """Median over runs of the server's CPU ms per request."""
        return statistics.median(self.cpu_ms) if self.cpu_ms else math.nan

    def ms(self, q: float) -> float:
        return _percentile(self.latencies, q) * 1000


def _counts(args: argparse.Namespace, scenario: str, server: str) -> int:
    if scenario != "complex":
        return int(args.requests)
    if server == "peer":
        return int(args.peer_complex_requests)
    return max(int(args.peer_complex_requests), int(args.requests) // 4)


def run(args: argparse.Namespace) -> int:
    users = make_users(args.users)
    ours = OURS if args.storage == "both" else (f"ours-{args.storage}",)
    floor = (FLOOR,) if "ours-sqlite" in ours else ()
    kinds = (*ours, "peer", "ceiling", *floor)
    workdir = Path(tempfile.mkdtemp(prefix="bench-http-"))
    servers: list[Server] = []
    started = time.perf_counter()
    try:
        for kind in kinds:
            servers.append(start(kind, args.users, workdir, args.threads))
        print(
            f"started {', '.join(f'{s.kind} (pid {s.process.pid}, port {s.port})' for s in servers)};"
            f" preloading {args.users:,} users ...",
            flush=True,
        )
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(f"  load average before the run: {load}")
        for server in servers:
            wait_ready(server, args.start_timeout)
        by_kind = {s.kind: s for s in servers}
        for kind in (*ours, "peer"):
            print(
                f"  {kind}: {args.users:,} users preloaded in {by_kind[kind].preload_s:.1f} s"
            )
        plan = Plan(
            users=users,
            ids={s.kind: s.ids for s in servers},
            patchable=[
                i
                for i, u in enumerate(users)
                if not u["userName"].lower().startswith("a")
            ],
            complex_hits=sum(1 for u in users if _complex_hit(u)),
            ours=ours,
        )
        cells = {(sc, sv): Cell() for sc in SCENARIOS for sv in kinds}
        # Warm-up, untimed: imports, caches, the peer's lazily built userName index.
        for scenario in SCENARIOS:
            for kind in _measured(kinds, scenario):
                calls = make_calls(plan, kind, scenario, args.warmup, "w", 7)
                warm = drive(by_kind[kind].port, calls, args.time_limit)
                if warm.errors:
                    print(f"  warm-up {kind} {scenario}: {warm.errors[0]}")
        width = max(len(kind) for kind in kinds)
        for r in range(args.runs):
            shift = r % len(kinds)
            order = kinds[shift:] + kinds[:shift]
            for scenario in SCENARIOS:
                seed = 1000 * r + SCENARIOS.index(scenario)
                for kind in _measured(order, scenario):
                    count = _counts(args, scenario, kind)
                    calls = make_calls(plan, kind, scenario, count, f"r{r}", seed)
                    pid = by_kind[kind].process.pid
                    before = cpu_seconds(pid)
                    outcome = drive(by_kind[kind].port, calls, args.time_limit)
                    outcome.cpu = cpu_seconds(pid) - before
                    cells[scenario, kind].add(outcome)
                    print(
                        f"  run {r + 1}/{args.runs} {scenario:9} {kind:{width}}"
                        f" {outcome.done:5}/{outcome.planned} in {outcome.seconds:6.2f} s"
                        f" = {outcome.rate:8.1f} req/s, errors {len(outcome.errors)}",
                        flush=True,
                    )
        elapsed = time.perf_counter() - started
        return report(args, plan, cells, elapsed)
    finally:
        stop(servers)
        shutil.rmtree(workdir, ignore_errors=True)


def _measured(kinds: Sequence[str], scenario: str) -> list[str]:
    """The servers a scenario runs on (the floor only on its own)."""
    return [k for k in kinds if k != FLOOR or scenario in FLOOR_SCENARIOS]


def _paired(a: Cell, b: Cell) -> list[float]:
    """The ratio of ``a``'s rate to ``b``'s in each run (same-run windows)."""
    return [x / y if y else math.nan for x, y in zip(a.rates, b.rates, strict=True)]


def _runs(ratios: Sequence[float]) -> str:
    """Per-run ratios as the report lists them."""
    return " ".join(f"{x:.2f}" for x in ratios)


def _median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def report(
    args: argparse.Namespace,
    plan: Plan,
    cells: dict[tuple[str, str], Cell],
    elapsed: float,
) -> int:
    print()
    print(
        f"{datetime.now(UTC):%Y-%m-%d}, CPython {platform.python_version()},"
        f" {args.users:,} users, {args.runs} run(s), {THREADS} client threads,"
        f" one connection per request; the compound filter has"
        f" {plan.complex_hits} hits; ours-sqlite runs "
        + (
            f"on the adapter's thread pool of at most {args.threads} threads"
            if args.threads
            else "on the event loop (SqlStorage.on_event_loop)"
        )
    )
    failures = sum(len(cell.errors) for cell in cells.values())
    floor = (FLOOR,) if any(server == FLOOR for _, server in cells) else ()
    missed = []
    below_floor = []
    for kind in plan.ours:
        storage = kind.removeprefix("ours-")
        print()
        print(f"### {storage} backend ({kind})")
        print()
        print(
            "| scenario | ours req/s | ours p50 / p95 ms | scim2-server req/s"
            " | scim2-server p50 / p95 ms | ours / scim2-server | ceiling req/s"
            " | ours / ceiling | target | met |"
        )
        print("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for scenario in SCENARIOS:
            ours = cells[scenario, kind]
            peer = cells[scenario, "peer"]
            ceiling = cells[scenario, "ceiling"]
            ratio = _median(_paired(ours, peer))
            of_ceiling = _median(_paired(ours, ceiling))
            if scenario == "complex":
                target = f">= {COMPLEX_TARGET:g}x peer"
                met = ratio >= COMPLEX_TARGET
            else:
                target = f">= {SIMPLE_TARGET:g}x peer, >= {CEILING_TARGET:g} ceiling"
                met = ratio >= SIMPLE_TARGET and of_ceiling >= CEILING_TARGET
            errors = sum(len(c.errors) for c in (ours, peer, ceiling))
            short = [
                k
                for k, c in ((kind, ours), ("peer", peer), ("ceiling", ceiling))
                if c.done < c.planned
            ]
            flag = "yes" if met else "**no**"
            if errors:
                flag += f" ERR ({errors} errors)"
            if short:
                flag += f" (time-limited: {', '.join(short)})"
            if not met:
                missed.append(f"{scenario} ({storage})")
            if kind == "ours-sqlite" and floor and scenario in FLOOR_SCENARIOS:
                floor_share = _median(_paired(cells[scenario, FLOOR], ceiling))
                if floor_share < CEILING_TARGET:
                    flag += f" (floor: {floor_share:.2f} of ceiling)"
                    below_floor.append(scenario)
            print(
                f"| {LABELS[scenario]} | {ours.rate:,.0f} | {ours.ms(0.5):.1f} / {ours.ms(0.95):.1f}"
                f" | {peer.rate:,.1f} | {peer.ms(0.5):.1f} / {peer.ms(0.95):.1f}"
                f" | {ratio:.2f}x | {ceiling.rate:,.0f} | {of_ceiling:.2f} | {target} | {flag} |"
            )
        if args.runs > 1:
            print()
            print("per-run ratios, ours / scim2-server; ours / ceiling (run order):")
            for scenario in SCENARIOS:
                ours, peer, ceiling = (
                    cells[scenario, k] for k in (kind, "peer", "ceiling")
                )
                to_peer, to_ceiling = _paired(ours, peer), _paired(ours, ceiling)
                print(f"  {scenario}: {_runs(to_peer)}; {_runs(to_ceiling)}")
        if kind == "ours-sqlite" and floor:
            _report_floor(cells)
    print()
    print(
        "server CPU per request (user + system time of the server process,"
        " median over runs; less sensitive to a busy host than req/s):"
    )
    print()
    servers = (*plan.ours, "peer", "ceiling", *floor)
    header = " | ".join(f"{k} CPU ms/req" for k in servers)
    ratios = " | ".join(f"peer / {k}" for k in plan.ours)
    print(f"| scenario | {header} | {ratios} |")
    print("|---|" + "---:|" * (len(servers) + len(plan.ours)))
    for scenario in SCENARIOS:
        peer = cells[scenario, "peer"]
        cpu = " | ".join(_cpu(cells[scenario, k]) for k in servers)
        ratio = " | ".join(_cpu_ratio(peer, cells[scenario, k]) for k in plan.ours)
        print(f"| {LABELS[scenario]} | {cpu} | {ratio} |")
    print()
    print("requests per server and scenario, summed over runs (done/planned):")
    for scenario in SCENARIOS:
        parts = ", ".join(
            f"{kind} {cells[scenario, kind].done}/{cells[scenario, kind].planned}"
            for kind in _measured(servers, scenario)
        )
        print(f"  {scenario}: {parts}")
    if failures:
        print(f"\n{failures} failed checks; first ones:")
        for scenario in SCENARIOS:
            for kind in servers:
                for problem in cells[scenario, kind].errors[:3]:
                    print(f"  {scenario} {kind}: {problem}")
    print(f"\ntargets missed: {', '.join(missed) if missed else 'none'}")
    if below_floor:
        print(
            f"out of reach on SQLite (its floor is below {CEILING_TARGET:g} of the"
            f" ceiling): {', '.join(below_floor)}"
        )
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"total time {elapsed:.0f} s; load average at the end {load}")
    return 1 if failures else 0


def _cpu(cell: Cell) -> str:
    return f"{cell.cpu:.3f}" if cell.cpu_ms else "—"


def _cpu_ratio(numerator: Cell, denominator: Cell) -> str:
    if not (numerator.cpu_ms and denominator.cpu_ms):
        return "—"
    return f"{numerator.cpu / denominator.cpu:.2f}x"


def _report_floor(cells: dict[tuple[str, str], Cell]) -> None:
    """The SQLite floor next to ours-sqlite and the ceiling."""
    rows, per_run = [], []
    for scenario in FLOOR_SCENARIOS:
        ours, ceiling, floor = (
            cells[scenario, k] for k in ("ours-sqlite", "ceiling", FLOOR)
        )
        to_ceiling, to_floor = _paired(floor, ceiling), _paired(ours, floor)
        rows.append(
            f"| {LABELS[scenario]} | {floor.rate:,.0f} | {_median(to_ceiling):.2f}"
            f" | {_median(to_floor):.2f} | {_cpu(floor)} | {_cpu(ours)} |"
        )
        per_run.append(f"  {scenario}: {_runs(to_ceiling)}; {_runs(to_floor)}")
    print()
    print(
        f"SQLite floor ({FLOOR}: the ceiling's route plus only the SQLite"
        " statements, on the same tables; see bench/_sqlite_floor.py):"
    )
    print()
    print(
        "| scenario | floor req/s | floor / ceiling | ours-sqlite / floor"
        " | floor CPU ms/req | ours-sqlite CPU ms/req |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print()
    print("per-run ratios, floor / ceiling; ours-sqlite / floor (run order):")
    print("\n".join(per_run))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--storage",
        choices=(*STORAGES, "both"),
        default="both",
        help="the backend(s) of ours, measured in the same run (default both)",
    )
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument(
        "--requests", type=int, default=2000, help="per scenario, server and run"
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--peer-complex-requests",
        type=int,
        default=100,
        help="compound-filter requests to scim2-server per run"
        " (ours and the ceiling get max(this, --requests/4))",
    )
    parser.add_argument("--warmup", type=int, default=50, help="untimed, per scenario")
    parser.add_argument(
        "--time-limit",
        type=float,
        default=120.0,
        help="seconds; a scenario takes no new request after it",
    )
    parser.add_argument("--start-timeout", type=float, default=900.0)
    parser.add_argument(
        "--threads",
        type=int,
        help="ours-sqlite: run it on the adapter's thread pool of at most N"
        " threads (scim_app(offload=True, threads=N)) instead of the event loop",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="CI smoke: 1,000 users, 300 requests, 1 run, 50 compound filters",
    )
    parser.add_argument("--serve", choices=KINDS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--ids-file", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.port, args.users, args.ids_file, args.threads)
        return 0
    if args.quick:
        args.users, args.requests, args.runs = 1000, 300, 1
        args.peer_complex_requests, args.warmup = 50, 20
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
