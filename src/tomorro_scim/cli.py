"""The ``tomorro-scim`` command: a demo server, admin commands, and a doctor.

``tomorro-scim serve`` starts the service on uvicorn with the Starlette
adapter under ``/scim/v2`` and prints the Tenant URL and Secret Token an
admin pastes into Entra ID or Okta. ``token issue|list|revoke`` and
``db upgrade`` manage a database's tokens and schema. ``check URL --token T``
replays what Entra ID and Okta send against any SCIM endpoint and says what
would break them (:mod:`tomorro_scim.doctor`).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version

from . import doctor
from .auth import TokenManager
from .service import ScimService
from .storage import Storage
from .storage.memory import MemoryStorage

__all__ = ["main"]

SCIM_PATH = "/scim/v2"
DEFAULT_DATABASE = "sqlite:///./tomorro-scim.db"
"""The embedded default: a SQLite file in the working directory."""


def _version() -> str:
    try:
        return version("tomorro-scim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _open_storage(database: str) -> Storage:
    """``memory``, or a SQLAlchemy URL of a SQLite or PostgreSQL database."""
    if database == "memory":
        return MemoryStorage()
    try:
        from .storage.sql import SqlStorage
    except ImportError:
        raise SystemExit(
            "tomorro-scim: a --database URL needs the sql extra: "
            'pip install "tomorro-scim[sql]" ("tomorro-scim[postgres]" for PostgreSQL)'
        ) from None
    try:
        return SqlStorage(database)
    except (ValueError, RuntimeError) as error:
        # SchemaVersionError and StorageUnavailable are RuntimeErrors: an
        # unknown schema version, an unreachable server, a missing driver.
        raise SystemExit(f"tomorro-scim: {error}") from None


def token(args: argparse.Namespace) -> int:
    """``tomorro-scim token issue|list|revoke``: a "SCIM settings" screen's actions."""
    if args.database == "memory":
        raise SystemExit(
            "tomorro-scim: tokens of a memory database die with the command"
        )
    manager = TokenManager(_open_storage(args.database))
    if args.token_command == "issue":
        try:
            issued = manager.issue(args.tenant, args.label)
        except ValueError as error:
            raise SystemExit(f"tomorro-scim: {error}") from None
        # The plaintext exists only here: only its hash is stored.
        print(f"Secret Token for tenant {args.tenant!r} (shown once): {issued.token}")
        print(f"token id: {issued.record.token_id}")
        return 0
    if args.token_command == "list":
        records = manager.tokens(args.tenant)
        if not records:
            print(f"tenant {args.tenant!r} has no tokens")
        for record in records:
            state = "revoked" if record.revoked else "live"
            label = f"  {record.label}" if record.label else ""
            print(f"{record.token_id}  {state:7}  issued {record.created}{label}")
        return 0
    owned = {record.token_id for record in manager.tokens(args.tenant)}
    if args.token_id not in owned or not manager.revoke(args.token_id):
        print(
            f"tomorro-scim: tenant {args.tenant!r} has no token {args.token_id!r}",
            file=sys.stderr,
        )
        return 1
    print(f"revoked token {args.token_id}")
    return 0


def db_upgrade(args: argparse.Namespace) -> int:
    """``tomorro-scim db upgrade``: create or upgrade the SCIM tables."""
    try:
        from .storage.sql import upgrade_database
    except ImportError:
        print(
            'tomorro-scim db needs the sql extra: pip install "tomorro-scim[sql]"',
            file=sys.stderr,
        )
        return 2
    try:
        before, after = upgrade_database(args.database)
    except (ValueError, RuntimeError) as error:
        print(f"tomorro-scim: {error}", file=sys.stderr)
        return 1
    if before == after:
        print(f"tomorro-scim: the SCIM tables are up to date (schema version {after})")
    elif before == 0:
        print(f"tomorro-scim: created the SCIM tables (schema version {after})")
    else:
        print(
            f"tomorro-scim: upgraded the SCIM tables from version {before} to {after}"
        )
    return 0


def _tenant_tokens(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    pairs: list[tuple[str, str | None]] = []
    for spec in args.tenant or ():
        name, sep, token = spec.partition(":")
        if not sep or not name or not token:
            raise SystemExit(f"tomorro-scim: --tenant takes NAME:TOKEN, not {spec!r}")
        pairs.append((name, token))
    if not pairs:
        pairs.append(("default", args.token))
    return pairs


def serve(args: argparse.Namespace) -> int:
    try:
        import uvicorn
        from starlette.applications import Starlette
        from starlette.routing import Mount

        from .adapters.starlette import scim_app
    except ImportError:
        print(
            'tomorro-scim serve needs the cli extra: pip install "tomorro-scim[cli]"',
            file=sys.stderr,
        )
        return 2
    storage = _open_storage(args.database)
    manager = TokenManager(storage)
    shown_host = "localhost" if args.host in ("127.0.0.1", "0.0.0.0") else args.host
    url = f"http://{shown_host}:{args.port}{SCIM_PATH}"
    print(f"tomorro-scim {_version()} — SCIM 2.0 service provider ({args.database})")
    for tenant, token in _tenant_tokens(args):
        print(f"  tenant {tenant!r}")
        print(f"    Tenant URL:   {url}")
        try:
            if token is not None:
                manager.ensure(tenant, token, "serve")
                print(f"    Secret Token: {token}")
                continue
            live = [t for t in manager.tokens(tenant) if not t.revoked]
            if live:
                # Only hashes are stored: a token issued on an earlier run
                # cannot be shown again, and issuing another on every restart
                # would leave a trail of live secrets.
                print(
                    f"    Secret Token: unchanged ({len(live)} issued before; only "
                    "hashes are kept, so it cannot be shown again — pass --token "
                    "to set one)"
                )
                continue
            print(f"    Secret Token: {manager.issue(tenant, 'serve').token}")
        except ValueError as error:
            raise SystemExit(f"tomorro-scim: {error}") from None
    sys.stdout.flush()
    app = Starlette(routes=[Mount(SCIM_PATH, app=scim_app(ScimService(storage)))])
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tomorro-scim",
        description="SCIM 2.0 service provider for Entra ID and Okta.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="run the demo server")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.add_argument(
        "--token", help="the Secret Token of the default tenant (generated if omitted)"
    )
    run.add_argument(
        "--tenant",
        action="append",
        metavar="NAME:TOKEN",
        help="a tenant and its token; repeat for several tenants",
    )
    run.add_argument(
        "--database",
        default=DEFAULT_DATABASE,
        help="a SQLAlchemy URL (default sqlite:///./tomorro-scim.db, embedded) such as "
        "postgresql+psycopg://user@host/db",
    )
    run.add_argument("--log-level", default="info")
    run.set_defaults(handler=serve)
    tokens = commands.add_parser(
        "token", help="issue, list and revoke a tenant's tokens"
    )
    token_commands = tokens.add_subparsers(dest="token_command", required=True)
    for name, description in (
        ("issue", "issue a token (its plaintext is printed once)"),
        ("list", "list a tenant's tokens, never their secrets"),
        ("revoke", "revoke one of a tenant's tokens"),
    ):
        command = token_commands.add_parser(name, help=description)
        command.add_argument("--tenant", required=True)
        command.add_argument("--database", default=DEFAULT_DATABASE)
        if name == "issue":
            command.add_argument(
                "--label", default="", help="a note, e.g. 'Entra prod'"
            )
        if name == "revoke":
            command.add_argument("token_id", help="the id shown by 'token list'")
        command.set_defaults(handler=token)
    db = commands.add_parser("db", help="manage the SQL database")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser(
        "upgrade", help="create or upgrade the SCIM tables of a database"
    )
    upgrade.add_argument(
        "--database",
        required=True,
        help="a SQLAlchemy URL: sqlite:///./tomorro-scim.db, "
        "postgresql+psycopg://user@host/db",
    )
    upgrade.set_defaults(handler=db_upgrade)
    check = commands.add_parser(
        "check", help="check that a SCIM endpoint would work with Entra ID and Okta"
    )
    doctor.add_arguments(check)
    check.set_defaults(handler=doctor.command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
