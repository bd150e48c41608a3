"""The ``tomorro-scim`` command: a demo server an IdP can provision into.

``tomorro-scim serve`` starts the service on uvicorn with the Starlette
adapter under ``/scim/v2`` and prints the Tenant URL and Secret Token an
admin pastes into Entra ID or Okta.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version

from .auth import TokenManager
from .service import ScimService
from .storage import Storage
from .storage.memory import MemoryStorage

__all__ = ["main"]

SCIM_PATH = "/scim/v2"


def _version() -> str:
    try:
        return version("tomorro-scim")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "unknown"


def _open_storage(database: str) -> Storage:
    if database == "memory":
        return MemoryStorage()
    raise SystemExit(
        f"tomorro-scim: unsupported --database {database!r}; this version serves 'memory'"
    )


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
        try:
            issued = manager.issue(tenant, "serve", token=token)
        except ValueError as error:
            raise SystemExit(f"tomorro-scim: {error}") from None
        print(f"  tenant {tenant!r}")
        print(f"    Tenant URL:   {url}")
        print(f"    Secret Token: {issued.token}")
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
    run.add_argument("--database", default="memory", help="'memory'")
    run.add_argument("--log-level", default="info")
    run.set_defaults(handler=serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    args = _parser().parse_args(argv)
    result: int = args.handler(args)
    return result


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
