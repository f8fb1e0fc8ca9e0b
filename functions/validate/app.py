"""S3 upload under incoming/ -> validated job (chunks written, state machine started).

The same function receives its own continuation events (``{"continue": {"job_id", "seq"}}``, invoked
asynchronously by a validation that saved a checkpoint because its invocation's time was running out).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from aws_lambda_powertools.utilities.data_classes import S3Event
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, jobs
from intercom_importer.intercom.factory import client_from_settings
from intercom_importer.observability import logger, metrics, tracer
from intercom_importer.settings import get_settings
from intercom_importer.validate.context import Clients
from intercom_importer.validate.entry import handle_continue, handle_upload
from intercom_importer.validate.upload import Upload

MANIFEST_SUFFIXES = (".json",)


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    store = jobs.JobStore.from_settings(settings)
    clients = Clients(
        s3=aws.client("s3"),
        sqs=aws.client("sqs"),
        sfn=aws.client("stepfunctions"),
        intercom=lambda: client_from_settings(settings),
        lambda_=aws.client("lambda"),
    )
    if "continue" in event:
        result = handle_continue(
            event["continue"],
            settings=settings,
            store=store,
            clients=clients,
            remaining_ms=context.get_remaining_time_in_millis,
            function_arn=context.invoked_function_arn,
        )
        return {"jobs": [result]}
    results = []
    for record in S3Event(event).records:
        key = unquote_plus(record.s3.get_object.key)
        if key.endswith("/") or key.lower().endswith(MANIFEST_SUFFIXES):
            logger.info("not an import file; ignored", key=key)
            continue
        upload = Upload(
            bucket=record.s3.bucket.name,
            key=key,
            version_id=record.s3.get_object.version_id,
            etag=record.s3.get_object.etag,
            size=record.s3.get_object.size,
            # who uploaded, for the import history (absent from hand-made events)
            uploaded_by=(record.get("userIdentity") or {}).get("principalId"),
            source_ip=(record.get("requestParameters") or {}).get("sourceIPAddress"),
        )
        results.append(
            handle_upload(
                upload,
                settings=settings,
                store=store,
                clients=clients,
                remaining_ms=context.get_remaining_time_in_millis,
                function_arn=context.invoked_function_arn,
            )
        )
    return {"jobs": results}
