"""The benchmark's core on a tiny size: the local pipeline and the naive baseline against a rate-limited
sandbox, and the validator alone. Asserts the numbers are sane, not fast (timings belong to the bench)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module by name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop(spec.name, None)


@pytest.fixture(scope="module")
def report(bench, tmp_path_factory):
    return bench.run_bench(bench.smoke_options(tmp_path_factory.mktemp("bench")), command="smoke", log=lambda _: None)


def test_pipeline_imports_every_row_at_about_one_call_per_row(report):
    (run,) = report.pipeline
    assert run.rows == 300
    assert run.status == "completed"
    assert run.failed == 0  # also: no row lost to a 429 (they are retried after the reset)
    assert 1.0 <= run.calls_per_row <= 1.1
    assert run.rows_per_second > 0
    assert run.completion_latency is not None and 0 <= run.completion_latency < 30
    assert run.end_to_end >= run.seconds


def test_naive_baseline_spends_two_calls_per_row(report):
    (naive,) = report.naive
    assert naive.rows == 300
    assert naive.failed == 0
    assert naive.calls_per_row == pytest.approx(2.0, abs=0.05)


def test_validator_measurement_reports_rows_and_memory(report):
    (validator,) = report.validator
    assert validator.rows > 10_000  # 1 MB of people rows
    assert validator.rows_per_second > 0
    assert 0 < validator.baseline_rss_mb <= validator.peak_rss_mb < 1024


def test_table_has_one_line_per_run_and_the_targets(bench, report):
    text = bench.markdown(report)
    assert "| pipeline 300 | 300 | 1.0" in text
    # two calls a row (a call retried after a 5xx under load shows as 2.003)
    assert re.search(r"\| naive 300 \| 300 \| 2\.0\d\d \|", text), text
    assert "Targets of issue 4" in text


def test_re_imports_write_only_the_changed_rows(bench, report):
    same, changed = report.reimport
    assert (same.rows, changed.rows) == (300, 300)
    assert same.outcomes["unchanged"] == 300 and same.outcomes["updated"] == 0 and same.outcomes["created"] == 0
    assert same.by_route.get("PUT /contacts/{contact_id}") is None  # nothing written
    # the searches (one per 100-row chunk), the validator's attribute listing, each worker environment's GET /me
    assert same.calls <= 3 + 2 + 4
    assert changed.changed_rows == 15
    assert changed.outcomes["updated"] == 15 and changed.outcomes["unchanged"] == 285
    assert sum(changed.by_route["PUT /contacts/{contact_id}"].values()) == 15
    text = bench.reimport_markdown(report)
    assert "| re-import unchanged 300 | 300 |" in text and "Targets of issue 13" in text


def test_two_imports_uploaded_together_both_progress_and_finish(bench, report):
    (run,) = report.concurrent
    assert [job.status for job in run.jobs] == ["completed", "completed"]
    for job in run.jobs:
        assert job.queued is not None and job.first_chunk is not None and job.finished is not None
        assert 0 < job.queued <= job.first_chunk <= job.finished
    assert run.both_progress is not None and run.finish_ratio is not None and run.finish_ratio >= 1
    text = bench.concurrent_section(report)
    assert "| 1 | " in text and "issue #15" in text
