"""A local, stateful Intercom REST API (2.14 shapes) for developing and testing the importer.

It is a dev tool and never ships to Lambda. See README.md for usage, the admin API, fault injection and
the known differences from real Intercom.

>>> from intercom_sandbox import SandboxServer, SandboxConfig
>>> with SandboxServer(config=SandboxConfig(rate_limit_per_window=167)) as srv:  # doctest: +SKIP
...     print(srv.url)
"""

from intercom_sandbox.cli import run_cli
from intercom_sandbox.config import ConfigError, SandboxConfig
from intercom_sandbox.server import SandboxServer

__all__ = ["ConfigError", "SandboxConfig", "SandboxServer", "run_cli"]
