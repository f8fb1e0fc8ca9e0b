"""Exit codes and the one error type a command raises for problems the user can fix."""

from __future__ import annotations

EXIT_OK = 0  # done; for run/status: the import completed without errors
EXIT_IMPORT_PROBLEMS = 1  # the import finished with errors, was rejected, failed or is incomplete
EXIT_USAGE = 2  # a usage error or a problem the message says how to fix
EXIT_ERROR = 3  # an unexpected failure (a bug, or the environment)
EXIT_PENDING = 4  # the import has not finished (status without --watch, or a --timeout ran out)
EXIT_INTERRUPTED = 130

EXIT_CODES_HELP = """exit status:
  0  done (run, status: the import completed without errors)
  1  the import finished with errors, was rejected, failed or is incomplete
  2  usage error, or a problem the one-line message says how to fix
  3  unexpected failure (set PYTHONDEVMODE=1 for the traceback)
  4  the import has not finished yet (status without --watch, or --timeout ran out)"""


class CliError(Exception):
    """A problem the user can fix; printed as one line with the fix."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
