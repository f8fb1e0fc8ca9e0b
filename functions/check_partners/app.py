"""Scheduled: partners whose expected upload has not arrived (the OverduePartners alarm's metric)."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from intercom_importer import aws, observability, partners
from intercom_importer.observability import logger, metrics, tracer
from intercom_importer.partner_activity import PartnerActivityLog
from intercom_importer.settings import get_settings


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = get_settings()
    activity = PartnerActivityLog.from_settings(settings)
    report = partners.check_schedules(aws.client("s3"), settings.import_bucket, activity, time.time())
    for late in report.overdue:
        logger.warning("partner upload overdue", partner=late.partner, last_upload_at=late.last_upload_at)
    for name in report.invalid:
        logger.error("partner settings invalid", partner=name)
    metrics.add_metric(name=observability.OVERDUE_PARTNERS, unit=MetricUnit.Count, value=len(report.overdue))
    metrics.add_metric(name=observability.INVALID_PARTNER_SETTINGS, unit=MetricUnit.Count, value=len(report.invalid))
    return report.to_dict()
