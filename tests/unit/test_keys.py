"""The bucket's key layout (keys.py) against what template.yaml grants and expires by prefix."""

from __future__ import annotations

from pathlib import Path

import pytest

from intercom_importer import keys

pytestmark = pytest.mark.unit

TEMPLATE = (Path(__file__).resolve().parents[2] / "template.yaml").read_text()
WORK = [
    keys.chunk("job-1", 7),
    keys.progress("job-1", 7),
    keys.result("job-1", 7, "a1"),
    keys.result("job-1", 7, "b2"),
    keys.invalid("job-1"),
    keys.companies("job-1"),
    keys.checkpoint("job-1", 2),
    keys.checkpoint_seen("job-1", 2),
    keys.checkpoint_invalid("job-1", 2),
]


def test_every_working_object_of_a_job_is_under_its_work_prefix_which_the_lifecycle_expires():
    assert all(key.startswith("work/job-1/") for key in WORK)
    assert "Prefix: work/" in TEMPLATE


def test_working_objects_of_a_job_never_collide():
    assert len(set(WORK)) == len(WORK)


def test_chunk_and_checkpoint_numbers_sort_as_text_in_their_order():
    assert sorted([keys.chunk("j", 10), keys.chunk("j", 9)]) == [keys.chunk("j", 9), keys.chunk("j", 10)]
    assert (
        keys.chunk("j", 1) == "work/j/chunks/000001.json" and keys.checkpoint("j", 1) == "work/j/checkpoints/0001.json"
    )


def test_the_error_file_is_under_the_reports_prefix_the_report_function_may_write():
    assert keys.report("job-1") == "reports/job-1/errors.csv"
    assert "Prefix: reports/" in TEMPLATE and "/reports/*" in TEMPLATE


def test_partner_settings_and_uploads_are_under_the_prefixes_the_template_grants():
    assert keys.partner_config("acme") == "config/partners/acme.json"
    assert keys.partner_incoming("acme") == "incoming/acme/"
    assert f"s3:prefix: {keys.PARTNER_CONFIG_PREFIX}*" in TEMPLATE
    assert f"Value: {keys.INCOMING_PREFIX} " in TEMPLATE


def test_an_undo_s_results_are_under_its_own_reports_prefix_kept_as_long_as_the_reports():
    assert keys.undo_result("job-1-undo", 3, "a1") == "reports/job-1-undo/undone/000003.a1.json"
    assert keys.undo_result("job-1-undo", 3, "a1") != keys.changes("job-1", 3, "a1")


def test_each_delivery_of_a_chunk_writes_its_outputs_under_keys_of_its_own():
    assert keys.result("job-1", 3, "a1") == "work/job-1/results/000003.a1.json"
    assert keys.changes("job-1", 3, "a1") == "reports/job-1/changes/000003.a1.jsonl"
    assert keys.changes("job-1", 3, "a1") != keys.changes("job-1", 3, "b2")


def test_a_change_log_recorded_before_deliveries_had_keys_of_their_own_is_at_the_chunk_s_fixed_key():
    assert keys.legacy_changes("job-1", 3) == "reports/job-1/changes/000003.jsonl"
    assert keys.legacy_changes("job-1", 3) not in {keys.changes("job-1", 3, a) for a in ("a1", "b2")}
