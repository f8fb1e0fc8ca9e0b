"""The runtime's deployment step: the parameters it adds, the Intercom token secret, and the stack
(``stack.py``) deployed with moto's warnings about resources it skips summarised in one line."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from . import moto_hooks, stack

LOG = logging.getLogger("local_runtime.runtime")

# Applied to a parameter only when the template declares it and the caller gives no value.
LOCAL_PARAMETER_DEFAULTS = {
    "Stage": "local",
    "SenderEmail": "imports@example.com",
    "NotificationRecipients": "ops@example.com",
}
TOKEN_PARAMETER = "IntercomTokenSecretArn"  # noqa: S105 - a parameter name


class UnemulatedResources(logging.Filter):
    """While the stack deploys, turns moto's one warning per resource it cannot create (alarms, topic
    policies, ...) into one summary line instead of a screenful; the types fixups.py applies itself
    (``moto_hooks.HANDLED_RESOURCE_TYPES``) are not reported at all."""

    _LOGGER = "moto"
    _MESSAGE = "No Moto CloudFormation support for %s"

    def __init__(self) -> None:
        super().__init__()
        self.types: set[str] = set()  # moto warns more than once per resource: types, not counts

    def filter(self, record: logging.LogRecord) -> bool:
        if record.msg == self._MESSAGE and record.args:
            resource_type = str(record.args[0] if isinstance(record.args, tuple) else record.args)
            if resource_type not in moto_hooks.HANDLED_RESOURCE_TYPES:
                self.types.add(resource_type)
            return False
        return True

    def __enter__(self) -> UnemulatedResources:
        logging.getLogger(self._LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(self._LOGGER).removeFilter(self)

    def __str__(self) -> str:
        return ", ".join(sorted(self.types))


def stack_parameters(
    sam: Mapping[str, Any],
    given: Mapping[str, str],
    intercom_token: str | None,
    create_token_secret: Callable[[str], str],
) -> dict[str, str]:
    """The parameters deployed: local defaults the template declares, the ``given`` ones, and the ARN of a
    secret holding ``intercom_token`` (``create_token_secret(token) -> ARN``) unless one was given."""
    declared = sam.get("Parameters", {})
    parameters = {k: v for k, v in LOCAL_PARAMETER_DEFAULTS.items() if k in declared}
    parameters.update(given)
    if TOKEN_PARAMETER in declared and TOKEN_PARAMETER not in parameters and intercom_token is not None:
        parameters[TOKEN_PARAMETER] = create_token_secret(intercom_token)
    return parameters


def deploy(
    clients: Callable[[str], Any],
    template_path: Path,
    sam: dict[str, Any],
    parameters: Mapping[str, str],
    *,
    stack_name: str,
    account_id: str,
    region: str,
    verified_identities: Iterable[str] | None,
    cache_dir: Path,
) -> tuple[stack.Deployment, frozenset[str]]:
    """Deploys the stack; returns it and the template's resource types moto does not create."""
    identities = verified_identities
    if identities is None:
        identities = (parameters["SenderEmail"],) if "SenderEmail" in parameters else ()
    unemulated = UnemulatedResources()
    with unemulated:
        deployment = stack.deploy(
            clients,
            template_path,
            sam,
            parameters,
            stack_name,
            code_bucket=f"local-runtime-code-{account_id}-{region}",
            region=region,
            account_id=account_id,
            verified_identities=tuple(identities),
            cache_dir=cache_dir,
        )
    if unemulated.types:
        LOG.info("not emulated locally (moto creates no such resources; they deploy on AWS): %s", unemulated)
    return deployment, frozenset(unemulated.types)
