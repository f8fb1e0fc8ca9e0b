"""``python -m intercom_sandbox --port N ...``: serve the sandbox until Ctrl-C."""

import sys

from intercom_sandbox.cli import run_cli

raise SystemExit(run_cli(sys.argv[1:]))
