"""``tomorro-scim check``: a doctor for any SCIM endpoint.

It replays what Microsoft Entra ID and Okta send — Entra's *Test connection*
probe, Okta's connector test and paging, then one round on a throw-away user
and group (create, find by filter, update and deactivate in Entra's and
Okta's dialects, add and remove members, delete, read back) — and reports,
step by step, what would break either client and why. It only ever talks to
the URL it is given and deletes what it created, also when a step fails::

    from tomorro_scim.doctor import run_check

    report = run_check("https://app.example.com/scim/v2", token, out=sys.stdout)
    raise SystemExit(report.exit_code)  # 0 fine, 1 would break, 2 could not check

Standard library HTTP only: no dependency beyond the core's.
"""

from .client import RedirectRefused
from .report import SOURCES
from .report import CheckReport
from .report import Exchange
from .report import Finding
from .report import Outcome
from .report import Severity
from .report import StepResult
from .run import DEFAULT_TIMEOUT
from .run import add_arguments
from .run import command
from .run import run_check
from .steps import STEPS
from .steps import Step

__all__ = [
    "DEFAULT_TIMEOUT",
    "SOURCES",
    "STEPS",
    "CheckReport",
    "Exchange",
    "Finding",
    "Outcome",
    "RedirectRefused",
    "Severity",
    "Step",
    "StepResult",
    "add_arguments",
    "command",
    "run_check",
]
