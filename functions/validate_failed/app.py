"""Uploads the validator failed on after Lambda's retries -> job marked failed, one email still sent."""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.errors import ValidationStillHeldError
from intercom_importer.observability import logger, metrics, tracer
from intercom_importer.settings import get_settings
from intercom_importer.validate.context import Clients
from intercom_importer.validate.failure import handle_validator_failure
from intercom_importer.validate.outcome import Outcome

# A held record is an expected wait, not an error of the function: report it back, never fail the invocation.
processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def record_handler(record: SQSRecord) -> list[dict[str, Any]]:
    settings = get_settings()
    store = jobs.JobStore.from_settings(settings)
    clients = Clients(s3=None, sqs=aws.client("sqs"), sfn=aws.client("stepfunctions"), intercom=lambda: None)
    outcomes = handle_validator_failure(json.loads(record.body), settings=settings, store=store, clients=clients)
    logger.warning("validator failure handled", outcomes=outcomes)
    held = [o["job_id"] for o in outcomes if o["outcome"] == Outcome.HELD]
    if held:  # SQS delivers the record again after the queue's visibility timeout, when the lease has expired
        raise ValidationStillHeldError(f"validation still held by a live lease: {', '.join(held)}")
    return outcomes


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
