"""``doctor``: is everything ready for a first import? The Intercom checks (``doctor/intercom_checks.py``), on a
stack the stack's own (``doctor/stack_checks.py``) and the measured search lag stored for its workers
(``doctor/stored.py``); one line per check, or ``--json``. Exit 0 when no check failed, 1 otherwise, 2 for usage."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import math
from collections.abc import Callable
from typing import Any

from importer_cli import targets
from importer_cli.commands.common import Handler, command
from importer_cli.display import Progress, stderr
from importer_cli.errors import EXIT_INTERRUPTED, CliError

INTERCOM_REGIONS = ("us", "eu", "au")
DEFAULT_MAX_WAIT = 600.0


def register(sub: Any) -> dict[str, Handler]:
    parser = command(
        sub,
        "doctor",
        "check that Intercom (and the stack) are ready for an import; measure Intercom's search lag",
        "Check what an import needs, each check ok / warning / failed (with the fix) / not checked: the token and "
        "its workspace (GET /me), the region against the API root, the rate limit per window and what other "
        "integrations already use of it, the custom attributes used of the cap, Intercom's search lag (measured: "
        "a probe lead is created and search polled until it shows, up to --max-wait), the e-mail case in search, "
        "whether a lead keeps an external_id. The probe contacts (leads named 'intercom-import doctor probe (safe "
        "to delete)') are deleted at the end, also after a failure, Ctrl-C or SIGTERM, unless --keep; no data "
        "attribute is ever created. Checks Intercom directly with --intercom-url/--intercom-region and a token, or "
        "the stack's Intercom (token from its secret) plus its SES sender, token secret and upload notification, "
        "and stores the measured lag where its workers read it. --region us|eu|au is taken as --intercom-region. "
        "Exit status: 0 when no check failed (warnings included), 1 when one did, 2 for a usage error, 130 when "
        "interrupted (after the probes were deleted).",
        target=True,
        as_json="print one object: app, region, search_lag_seconds, rate_limit_per_window, checks [{name, status, "
        "detail, fix}], probes_left, stored, ok",
    )
    intercom = parser.add_argument_group("Intercom directly (instead of a stack's)")
    intercom.add_argument("--intercom-url", metavar="URL", help="the API root (a proxy or stand-in)")
    intercom.add_argument(
        "--intercom-token", metavar="TOKEN", help="the access token (better: the INTERCOM_TOKEN environment variable)"
    )
    intercom.add_argument(
        "--intercom-region",
        metavar="us|eu|au",
        type=str.lower,
        choices=INTERCOM_REGIONS,
        help="the workspace's region: its API root when no --intercom-url, and what GET /me must say",
    )
    parser.add_argument("--keep", action="store_true", help="keep the probe contacts for inspection (listed)")
    parser.add_argument(
        "--max-wait",
        metavar="SECONDS",
        type=_seconds,
        default=DEFAULT_MAX_WAIT,
        help=f"how long to wait for the probe lead to show in search (default {DEFAULT_MAX_WAIT:g})",
    )
    return {"doctor": doctor}


def doctor(args: argparse.Namespace) -> int:
    from importer_cli.doctor.model import Report

    progress = Progress(enabled=not args.json)
    connection, target = _connect(args, progress)
    report = Report()
    client_log = logging.getLogger("intercom_importer.intercom")
    level = client_log.level
    client_log.setLevel(logging.ERROR)  # a refused call is a check's detail, not a log line
    try:
        _check(connection, target, report)
    except KeyboardInterrupt:
        progress.end()
        _print(report, args.json)
        stderr("intercom-import doctor: interrupted" + _left(report))
        return EXIT_INTERRUPTED
    finally:
        progress.end()
        client_log.setLevel(level)
    _print(report, args.json)
    return report.exit_code


def _connect(args: argparse.Namespace, progress: Progress) -> tuple[Any, Any]:
    """The connection to check with, and the stack (``None`` when Intercom is given directly)."""
    from importer_cli.doctor import connect
    from importer_cli.doctor.intercom_checks import DoctorOptions
    from importer_cli.doctor.search_checks import Waiting

    region = _intercom_region(args)
    waiting = Waiting(max_wait=args.max_wait, on_wait=_waiting_shown(progress, args.max_wait))
    options = DoctorOptions(keep=args.keep, waiting=waiting)
    if args.intercom_url or args.intercom_token or region:
        if args.stack or args.outputs:
            raise CliError(
                "give either a stack (--stack/--outputs) or Intercom directly (--intercom-url/-token/-region)"
            )
        return connect.direct(args.intercom_url, region, args.intercom_token, options), None
    try:
        target = targets.resolve(args)
    except CliError as exc:
        raise CliError(f"{exc}; or check Intercom directly with --intercom-url/--intercom-region and a token") from exc
    assert target is not None
    return connect.of_stack(target, options), target


def _waiting_shown(progress: Progress, max_wait: float) -> Callable[[float], None]:
    """What the lag probe's wait shows on stderr: a live count on a terminal, else a line every 30 s."""
    shown: set[int] = set()

    def show(waited: float) -> None:
        step = int(waited // 30)
        if progress.tty or step not in shown:
            shown.add(step)
            progress.line(
                f"waiting for Intercom's search to show the probe lead: {waited:.0f} s (at most {max_wait:g} s)"
            )

    return show


def _intercom_region(args: argparse.Namespace) -> str | None:
    """``--intercom-region``, or ``--region`` given an Intercom region (us, eu, au: never an AWS region's name)."""
    if args.region and args.region.lower() in INTERCOM_REGIONS:
        if args.intercom_region and args.intercom_region != args.region.lower():
            raise CliError(f"--region {args.region} and --intercom-region {args.intercom_region} disagree: give one")
        args.intercom_region, args.region = args.region.lower(), None
    return args.intercom_region


def _check(connection: Any, target: Any, report: Any) -> None:
    from importer_cli.doctor.intercom_checks import run_intercom_checks, without_client

    if connection.client is None:
        without_client(report, connection.missing)
    else:
        run_intercom_checks(connection.client, connection.budget, report, connection.options)
    if target is None:
        return
    for module, name in (("stack_checks", "stack_checks"), ("stored", "store_measurements")):
        hook = _hook(module, name)
        if hook is not None:
            hook(target, report)


def _hook(module: str, name: str) -> Callable[[Any, Any], None] | None:
    """``importer_cli.doctor.<module>.<name>``, or ``None`` while that module does not exist."""
    qualified = f"importer_cli.doctor.{module}"
    try:
        found = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name != qualified:
            raise
        return None
    return getattr(found, name, None)


def _print(report: Any, as_json: bool) -> None:
    from importer_cli.doctor import render

    if as_json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print("\n".join(render.report_lines(report)))


def _left(report: Any) -> str:
    if report.probes_left:
        return f"; probe contacts left in Intercom: {', '.join(report.probes_left)}"
    return "; the probe contacts were deleted"


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value
