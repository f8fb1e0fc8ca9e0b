"""Import features through the whole local pipeline: custom attributes, mapping, dry run, identity, tags, re-upload."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from pipeline_helpers import counts, pipeline_fixtures

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = "features-token"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", "Intercom-Version": "2.14"}


sandbox, pipeline = pipeline_fixtures(TOKEN)


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox):
    sandbox.reset()
    sandbox.reset_stats()


def _calls(sandbox, route: str) -> int:
    return sum(int(n) for n in sandbox.stats()["by_route"].get(route, {}).values())


def _custom_attributes(sandbox) -> dict[str, str]:
    return {a["name"]: a["data_type"] for a in sandbox.state()["data_attributes"] if a.get("custom")}


def test_people_with_company_columns_upsert_each_company_once(pipeline, sandbox):
    rows = ["email,name,company_id,company_name"] + [
        f"p{i}@example.com,Person {i},{'acme' if i % 2 else 'globex'},{'Acme' if i % 2 else 'Globex'}"
        for i in range(250)
    ]
    job = pipeline.wait_done(pipeline.upload("incoming/f-companies.csv", "\n".join(rows) + "\n"))

    assert counts(job)["created"] == 250
    assert _calls(sandbox, "POST /companies") == 2
    assert _calls(sandbox, "POST /contacts/{contact_id}/companies") == 250
    state = sandbox.state()
    assert {c["company_id"] for c in state["companies"]} == {"acme", "globex"}


def test_custom_attributes_of_every_type_are_created_and_filled_with_typed_values(pipeline, sandbox):
    body = (
        "email,Seats,MRR,Beta Tester,Renewal Date,Segment\n"
        "a@example.com,12,99.5,yes,2026-12-01,enterprise\n"
        "b@example.com,3,10,no,2027-01-15,smb\n"
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-custom.csv", body))

    assert job["status"] == "completed"
    assert _custom_attributes(sandbox) == {
        "Seats": "integer",
        "MRR": "float",
        "Beta Tester": "boolean",
        "Renewal Date": "date",
        "Segment": "string",
    }
    contact = next(c for c in sandbox.state()["contacts"] if c["email"] == "a@example.com")
    assert contact["custom_attributes"] == {
        "Seats": 12,
        "MRR": 99.5,
        "Beta Tester": True,
        "Renewal Date": 1796083200,
        "Segment": "enterprise",
    }
    assert "Seats (integer)" in pipeline.emails_for(job["job_id"])[0]["text"]


def test_existing_attribute_type_wins_and_wrong_values_are_reported(pipeline, sandbox):
    import requests

    requests.post(
        f"{sandbox.url}/data_attributes",
        json={"name": "Seats", "model": "contact", "data_type": "integer"},
        headers=HEADERS,
        timeout=5,
    ).raise_for_status()
    body = "email,Seats\na@example.com,12\nb@example.com,many\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-existing-attr.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    assert pipeline.error_rows(job)[0]["error_column"] == "Seats"


def test_reserved_name_column_is_refused_before_anything_is_written(pipeline, sandbox):
    job = pipeline.wait_done(pipeline.upload("incoming/f-reserved.csv", "email,created_at\na@example.com,2026-01-01\n"))

    assert job["status"] == "rejected"
    assert "standard attribute 'created_at'" in job["rejection"]
    assert sandbox.state()["contacts"] == []
    assert _custom_attributes(sandbox) == {}
    assert _calls(sandbox, "POST /data_attributes") == 0


def test_mapping_manifest_renames_ignores_and_declares_columns(pipeline, sandbox):
    manifest = {
        "mapping": {
            "columns": {
                "Customer Number": "external_id",
                "Plan Tier": {"attribute": "plan_tier", "options": ["free", "pro"]},
                "Internal": {"ignore": True},
                "Since": {"attribute": "customer_since", "type": "date"},
            },
            "day_first": False,
        }
    }
    pipeline.upload("incoming/f-mapped.csv.json", json.dumps(manifest))
    body = "E-mail,Customer Number,Plan Tier,Internal,Since\nm@example.com,c-77,pro,secret,03/04/2026\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-mapped.csv", body))

    assert job["status"] == "completed", job.get("rejection")
    contact = sandbox.state()["contacts"][0]
    assert contact["external_id"] == "c-77"
    assert contact["custom_attributes"] == {"plan_tier": "pro", "customer_since": 1772582400}  # 4 March 2026
    assert "Internal" not in _custom_attributes(sandbox)


def test_invalid_manifest_rejects_the_file_with_what_to_fix(pipeline, sandbox):
    pipeline.upload("incoming/f-badmanifest.csv.json", json.dumps({"existing": "merge", "mapping": {"colums": {}}}))
    job = pipeline.wait_done(pipeline.upload("incoming/f-badmanifest.csv", PEOPLE))

    assert job["status"] == "rejected"
    assert "existing" in job["rejection"] and "update, skip" in job["rejection"]
    assert "colums" in job["rejection"]
    assert sandbox.state()["contacts"] == []


def test_duplicate_identifiers_in_the_file_are_reported_not_imported_twice(pipeline, sandbox):
    body = "email,name\nx@example.com,First\n X@Example.com ,Second\ny@example.com,Third\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-dupes.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    assert "duplicates line 2" in pipeline.error_rows(job)[0]["error"]
    assert len(sandbox.state()["contacts"]) == 2


def _seed_email_only_contact(sandbox, email: str) -> str:
    import requests

    response = requests.post(
        f"{sandbox.url}/contacts", json={"role": "user", "email": email}, headers=HEADERS, timeout=5
    )
    response.raise_for_status()
    return response.json()["id"]


def test_identity_trap_attaches_the_external_id_to_the_existing_contact(pipeline, sandbox):
    existing = _seed_email_only_contact(sandbox, "trap@example.com")
    job = pipeline.wait_done(pipeline.upload("incoming/f-trap.csv", "email,external_id\ntrap@example.com,t-1\n"))

    assert counts(job)["updated"] == 1
    contacts = sandbox.state()["contacts"]
    assert len(contacts) == 1
    assert contacts[0]["id"] == existing and contacts[0]["external_id"] == "t-1"


def test_identity_trap_report_policy_fails_the_row_and_writes_nothing(pipeline, sandbox):
    _seed_email_only_contact(sandbox, "trap2@example.com")
    job = pipeline.wait_done(
        pipeline.upload(
            "incoming/f-trap-report.csv", "email,external_id\ntrap2@example.com,t-2\n", **{"identity-trap": "report"}
        )
    )

    assert counts(job)["failed"] == 1
    assert "would create a duplicate" in pipeline.error_rows(job)[0]["error"]
    assert sandbox.state()["contacts"][0].get("external_id") in (None, "")


def test_tags_are_applied_in_bulk_with_the_automatic_import_tag(pipeline, sandbox):
    rows = ["email"] + [f"t{i}@example.com" for i in range(120)]
    job = pipeline.wait_done(
        pipeline.upload("incoming/f-tags.csv", "\n".join(rows) + "\n", tags="spring,vip", **{"auto-tag": "true"})
    )

    assert counts(job)["created"] == 120
    names = {t["name"] for t in sandbox.state()["tags"]}
    auto = f"import-{job['created_at'][:10]}-{job['job_id'][4:12]}"
    assert names == {"spring", "vip", auto}
    # 120 rows = 2 chunks of <=100: per chunk and tag one call for <=50 contacts -> 2 + 1 calls
    assert _calls(sandbox, "POST /tags") == 3 * (2 + 1)


def test_dry_run_writes_nothing_and_its_counts_equal_the_real_run(pipeline, sandbox):
    pipeline.wait_done(pipeline.upload("incoming/f-seed.csv", "email,external_id,name\nd1@example.com,d-1,One\n"))
    body = (
        "email,external_id,name,Plan Code,company_id\n"
        "d1@example.com,d-1,One again,gold,acme\n"
        "d2@example.com,d-2,Two,silver,acme\n"
        "not-an-email,d-3,Three,bronze,\n"
    )
    before = sandbox.state()
    dry = pipeline.wait_done(
        pipeline.upload("incoming/f-dry.csv", body, **{"dry-run": "true", "invalid-rows": "skip_rows"})
    )
    after = sandbox.state()

    assert after["contacts"] == before["contacts"]
    assert after["companies"] == before["companies"] == []
    assert _custom_attributes(sandbox) == {}
    email = pipeline.emails_for(dry["job_id"])[0]
    assert email["subject"].startswith("Dry run: nothing was written to Intercom")
    assert "Plan Code (string)" in email["text"] and "API calls" in email["text"]

    sandbox.reset_stats()
    real = pipeline.wait_done(pipeline.upload("incoming/f-real.csv", body, **{"invalid-rows": "skip_rows"}))
    assert (
        counts(dry)
        == counts(real)
        == {
            "rows": 3,
            "created": 1,
            "updated": 1,
            "skipped": 0,
            "failed": 0,
            "invalid": 1,
        }
    )
    # the estimate is exactly what the real run spent: 2 attribute lists, 1 attribute, 1 company,
    # 1 search, 1 create, 1 update, 2 company attachments
    assert dry["api_calls"] + dry["prepare_calls"] == sandbox.stats()["total_requests"] == 9


def test_fixed_error_file_uploaded_again_imports_just_those_rows(pipeline, sandbox):
    body = "email,name,signed_up_at\nok1@example.com,Ok,2026-01-01\nbad@,Bad One,2026-01-01\nok2@example.com,Ok2,nope\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-fixme.csv", body, **{"invalid-rows": "skip_rows"}))
    assert counts(job)["invalid"] == 2
    raw = pipeline.s3.get_object(Bucket=pipeline.bucket, Key=job["error_file_key"])["Body"].read().decode("utf-8-sig")
    fixed = raw.replace("bad@,", "bad@example.com,").replace(",nope,", ",2026-02-02,")

    again = pipeline.wait_done(pipeline.upload("incoming/f-fixme-fixed.csv", fixed))

    assert counts(again) == {"rows": 2, "created": 2, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    emails = sorted(c["email"] for c in sandbox.state()["contacts"])
    assert emails == ["bad@example.com", "ok1@example.com", "ok2@example.com"]
    reader = csv.DictReader(io.StringIO(raw))
    assert reader.fieldnames[-3:] == ["error_line", "error_column", "error"]


def test_gzip_upload_imports_like_the_plain_file(pipeline, sandbox):
    import gzip

    job = pipeline.wait_done(pipeline.upload("incoming/f-people.csv.gz", gzip.compress(PEOPLE.encode())))
    assert job["status"] == "completed"
    assert counts(job)["created"] == 6


def test_role_column_and_import_role_decide_new_contacts_roles(pipeline, sandbox):
    body = "email,external_id,role\nr1@example.com,r-1,\nr2@example.com,r-2,user\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-roles.csv", body, role="lead"))
    assert counts(job)["created"] == 2
    roles = {c["email"]: c["role"] for c in sandbox.state()["contacts"]}
    assert roles == {"r1@example.com": "lead", "r2@example.com": "user"}


def test_companies_file_with_skip_leaves_existing_companies_untouched(pipeline, sandbox):
    first = "company_id,name,plan\nacme,Acme,Pro\n"
    pipeline.wait_done(pipeline.upload("incoming/f-co1.csv", first, **{"import-type": "companies"}))
    second = "company_id,name,plan\nacme,Acme Renamed,Enterprise\ninitech,Initech,Starter\n"
    job = pipeline.wait_done(
        pipeline.upload("incoming/f-co2.csv", second, **{"import-type": "companies", "existing": "skip"})
    )
    assert (counts(job)["skipped"], counts(job)["created"]) == (1, 1)
    names = {c["company_id"]: c["name"] for c in sandbox.state()["companies"]}
    assert names == {"acme": "Acme", "initech": "Initech"}
