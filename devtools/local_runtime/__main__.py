"""``python -m local_runtime``: deploy the template locally and serve it until Ctrl-C.

Prints the moto endpoint, the environment variables that point an AWS client at it, and the stack
outputs; function logs go to the log folder (one file per function).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import sys
import threading
from collections.abc import Sequence

from .options import RuntimeOptions
from .runtime import LocalRuntime


def _key_values(items: Sequence[str]) -> dict[str, str]:
    pairs = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"expected KEY=VALUE, got {item!r}")
        pairs[key] = value
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local_runtime", description=__doc__)
    parser.add_argument("--template", default="template.yaml")
    parser.add_argument("--stack-name", default="intercom-importer-local")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="stack parameter")
    parser.add_argument("--visibility", action="append", default=[], metavar="QUEUE=SECONDS")
    parser.add_argument("--port", type=int, default=0, help="moto port (default: a free one)")
    parser.add_argument("--log-dir", default=None)
    parser.add_argument("--prewarm", action="store_true", help="start one environment per function now")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    runtime = LocalRuntime(
        args.template,
        _key_values(args.param),
        stack_name=args.stack_name,
        log_dir=args.log_dir,
        options=RuntimeOptions(
            visibility_timeout_override={k: int(v) for k, v in _key_values(args.visibility).items()},
            port=args.port,
            prewarm=args.prewarm,
        ),
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with runtime:
        print(f"local runtime up in {runtime.startup_seconds:.1f}s; logs in {runtime.log_dir}")
        for key, value in runtime.aws_env().items():
            print(f"export {key}={value}")
        for key, value in runtime.outputs.items():
            print(f"{key} = {value}")
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
