"""SQS chunk messages -> rows upserted into Intercom, each chunk recorded exactly once."""

from __future__ import annotations

import functools
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.errors import ChunkFormatError, ImporterError
from intercom_importer.intercom.factory import client_from_settings
from intercom_importer.observability import logger, metrics, tracer
from intercom_importer.settings import get_settings
from intercom_importer.worker import parse_message, process_chunk

processor = BatchProcessor(event_type=EventType.SQS)


@functools.cache
def _store() -> jobs.JobStore:
    settings = get_settings()
    return jobs.JobStore.from_settings(settings)


def _client() -> Any:
    return client_from_settings(get_settings())


def _redelivered_since(record: SQSRecord) -> float | None:
    """When SQS first delivered this message (epoch seconds), if this is a later delivery."""
    attributes = record.raw_event.get("attributes") or {}
    try:
        if int(attributes.get("ApproximateReceiveCount", "1")) > 1:
            return int(attributes["ApproximateFirstReceiveTimestamp"]) / 1000
    except (KeyError, ValueError):
        logger.warning("message without SQS receive attributes", message_id=record.message_id)
    return None


@tracer.capture_method
def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> str:
    settings = get_settings()
    try:
        return process_chunk(
            record.body,
            settings=settings,
            store=_store(),
            s3=aws.client("s3"),
            sfn=aws.client("stepfunctions"),
            sqs=aws.client("sqs"),
            client_factory=_client,
            redelivered_since=_redelivered_since(record),
            remaining_ms=lambda_context.get_remaining_time_in_millis,
        )
    except ChunkFormatError:
        # Not a message this importer wrote: no retry can succeed, so it is logged and dropped.
        logger.error("unreadable chunk message dropped", message_id=record.message_id)
        return "dropped"
    except Exception as exc:
        # Keep the reason: if this chunk ends in the dead-letter queue the report shows it.
        try:
            job_id, index, _ = parse_message(record.body)
            message = exc.message if isinstance(exc, ImporterError) else f"{type(exc).__name__}: {exc}"
            _store().note_chunk_error(job_id, index, type(exc).__name__, message)
        except Exception:
            logger.warning("could not note the chunk error", exc_info=True)
        raise


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
