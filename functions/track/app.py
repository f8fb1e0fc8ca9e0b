"""State machine step: park the task token on the job until its last chunk is recorded."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.observability import bind_job, logger, tracer
from intercom_importer.settings import get_settings
from intercom_importer.worker import resume_if_complete


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    job_id = str(event["job_id"])
    bind_job(job_id)
    store = jobs.JobStore.from_settings(settings)
    store.park_task_token(job_id, str(event["task_token"]))
    # The last chunk may have been recorded before the token was parked: then resume now.
    resumed = resume_if_complete(store, aws.client("stepfunctions"), job_id)
    return {"job_id": job_id, "parked": True, "resumed_immediately": resumed}
