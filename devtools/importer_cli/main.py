"""``intercom-import``: import CSV files into Intercom through the pipeline, locally or on a deployed stack.

    intercom-import run FILE [--type people|companies] [settings] [--json]   whole pipeline, follow to the email
    intercom-import up [--port N] [--detach]                                 keep a local stack running
    intercom-import down                                                     stop it
    intercom-import upload FILE [settings] [--partner P | --key-prefix ...]  upload like a user; prints the job id
    intercom-import status JOB [--watch]                                     the job record (live progress)
    intercom-import history [--limit N] [--status S] [--since D] [--source P] imports, newest first
    intercom-import undo JOB [--dry-run] [--yes]                             restore what an import changed
    intercom-import errors JOB [-o FILE]                                     download an import's error file
    intercom-import sample people|companies [-o FILE]                        a template CSV
    intercom-import validate FILE [settings] [--partner P] [--errors FILE]   the validator's checks, locally
    intercom-import partner add NAME --config FILE | list | show NAME | remove NAME   partners' settings
    intercom-import presign PARTNER FILE [--expires S]                       a presigned upload URL for a partner
    intercom-import doctor [--intercom-url U --intercom-token T] [--keep] [--max-wait S]  ready for a first import?
    intercom-import search-lag [--set S | --forget] [--workspace ID]         the measured search lag workers wait for
    intercom-import sandbox [--port N] ...                                   serve the Intercom sandbox

``upload``, ``status``, ``history``, ``undo``, ``errors``, ``partner``, ``presign``, ``search-lag``, ``doctor`` and ``run`` talk to the local stack started by ``up`` by default, or
to a deployed stack with ``--stack NAME`` / ``--outputs FILE`` (see ``targets.py``). ``run`` without a
local stack up starts an ephemeral one (moto + the Intercom sandbox + template.yaml) for the one import.
Progress and notes go to stderr; results to stdout (``--json``: one JSON document).

The commands live in ``commands/`` (one module per group, each registering its own subparsers); this
module builds the parser and dispatches.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from importer_cli import targets
from importer_cli.commands import doctor, jobs, partners, search_lag, stack, tools
from importer_cli.commands.common import ENVIRONMENT_HELP, Handler, HelpFormatter, Parser
from importer_cli.display import stderr
from importer_cli.errors import (
    EXIT_CODES_HELP,
    EXIT_ERROR,
    EXIT_IMPORT_PROBLEMS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CliError,
)
from importer_cli.local_stack import ROOT, SANDBOX_TOKEN, TEMPLATE  # noqa: F401 - kept importable from here

__all__ = ["EXIT_ERROR", "EXIT_IMPORT_PROBLEMS", "EXIT_OK", "EXIT_USAGE", "CliError", "build_parser", "main"]


EXIT_BROKEN_PIPE = 141  # as if killed by SIGPIPE, like other command-line tools


def build_parser() -> argparse.ArgumentParser:
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    """The parser of every command, and the handler of each (``sandbox`` is handed over before parsing)."""
    parser = Parser(
        prog="intercom-import",
        description="Import people and companies from CSV files into Intercom: the local pipeline, a deployed "
        "stack, and the tools around them. `intercom-import COMMAND --help` describes each command.",
        epilog=EXIT_CODES_HELP + "\n\n" + ENVIRONMENT_HELP,
        formatter_class=HelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands: dict[str, Handler] = {}
    for group in (stack, jobs, tools, partners, doctor, search_lag):  # the order of the commands in --help
        commands.update(group.register(sub))
    tools.register_sandbox(sub)
    return parser, commands


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sandbox"]:
        return tools.run_sandbox(argv[1:])
    parser, commands = _build()
    args = parser.parse_args(argv)
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "1")
    command = commands.get(args.command)
    if command is None:
        parser.error(f"unknown command {args.command}")
    try:
        return command(args)
    except CliError as exc:
        stderr(f"intercom-import {args.command}: error: {exc}")
        return exc.exit_code
    except KeyboardInterrupt:
        stderr("intercom-import: interrupted")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `intercom-import history | head`: the reader left, nothing to say
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:  # a bug or an environment problem: one line, not a traceback
        from botocore.exceptions import BotoCoreError, ClientError

        if isinstance(exc, BotoCoreError | ClientError) and not os.environ.get("PYTHONDEVMODE"):
            error = targets.aws_error(exc)
            stderr(f"intercom-import {args.command}: error: {error}")
            return error.exit_code
        stderr(f"intercom-import: failed: {type(exc).__name__}: {exc} (run with PYTHONDEVMODE=1 for details)")
        if os.environ.get("PYTHONDEVMODE"):
            raise
        return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
