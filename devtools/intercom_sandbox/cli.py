"""Command line: ``python -m intercom_sandbox`` (also ``intercom-import sandbox`` via :func:`run_cli`)."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Sequence

from intercom_sandbox.config import DOCUMENTED_SEARCH_LAG_SECONDS, EMAIL_CONFLICTS, PROFILES, ConfigError, SandboxConfig

DEFAULT_PORT = 8010


def build_parser(prog: str = "python -m intercom_sandbox") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve a local, in-memory Intercom REST API (2.14 shapes) until Ctrl-C. "
        "Admin API under /__sandbox/ (state, reset, config, stats, faults).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: %(default)s)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="0 picks a free port (default: %(default)s)")
    parser.add_argument("--token", help="the only Bearer token accepted (default: any)")
    parser.add_argument("--rate-limit", type=int, help="calls allowed per window (default: unlimited)")
    parser.add_argument("--window-seconds", type=float, default=10.0, help="rate-limit window (default: 10)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every API call")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, 0..N ms")
    parser.add_argument("--attribute-cap", type=int, default=250, help="custom data attributes allowed")
    _add_profile_arguments(parser)
    return parser


def _add_profile_arguments(parser: argparse.ArgumentParser) -> None:
    """``--profile`` and the two knobs it sets, each overriding it when given."""
    parser.add_argument(
        "--profile",
        choices=tuple(PROFILES),
        default="friendly",
        help="documented: Intercom as documented (a search lag of minutes, a user's e-mail conflicts only when "
        f"no external_id is sent: --search-lag {DOCUMENTED_SEARCH_LAG_SECONDS:g} --email-conflicts "
        "without_external_id); friendly: no search lag, any user's e-mail conflicts (default: %(default)s)",
    )
    parser.add_argument(
        "--search-lag", type=float, help="seconds before a new contact is searchable (default: the profile's)"
    )
    parser.add_argument(
        "--search-update-lag",
        type=float,
        help="seconds search keeps showing a contact's values from before an update (Intercom does not document "
        "one: default 0)",
    )
    parser.add_argument(
        "--email-conflicts",
        choices=EMAIL_CONFLICTS,
        help="when a user create with an existing user's e-mail gets a 409: always, or (as Intercom documents) "
        "only when it sends no external_id (default: the profile's)",
    )


def config_from_args(args: argparse.Namespace) -> SandboxConfig:
    """The config ``args`` ask for: the profile's values, then the knobs given over them."""
    knobs = {
        "search_lag_seconds": args.search_lag,
        "search_update_lag_seconds": args.search_update_lag,
        "email_conflicts": args.email_conflicts,
    }
    return SandboxConfig.for_profile(
        args.profile,
        token=args.token,
        rate_limit_per_window=args.rate_limit,
        window_seconds=args.window_seconds,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        attribute_cap=args.attribute_cap,
        **{name: value for name, value in knobs.items() if value is not None},
    )


def run_cli(argv: Sequence[str] | None = None, *, prog: str = "python -m intercom_sandbox") -> int:
    """Parse ``argv``, print the sandbox URL, and serve until Ctrl-C (or SIGTERM). Returns the exit code."""
    from intercom_sandbox.server import SandboxServer

    args = build_parser(prog).parse_args(argv)
    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = SandboxServer(args.host, args.port, config)
    try:
        server.start()
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(server.url, flush=True)
    print(
        f"Intercom sandbox running ({config.describe()}); admin API at /__sandbox/; Ctrl-C to stop.",
        file=sys.stderr,
        flush=True,
    )
    try:
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
