"""Scheduled (the backstop): validations nobody works on any more end as failed, with their email; jobs whose
start (state machine, chunk messages) nobody finished are started."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.observability import logger, tracer
from intercom_importer.settings import get_settings
from intercom_importer.validate.context import Clients
from intercom_importer.validate.sweep import sweep_abandoned, sweep_handovers


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    store = jobs.JobStore.from_settings(settings)
    clients = Clients(s3=None, sqs=aws.client("sqs"), sfn=aws.client("stepfunctions"), intercom=lambda: None)
    failed = sweep_abandoned(settings=settings, store=store, clients=clients)
    return {"failed": failed, "handed_over": sweep_handovers(settings=settings, store=store, clients=clients)}
