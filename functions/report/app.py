"""State machine step: final status, error file and the summary email's content."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.observability import bind_job, logger, metrics, tracer
from intercom_importer.report import build_report
from intercom_importer.settings import get_settings


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    job_id = str(event["job_id"])
    bind_job(job_id)
    store = jobs.JobStore.from_settings(settings)
    return build_report(job_id, event.get("execution_input") or {}, settings=settings, store=store, s3=aws.client("s3"))
