"""Intercom's official OpenAPI description, vendored (MIT, see LICENSE.md) as the client/sandbox contract.

Copied unchanged from github.com/intercom/Intercom-OpenAPI, descriptions/2.14/api.intercom.io.yaml at
commit 8889625a7b931d8649e18726e7f872ff073520fc.
"""

from pathlib import Path

PINNED_VERSION = "2.14"
SPEC_PATH = Path(__file__).with_name(f"api.intercom.io-{PINNED_VERSION}.yaml")
