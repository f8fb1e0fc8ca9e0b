"""``search-lag``: the Intercom search lag the stack's workers wait for, as ``doctor`` measured and stored it: show
it, set it by hand, or forget it (the workers go back to the ``IntercomSearchLagSeconds`` parameter)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from importer_cli import targets
from importer_cli.commands.common import Handler, command
from importer_cli.errors import EXIT_OK, CliError


def register(sub: Any) -> dict[str, Handler]:
    parser = command(
        sub,
        "search-lag",
        "show, set or forget the measured Intercom search lag the workers wait for",
        "`intercom-import doctor` measures how long Intercom's search takes to show a new contact and stores it in "
        "the stack's jobs table, per Intercom workspace (the largest measurement is kept). The workers then wait "
        "twice the largest measurement (at least that plus 30 s, within 30-900 s) before looking again for a lead "
        "whose create got no answer, instead of the IntercomSearchLagSeconds parameter, which applies when nothing "
        "is stored. Without options: show what is stored. Workers already running pick a change up within 5 minutes.",
        target=True,
        as_json="print {workspaces: [{workspace, app_name, search_lag_seconds, search_lag_max_seconds, "
        "effective_search_lag_seconds, measured_at}], forgotten: [...]} on stdout",
    )
    action = parser.add_mutually_exclusive_group()
    action.add_argument(
        "--set",
        metavar="SECONDS",
        type=float,
        help="store SECONDS as the lag, replacing the largest measured (the workers wait twice it, at least +30 s)",
    )
    action.add_argument(
        "--forget", action="store_true", help="remove the stored lag: the workers use IntercomSearchLagSeconds again"
    )
    parser.add_argument(
        "--workspace",
        metavar="ID",
        help="the Intercom workspace (the app's id_code); default: the stack token's (--set), every one (--forget)",
    )
    return {"search-lag": search_lag}


def search_lag(args: argparse.Namespace) -> int:
    from importer_cli.doctor import stored

    if args.set is not None and not (math.isfinite(args.set) and 0 <= args.set <= 900):
        raise CliError(f"--set {args.set:g}: give the search lag in seconds, 0 to 900")
    target = targets.resolve(args)
    assert target is not None
    forgotten: list[str] = []
    if args.set is not None:
        stored.set_lag(target, args.set, args.workspace)
    elif args.forget:
        forgotten = stored.forget(target, args.workspace)
    lags = stored.show(target)
    if args.json:
        print(json.dumps({"workspaces": [lag.to_json() for lag in lags], "forgotten": forgotten}, indent=2))
        return EXIT_OK
    if args.forget:
        print(f"forgotten: {', '.join(forgotten)}" if forgotten else "nothing was stored: nothing forgotten")
    table = target.output("JobsTableName")
    for lag in lags:
        print(stored.describe(lag, table))
    if not lags:
        print(
            f"no measured search lag in {table}: the workers wait IntercomSearchLagSeconds (default 180 s); "
            "`intercom-import doctor` measures and stores it"
        )
    return EXIT_OK
