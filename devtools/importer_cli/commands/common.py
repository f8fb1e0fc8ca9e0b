"""What the subcommands share: the help formatter, the usage-error parser and one subcommand's parser."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from importer_cli import local_stack, targets
from importer_cli.errors import EXIT_CODES_HELP, EXIT_USAGE

Handler = Callable[[argparse.Namespace], int]
"""A subcommand: parsed arguments in, exit status out."""

ENVIRONMENT_HELP = f"""environment:
  {local_stack.STATE_DIR_ENV}  folder of stack.json and the local stack's logs (default: .local/ of the project)
  AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL ...  used by --stack/--outputs like by any AWS tool"""


class HelpFormatter(argparse.HelpFormatter):
    """Wraps one-paragraph descriptions; keeps multi-line texts (exit status, environment) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """Usage errors as one line with where to look, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def command(sub: Any, name: str, help_text: str, description: str, *, target: bool = False, as_json: str = "") -> Any:
    """The parser of one subcommand: its help, the exit codes (and environment) in its epilog, the target
    options when it talks to a stack, and ``--json``."""
    parser = sub.add_parser(
        name,
        help=help_text,
        description=description,
        epilog=EXIT_CODES_HELP + ("\n\n" + ENVIRONMENT_HELP if target or name in ("up", "down") else ""),
        formatter_class=HelpFormatter,
    )
    if target:
        targets.add_target_options(parser)
    parser.add_argument("--json", action="store_true", help=as_json or "print the result as JSON on stdout")
    return parser
