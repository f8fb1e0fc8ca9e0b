"""Chunks that exhausted their retries (dead-letter queue) -> rows counted as failed, job can complete."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.observability import logger, metrics, tracer
from intercom_importer.settings import get_settings
from intercom_importer.worker import record_dead_chunk

processor = BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord) -> str:
    settings = get_settings()
    store = jobs.JobStore.from_settings(settings)
    return record_dead_chunk(
        record.body, settings=settings, store=store, s3=aws.client("s3"), sfn=aws.client("stepfunctions")
    )


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
