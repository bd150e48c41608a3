"""Run the steps, clean up, print progress and the report; the ``check`` command."""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import textwrap
from typing import TextIO
from urllib.parse import unquote

from .client import Endpoint
from .client import RedirectRefused
from .probe import NoConnection
from .probe import Probe
from .probe import State
from .report import SOURCES
from .report import CheckReport
from .report import Exchange
from .report import Outcome
from .report import StepResult
from .steps import STEPS
from .steps import Step

__all__ = [
    "DEFAULT_DOMAIN",
    "DEFAULT_TIMEOUT",
    "TOKEN_VARIABLE",
    "add_arguments",
    "command",
    "run_check",
]

DEFAULT_TIMEOUT = 10.0
"""Seconds each request may take."""
DEFAULT_DOMAIN = "example.com"
"""The throw-away users' mail domain: reserved by RFC 2606, so no mail lands."""
TOKEN_VARIABLE = "TOMORRO_SCIM_TOKEN"
"""Where ``check`` reads the token when ``--token`` is not given."""
_WIDTH = 88
_LABELS = {
    Outcome.PASS: "ok",
    Outcome.WARN: "warn",
    Outcome.FAIL: "FAIL",
    Outcome.SKIP: "skip",
}


class _Printer:
    """Progress lines, written and flushed as each step ends."""

    def __init__(self, out: TextIO | None, endpoint: Endpoint) -> None:
        self.out = out
        self.endpoint = endpoint

    def line(self, text: str = "") -> None:
        if self.out is not None:
            self.out.write(text + "\n")
            self.out.flush()

    def start(self, number: int, total: int, step: StepResult) -> None:
        if self.out is None:
            return
        head = f"[{number:2}/{total}] {step.title} ({step.clients}) "
        self.out.write(head + "." * max(3, 66 - len(head)) + " ")
        self.out.flush()

    def _shown(self, url: str) -> str:
        return unquote(url.removeprefix(self.endpoint.base)) or "/"

    def _exchange(self, exchange: Exchange, indent: str) -> None:
        sent = f"sent: {exchange.method} {self._shown(exchange.url)}"
        if exchange.request is not None:
            sent += " " + json.dumps(
                exchange.request, ensure_ascii=False, separators=(",", ":")
            )
        self._wrapped(sent, indent, indent + "      ")
        if exchange.status is None:
            self._wrapped(
                f"got:  no answer ({exchange.error})", indent, indent + "      "
            )
            return
        got = f"got:  {exchange.status} {exchange.content_type or '(no Content-Type)'}"
        if exchange.redacted:
            got += " (body not shown: it may list other records)"
        elif exchange.response:
            got += " " + exchange.response
        self._wrapped(got, indent, indent + "      ")

    def _wrapped(self, text: str, first: str, rest: str) -> None:
        for line in textwrap.wrap(
            text,
            _WIDTH,
            initial_indent=first,
            subsequent_indent=rest,
            break_long_words=True,
            break_on_hyphens=False,
        ):
            self.line(line)

    def finish(self, step: StepResult) -> None:
        if self.out is None:
            return
        outcome = step.outcome
        timing = sum(exchange.seconds for exchange in step.exchanges)
        extra = f" — {step.skipped}" if step.skipped else ""
        if outcome is not Outcome.SKIP:
            count = len(step.exchanges)
            plural = "" if count == 1 else "s"
            extra = f" ({count} request{plural}, {timing * 1000:.0f} ms)"
        self.line(f"{_LABELS[outcome]}{extra}")
        for finding in step.findings:
            self._wrapped(
                f"{finding.severity.value.upper()}: {finding.message}",
                "        ",
                "              ",
            )
            if finding.exchange is not None:
                self._exchange(finding.exchange, "              ")
            self._wrapped(f"see:  {finding.source}", "              ", "              ")
        if step.note:
            self._wrapped(f"note: {step.note}", "        ", "              ")

    def summary(self, report: CheckReport) -> None:
        if self.out is None:
            return
        self.line()
        counts = ", ".join(
            f"{report.count(outcome)} {_LABELS[outcome]}" for outcome in Outcome
        )
        self.line(f"Summary: {counts}.")
        if report.left_behind:
            self.line(
                "Could not delete these throw-away resources; remove them by hand: "
                + ", ".join(report.left_behind)
            )
        if report.aborted is not None:
            self.line(f"The check stopped early: {report.aborted}.")
        elif report.exit_code:
            failed = [s.key for s in report.steps if s.outcome is Outcome.FAIL]
            self.line(
                "Entra ID or Okta would break on this server: see the FAIL lines "
                f"above ({', '.join(failed)})."
            )
        else:
            self.line("Nothing found that would break Entra ID or Okta.")
        cited = {
            key
            for step in report.steps
            for finding in step.findings
            for key in SOURCES
            if key in finding.source
        }
        for key in sorted(cited):
            self.line(f"  {key}: {SOURCES[key]}")


def _cleanup(
    endpoint: Endpoint, state: State, report: CheckReport
) -> StepResult | None:
    """Delete every throw-away resource not yet seen deleted, groups first.

    A resource counts as gone only when a GET after the DELETE answers 404;
    whatever is not is listed in ``report.left_behind``.
    """
    left = sorted(
        (path for path, gone in state.created.items() if not gone),
        key=lambda path: (not path.startswith("/Groups/"), path),
    )
    if not left:
        return None
    result = StepResult("cleanup", "Delete what the check created", "tomorro-scim")
    probe = Probe(endpoint, state, result)
    for path in left:
        try:
            probe.send("DELETE", path, media=None)
            answer = probe.send("GET", path, media=None)
        except (NoConnection, RedirectRefused):
            answer = None
        if answer is None or answer.status != 404:
            report.left_behind.append(path)
    result.findings.clear()  # the steps already judged these answers
    if report.left_behind:
        probe.warn(
            "These throw-away resources are still there; delete them by hand: "
            + ", ".join(report.left_behind),
            "tomorro-scim",
        )
    return result


def _run(step: Step, probe: Probe) -> str | None:
    """Run one step; why the whole check must stop, if it must."""
    try:
        step.run(probe)
    except NoConnection as error:
        reason = f"could not connect to {probe.endpoint.base}: {error}"
    except RedirectRefused as error:
        reason = str(error)
    except KeyboardInterrupt:
        reason = "interrupted"
    else:
        return None
    probe.result.skipped = f"stopped: {reason}"
    return reason


def run_check(
    url: str,
    token: str,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    out: TextIO | None = None,
    domain: str = DEFAULT_DOMAIN,
) -> CheckReport:
    """Check a SCIM endpoint the way Entra ID and Okta would use it.

    Runs every step of :data:`~tomorro_scim.doctor.steps.STEPS` against
    ``url`` (the Tenant URL) with ``token`` as the bearer token, deletes the
    throw-away resources it made even when a step fails, and returns the
    report. Progress lines go to ``out`` as each step ends (nothing when
    ``None``). Only ``url``'s scheme, host and port are ever contacted.

    :param timeout: seconds each request may take.
    :param domain: the mail domain of the throw-away users' ``userName``;
        ``example.com`` (RFC 2606) unless the server only takes its own.
    :raises ValueError: when ``url`` is not an absolute http(s) URL.
    """
    endpoint = Endpoint(url, token, timeout=timeout)
    state = State(secrets.token_hex(4), domain)
    report = CheckReport(endpoint.base)
    printer = _Printer(out, endpoint)
    printer.line(
        f"Checking {endpoint.base} as Entra ID and Okta would, with the "
        f"throw-away user {state.user_name}"
    )
    if endpoint.dropped_query:
        printer.line(
            f"(the query ?{endpoint.dropped_query} is not sent: both PATCH "
            "dialects are checked anyway)"
        )
    try:
        for number, step in enumerate(STEPS, 1):
            result = StepResult(step.key, step.title, step.clients)
            report.steps.append(result)
            printer.start(number, len(STEPS), result)
            missing = [name for name in step.needs if not getattr(state, name)]
            if state.stop is not None:
                result.skipped = state.stop
            elif missing:
                result.skipped = "needs what an earlier step could not create"
            else:
                report.aborted = _run(step, Probe(endpoint, state, result))
            printer.finish(result)
            if report.aborted is not None:
                break
    finally:
        # Also on Ctrl-C: whatever was created is deleted before leaving.
        cleanup = _cleanup(endpoint, state, report)
        if cleanup is not None:
            report.steps.append(cleanup)
            printer.start(len(report.steps), len(report.steps), cleanup)
            printer.finish(cleanup)
    printer.summary(report)
    return report


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``check`` subcommand's arguments."""
    parser.add_argument(
        "url", help="the Tenant URL, e.g. https://app.example.com/scim/v2"
    )
    parser.add_argument(
        "--token",
        default=os.environ.get(TOKEN_VARIABLE),
        help=f"the Secret Token (default: ${TOKEN_VARIABLE})",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds each request may take (default {DEFAULT_TIMEOUT:g})",
    )
    parser.add_argument(
        "--domain",
        default=DEFAULT_DOMAIN,
        help="mail domain of the throw-away users (default example.com)",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print the report as JSON on stdout (progress goes to stderr)",
    )


def command(args: argparse.Namespace) -> int:
    """``tomorro-scim check URL --token T``: 0 fine, 1 would break, 2 could not check."""
    if not args.token:
        print(
            f"tomorro-scim check: give the token with --token or ${TOKEN_VARIABLE}",
            file=sys.stderr,
        )
        return 2
    if args.timeout <= 0:
        print("tomorro-scim check: --timeout must be positive", file=sys.stderr)
        return 2
    progress = sys.stderr if args.json else sys.stdout
    try:
        report = run_check(
            args.url,
            args.token,
            timeout=args.timeout,
            out=progress,
            domain=args.domain,
        )
    except ValueError as error:
        print(f"tomorro-scim check: {error}", file=sys.stderr)
        return 2
    if args.json:
        sys.stdout.write(report.dumps() + "\n")
        sys.stdout.flush()
    return report.exit_code
