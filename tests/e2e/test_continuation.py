"""A file validated across several invocations of the real validator (checkpoint, async self-invoke,
continue) on the local runtime imports every row exactly once.

The validator's time budget is shrunk to its minimum (0.1 s), so each invocation reads about one block of
1,000 rows, saves a checkpoint and invokes itself through Lambda's Invoke API (on moto, routed to the
runtime's warm environments); the remaining time it checks is the runtime's real Lambda context.
"""

from __future__ import annotations

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

TOKEN = "continuation-token"
ROWS = 2300  # 3 blocks of the validator (1,000 rows each): the continuation is the point, not the size


sandbox, pipeline = pipeline_fixtures(
    TOKEN,
    function_env_overrides={"ValidateFunction": {"VALIDATE_TIME_BUDGET_SECONDS": "0.1"}},
)


def people() -> str:
    lines = ["email,name,Seats,Score"]
    for i in range(ROWS):
        email = f"c{i}@example.com"
        if i == 2100:
            email = "c7@example.com"  # a duplicate of line 9, two blocks (and invocations) later
        if i == 1200:
            email = "not-an-email"
        score = "0.5" if i == 2200 else str(i % 7)  # integer until the last block: a float attribute
        lines.append(f"{email},Person {i},{i % 40},{score}")
    return "\n".join(lines) + "\n"


def test_file_read_in_several_invocations_imports_every_row_once(pipeline, sandbox):
    job_id = pipeline.upload("incoming/big.csv", people(), **{"invalid-rows": "skip_rows"})

    job = pipeline.wait_done(job_id, timeout=300)

    # How many blocks of 1,000 rows fit in the 0.1 s budget depends on the machine (a bound is the behaviour): the
    # deadline is checked after each whole block, so 2 or 3 invocations read these 3 blocks (2 full, 1 short)
    assert 2 <= job["validate_invocations"] <= 3
    assert job["validate_invocations"] == job["checkpoint_seq"] + 1
    assert counts(job) == {"rows": ROWS, "created": ROWS - 2, "updated": 0, "skipped": 0, "failed": 0, "invalid": 2}
    assert job["bytes_read"] == len(people().encode())
    contacts = sandbox.state()["contacts"]
    assert len(contacts) == ROWS - 2 and len({c["email"] for c in contacts}) == ROWS - 2
    types = {a["name"]: a["data_type"] for a in sandbox.state()["data_attributes"] if a.get("custom")}
    assert types == {"Seats": "integer", "Score": "float"}
    errors = {row["error_line"]: row["error"] for row in pipeline.error_rows(job)}
    assert set(errors) == {"1202", "2102"}
    assert "the same email as line 9;" in errors["2102"]
    assert len(pipeline.emails_for(job_id)) == 1
    invocations = pipeline.runtime.invocations("ValidateFunction")
    continued = [r for r in invocations if r.source == "invoke-async"]
    assert len(continued) == job["checkpoint_seq"]
    assert all(r.ok for r in invocations)
