"""Import features through the whole local pipeline: custom attributes, mapping, dry run, identity, tags, re-upload."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

import pytest

from pipeline_helpers import DEFAULT_STACK, DEFAULT_STACK_TOKEN, counts, default_stack_fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group(DEFAULT_STACK)]

ROOT = Path(__file__).resolve().parents[2]
PEOPLE = (ROOT / "events" / "people.csv").read_text()
TOKEN = DEFAULT_STACK_TOKEN
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Accept": "application/json", "Intercom-Version": "2.14"}


sandbox, pipeline = default_stack_fixtures()  # one stack for the modules with the template's defaults


@pytest.fixture(autouse=True)
def fresh_intercom(sandbox, pipeline):
    pipeline.fresh_intercom(sandbox)
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
        "email,Seats,MRR,Beta Tester,Renewal Date,Segment,Zip\n"
        "a@example.com,12,99.5,yes,2026-12-01,enterprise,02134\n"
        "b@example.com,3,10,no,2027-01-15,smb,90210\n"
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-custom.csv", body))

    assert job["status"] == "completed"
    assert _custom_attributes(sandbox) == {
        "Seats": "integer",
        "MRR": "float",
        "Beta Tester": "boolean",
        "Renewal Date": "date",
        "Segment": "string",
        "Zip": "string",  # a leading zero makes it a code, not a number
    }
    contact = next(c for c in sandbox.state()["contacts"] if c["email"] == "a@example.com")
    assert contact["custom_attributes"] == {
        "Seats": 12,
        "MRR": 99.5,
        "Beta Tester": True,
        "Renewal Date": 1796083200,
        "Segment": "enterprise",
        "Zip": "02134",
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
    # names are matched case-insensitively, as Intercom does: "seats" is the existing "Seats"
    body = "email,seats\na@example.com,12\nb@example.com,many\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-existing-attr.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    assert pipeline.error_rows(job)[0]["error_column"] == "seats"
    assert _custom_attributes(sandbox) == {"Seats": "integer"}
    [contact] = sandbox.state()["contacts"]
    assert contact["custom_attributes"] == {"Seats": 12}


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
    # the manifest expires with its upload (the bucket's lifecycle rule takes files tagged processed)
    for key in ("incoming/f-mapped.csv", "incoming/f-mapped.csv.json"):
        tags = pipeline.s3.get_object_tagging(Bucket=pipeline.bucket, Key=key)["TagSet"]
        assert {"Key": "importer-status", "Value": "processed"} in tags, key


def test_invalid_manifest_rejects_the_file_with_what_to_fix(pipeline, sandbox):
    manifest = {"existing": "merge", "mapping": {"colums": {}, "columns": {"name": {"type": "int"}}}}
    pipeline.upload("incoming/f-badmanifest.csv.json", json.dumps(manifest))
    job = pipeline.wait_done(pipeline.upload("incoming/f-badmanifest.csv", PEOPLE))

    assert job["status"] == "rejected"
    assert "existing" in job["rejection"] and "update, skip" in job["rejection"]
    assert "colums" in job["rejection"]
    assert 'mapping/columns/name/type: "int" is not allowed: use one of string, integer' in job["rejection"]
    assert sandbox.state()["contacts"] == []


def test_duplicate_identifiers_in_the_file_are_reported_not_imported_twice(pipeline, sandbox):
    body = "email,name\nx@example.com,First\n X@Example.com ,Second\ny@example.com,Third\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-dupes.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 3, "created": 2, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    assert "the same email as line 2;" in pipeline.error_rows(job)[0]["error"]
    assert len(sandbox.state()["contacts"]) == 2


def _seed_email_only_contact(sandbox, email: str) -> str:
    import requests

    response = requests.post(
        f"{sandbox.url}/contacts", json={"role": "user", "email": email}, headers=HEADERS, timeout=5
    )
    response.raise_for_status()
    sandbox.settle()  # a contact the workspace had before the import: search shows it (its search lag has passed)
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
    [contact] = sandbox.state()["contacts"]
    assert contact["external_id"] is None  # untouched


def test_tags_are_applied_in_bulk_with_the_automatic_import_tag(pipeline, sandbox):
    rows = ["email"] + [f"t{i}@example.com" for i in range(120)]
    job = pipeline.wait_done(
        pipeline.upload("incoming/f-tags.csv", "\n".join(rows) + "\n", tags="spring,vip", **{"auto-tag": "true"})
    )

    assert counts(job)["created"] == 120
    names = {t["name"] for t in sandbox.state()["tags"]}
    auto = f"import-{job['created_at'][:10]}-{job['job_id'][4:12]}"
    assert names == {"spring", "vip", auto}
    # each tag found or created once by the validator (its id: a re-import tags only contacts lacking it), then
    # 120 rows = 2 chunks of <=100: per chunk and tag one call for <=50 contacts -> 2 + 1 calls
    assert _calls(sandbox, "POST /tags") == 3 + 3 * (2 + 1)
    assert job["tag_ids"] == {t["name"]: t["id"] for t in sandbox.state()["tags"]}


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
    # 1 search, 1 create, 1 lookup of d1 (known only to the ledger: search lags) to compare the row with,
    # 1 update, 2 company attachments
    assert dry["api_calls"] + dry["prepare_calls"] == sandbox.stats()["total_requests"] == 10


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
    assert reader.fieldnames[-4:] == ["error_line", "error_column", "error", f"import {job['job_id']}"]
    assert again["fixes_job"] == job["job_id"]  # its last column names the import, whatever the file is called


def test_error_file_uploaded_again_under_its_name_keeps_the_imports_mapping_and_tags(pipeline, sandbox):
    mapping = {"columns": {"Customer Number": "external_id", "Internal": {"ignore": True}, "-Note": {"ignore": True}}}
    pipeline.upload("incoming/f-refix.csv.json", json.dumps({"tags": ["spring"], "mapping": mapping}))
    body = (
        "email,Customer Number,Internal,-Note\n"
        "m1@example.com,c-1,secret,x\n"
        "bad@,c-2,secret,y\n"
        "m3@example.com,c-3,secret,z,EXTRA\n"
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-refix.csv", body, **{"invalid-rows": "skip_rows"}))
    assert counts(job)["invalid"] == 2
    raw = pipeline.s3.get_object(Bucket=pipeline.bucket, Key=job["error_file_key"])["Body"].read().decode("utf-8-sig")
    header, bad, long = list(csv.reader(io.StringIO(raw)))
    # the header's formula-like cell is neutralised; a row with a cell too many keeps its error columns in place
    assert header == [
        "email",
        "Customer Number",
        "Internal",
        "'-Note",
        "error_line",
        "error_column",
        "error",
        f"import {job['job_id']}",
    ]
    assert bad[:5] == ["bad@", "c-2", "secret", "y", "3"]
    assert long[:5] == ["m3@example.com", "c-3", "secret", "z", "4"] and long[8:] == ["EXTRA"]
    assert "has 5 cells" in long[6]
    fixed = raw.replace("bad@,", "bad@example.com,").replace(",EXTRA", "")

    # uploaded under the name it downloads as: read with the first import's mapping and tags
    again = pipeline.wait_done(pipeline.upload(f"incoming/{job['job_id']}-errors.csv", fixed))

    assert counts(again) == {"rows": 2, "created": 2, "updated": 0, "skipped": 0, "failed": 0, "invalid": 0}
    assert again["fixes_job"] == job["job_id"] and again["options"]["tags"] == ["spring"]
    assert f"as job {job['job_id']}" in again["mapping_source"]
    contacts = {c["email"]: c for c in sandbox.state()["contacts"]}
    assert {e: c["external_id"] for e, c in contacts.items()} == {
        "m1@example.com": "c-1",
        "bad@example.com": "c-2",
        "m3@example.com": "c-3",
    }
    assert _custom_attributes(sandbox) == {}  # Internal and -Note stayed ignored
    tags = {t["id"]: t["name"] for t in sandbox.state()["tags"]}
    tagged = {pair["contact_id"] for pair in sandbox.state()["contact_tags"] if tags[pair["tag_id"]] == "spring"}
    assert tagged == {c["id"] for c in contacts.values()}


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


def test_people_company_columns_are_sent_typed_once_per_company_and_every_contact_attached(pipeline, sandbox):
    body = (
        "email,company_id,company_name,company_plan,company_size,company_website,company_industry,"
        "company_monthly_spend\n"
        "a@example.com,acme,Acme Ltd,Pro,250,https://acme.example.com,Manufacturing,1999.90\n"
        "b@example.com,acme,,,,,,\n"
        "c@example.com,globex,Globex,Starter,12,https://globex.example.com,Software,49\n"
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-co-columns.csv", body))

    assert job["status"] == "completed", job.get("rejection")
    assert counts(job)["created"] == 3
    assert _calls(sandbox, "POST /companies") == 2
    assert _calls(sandbox, "POST /contacts/{contact_id}/companies") == 3
    state = sandbox.state()
    fields = ("name", "size", "website", "industry", "monthly_spend")
    companies = {c["company_id"]: ({k: c.get(k) for k in fields}, c["plan"]["name"]) for c in state["companies"]}
    assert companies == {
        "acme": (
            {"name": "Acme Ltd", "size": 250, "website": "https://acme.example.com", "industry": "Manufacturing",
             "monthly_spend": 1999},
            "Pro",
        ),
        "globex": (
            {"name": "Globex", "size": 12, "website": "https://globex.example.com", "industry": "Software",
             "monthly_spend": 49},
            "Starter",
        ),
    }  # fmt: skip
    assert [c["custom_attributes"] for c in state["contacts"]] == [{}, {}, {}]  # nothing of the company on contacts
    assert _custom_attributes(sandbox) == {}


def test_company_attribute_names_in_a_people_file_are_contact_custom_attributes(pipeline, sandbox):
    body = "email,industry,plan,size,website\na@example.com,Retail,Gold,7,https://a.example.com\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-contact-industry.csv", body))

    assert job["status"] == "completed", job.get("rejection")
    assert _custom_attributes(sandbox) == {
        "industry": "string",
        "plan": "string",
        "size": "integer",
        "website": "string",
    }
    (contact,) = sandbox.state()["contacts"]
    assert contact["custom_attributes"] == {
        "industry": "Retail",
        "plan": "Gold",
        "size": 7,
        "website": "https://a.example.com",
    }
    assert sandbox.state()["companies"] == []


def test_people_file_under_skip_creates_only_missing_companies_and_dry_run_counts_the_same_calls(pipeline, sandbox):
    _post(sandbox, "/companies", {"company_id": "acme", "name": "Acme", "plan": "Pro", "size": 5})
    _seed_email_only_contact(sandbox, "d1@example.com")
    body = (
        "email,name,company_id,company_name,company_plan,company_size\n"
        "d1@example.com,One again,acme,Acme RENAMED,Enterprise,999\n"
        "d2@example.com,Two,acme,Acme RENAMED,,\n"
        "d3@example.com,Three,globex,Globex,Starter,12\n"
    )
    before = sandbox.state()
    dry = pipeline.wait_done(
        pipeline.upload("incoming/f-skip-co-dry.csv", body, existing="skip", **{"dry-run": "true"})
    )
    assert sandbox.state() == before

    sandbox.reset_stats()
    real = pipeline.wait_done(pipeline.upload("incoming/f-skip-co.csv", body, existing="skip"))

    assert counts(dry) == counts(real) == {**counts(real), "skipped": 1, "created": 2}
    # 2 company lookups, 1 company create (globex), 1 search, 2 contact creates, 2 attachments
    assert dry["api_calls"] + dry["prepare_calls"] == sandbox.stats()["total_requests"] == 8
    assert (_calls(sandbox, "GET /companies"), _calls(sandbox, "POST /companies")) == (2, 1)
    state = sandbox.state()
    companies = {c["company_id"]: (c["name"], c["plan"]["name"], c.get("size")) for c in state["companies"]}
    assert companies == {"acme": ("Acme", "Pro", 5), "globex": ("Globex", "Starter", 12)}
    ids = {c["company_id"]: c["id"] for c in state["companies"]}
    emails = {c["id"]: c["email"] for c in state["contacts"]}
    attached = {(emails[a["contact_id"]], a["company_id"]) for a in state["attachments"]}
    assert attached == {("d2@example.com", ids["acme"]), ("d3@example.com", ids["globex"])}


def test_user_role_row_without_email_or_external_id_is_an_invalid_row(pipeline, sandbox):
    body = "email,external_id,name,role\n,,Nobody,user\nv@example.com,,Valid,user\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-user-no-id.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    (error,) = pipeline.error_rows(job)
    assert (error["error_line"], error["error_column"]) == ("2", "role")
    assert "a user needs an email or external_id, and this row has neither" in error["error"]
    assert "set the role to 'lead'" in error["error"]
    assert [c["email"] for c in sandbox.state()["contacts"]] == ["v@example.com"]
    assert _calls(sandbox, "POST /contacts") == 1


def test_header_aliases_and_every_date_format_land_in_intercom(pipeline, sandbox):
    body = (
        "E-mail,Full name,Signed up,user_id\n"
        "ada@example.com,Ada Lovelace,03/04/2026,u-1\n"  # DD/MM/YYYY (day_first, the default): 3 April
        "grace@example.com,Grace Hopper,2026-03-01T09:30:00Z,u-2\n"  # ISO 8601 with Z
        "alan@example.com,Alan Turing,1767225600,u-3\n"  # unix seconds
        "kat@example.com,Katherine Johnson,1772582400123,u-4\n"  # unix milliseconds
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-aliases.csv", body))

    assert job["status"] == "completed", job.get("rejection")
    assert [(c["header"], c["target"], c["custom"]) for c in job["columns"]] == [
        ("E-mail", "email", False),
        ("Full name", "name", False),
        ("Signed up", "signed_up_at", False),
        ("user_id", "external_id", False),
    ]
    landed = {c["external_id"]: (c["email"], c["name"], c["signed_up_at"]) for c in sandbox.state()["contacts"]}
    assert landed == {
        "u-1": ("ada@example.com", "Ada Lovelace", 1775174400),  # 2026-04-03T00:00:00Z
        "u-2": ("grace@example.com", "Grace Hopper", 1772357400),  # 2026-03-01T09:30:00Z
        "u-3": ("alan@example.com", "Alan Turing", 1767225600),  # 2026-01-01T00:00:00Z
        "u-4": ("kat@example.com", "Katherine Johnson", 1772582400),  # 2026-03-04T00:00:00Z, ms truncated
    }
    assert _custom_attributes(sandbox) == {}


def test_companies_file_with_skip_leaves_existing_companies_untouched(pipeline, sandbox):
    first = "company_id,name,plan\nacme,Acme,Pro\n"
    pipeline.wait_done(pipeline.upload("incoming/f-co1.csv", first, **{"import-type": "companies"}))
    second = "company_id,name,plan\nacme,Acme Renamed,Enterprise\ninitech,Initech,Starter\n"
    job = pipeline.wait_done(
        pipeline.upload("incoming/f-co2.csv", second, **{"import-type": "companies", "existing": "skip"})
    )
    # once in a full run acme was not counted skipped: all the counts, the rows' errors and the companies say why
    seen = (counts(job), job.get("error_file_key") and pipeline.error_rows(job), sandbox.state()["companies"])
    assert (counts(job)["skipped"], counts(job)["created"]) == (1, 1), seen
    names = {c["company_id"]: c["name"] for c in sandbox.state()["companies"]}
    assert names == {"acme": "Acme", "initech": "Initech"}


def _after_the_second_of(sandbox, company_id: str) -> None:
    """Wait (at most 2 s) until the second after the company's created_at: an import started within it would count
    the company as its own create (``import_companies``: Intercom's created_at has whole seconds)."""
    [created_at] = [c["created_at"] for c in sandbox.state()["companies"] if c["company_id"] == company_id]
    deadline = time.monotonic() + 2.5
    while time.time() <= created_at + 1 and time.monotonic() < deadline:
        time.sleep(0.05)


def _post(sandbox, path: str, body: dict) -> dict:
    import requests

    response = requests.post(f"{sandbox.url}{path}", json=body, headers=HEADERS, timeout=5)
    response.raise_for_status()
    return response.json()


def _company_tags(sandbox) -> dict[str, set[str]]:
    state = sandbox.state()
    names = {t["id"]: t["name"] for t in state["tags"]}
    company_ids = {c["id"]: c["company_id"] for c in state["companies"]}
    tags: dict[str, set[str]] = {company_id: set() for company_id in company_ids.values()}
    for pair in state["company_tags"]:
        tags[company_ids[pair["company_id"]]].add(names[pair["tag_id"]])
    return tags


def test_companies_file_with_typed_custom_columns_stores_typed_values(pipeline, sandbox):
    body = (
        "company_id,name,Seats,ARR,Churned,Renewal Date,Region\n"
        "acme,Acme,12,99.5,yes,2026-12-01,EMEA\n"
        "globex,Globex,3,10,no,2027-01-15,APAC\n"
    )
    job = pipeline.wait_done(pipeline.upload("incoming/f-co-typed.csv", body, **{"import-type": "companies"}))

    assert job["status"] == "completed", job.get("rejection")
    assert counts(job)["created"] == 2
    assert _custom_attributes(sandbox) == {
        "Seats": "integer",
        "ARR": "float",
        "Churned": "boolean",
        "Renewal Date": "date",
        "Region": "string",
    }
    stored = {c["company_id"]: c["custom_attributes"] for c in sandbox.state()["companies"]}
    assert stored["acme"] == {"Seats": 12, "ARR": 99.5, "Churned": True, "Renewal Date": 1796083200, "Region": "EMEA"}
    assert stored["globex"] == {"Seats": 3, "ARR": 10.0, "Churned": False, "Renewal Date": 1799971200, "Region": "APAC"}
    assert [type(v) for v in stored["globex"].values()] == [int, float, bool, int, str]


def test_people_empty_cells_clear_mapped_columns_and_keep_the_others(pipeline, sandbox):
    seed = "email,name,phone,Tier,Seats\nc1@example.com,One,+1 202 555 0101,gold,4\n"
    pipeline.wait_done(pipeline.upload("incoming/f-clear-seed.csv", seed))
    manifest = {"mapping": {"columns": {"phone": {"empty": "clear"}, "Tier": {"empty": "clear"}}}}
    pipeline.upload("incoming/f-clear.csv.json", json.dumps(manifest))

    job = pipeline.wait_done(
        pipeline.upload("incoming/f-clear.csv", "email,name,phone,Tier,Seats\nc1@example.com,,,,\n")
    )

    assert counts(job)["updated"] == 1
    contact = sandbox.state()["contacts"][0]
    assert contact["phone"] is None  # cleared
    assert contact["name"] == "One"  # kept
    assert contact["custom_attributes"] == {"Seats": 4}  # Tier cleared, Seats kept


def test_companies_empty_cells_clear_mapped_columns_and_keep_the_others(pipeline, sandbox):
    seed = "company_id,name,industry,plan,Seats,Region\nacme,Acme,Retail,Pro,12,EMEA\n"
    pipeline.wait_done(pipeline.upload("incoming/f-co-clear-seed.csv", seed, **{"import-type": "companies"}))
    _after_the_second_of(sandbox, "acme")
    manifest = {
        "import_type": "companies",
        "mapping": {"columns": {"industry": {"empty": "clear"}, "Seats": {"empty": "clear"}}},
    }
    pipeline.upload("incoming/f-co-clear.csv.json", json.dumps(manifest))

    body = "company_id,name,industry,plan,Seats,Region\nacme,,,,,\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-co-clear.csv", body))

    assert job["status"] == "completed", job.get("rejection")
    assert counts(job) == {"rows": 1, "created": 0, "updated": 1, "skipped": 0, "failed": 0, "invalid": 0}
    company = sandbox.state()["companies"][0]
    assert company["industry"] == ""  # cleared (a non-nullable string in the 2.14 body)
    assert (company["name"], company["plan"]["name"]) == ("Acme", "Pro")  # kept
    assert company["custom_attributes"] == {"Region": "EMEA"}  # Seats cleared, Region kept


def test_companies_empty_clear_on_a_number_intercom_cannot_erase_is_refused(pipeline, sandbox):
    manifest = {"import_type": "companies", "mapping": {"columns": {"MRR": {"empty": "clear"}}}}
    pipeline.upload("incoming/f-co-clear-spend.csv.json", json.dumps(manifest))

    job = pipeline.wait_done(pipeline.upload("incoming/f-co-clear-spend.csv", "company_id,MRR\nacme,\n"))

    assert job["status"] == "rejected"
    assert "maps to 'monthly_spend'" in job["rejection"] and 'remove "empty": "clear"' in job["rejection"]
    assert sandbox.state()["companies"] == []


def test_unsubscribed_contact_is_resubscribed_only_when_the_mapping_allows_it(pipeline, sandbox):
    seed = "email,unsubscribed_from_emails\nu1@example.com,true\nu2@example.com,true\n"
    pipeline.wait_done(pipeline.upload("incoming/f-consent-seed.csv", seed))
    body = "email,unsubscribed_from_emails\nu1@example.com,false\nu2@example.com,\n"  # u2: an empty cell, cleared
    clear = {"unsubscribed_from_emails": {"empty": "clear"}}

    pipeline.upload("incoming/f-consent.csv.json", json.dumps({"mapping": {"columns": clear}}))
    guarded = pipeline.wait_done(pipeline.upload("incoming/f-consent.csv", body))

    # neither row may re-subscribe anyone: with nothing else in them, both are left unchanged
    assert (counts(guarded)["updated"], guarded["unchanged"]) == (0, 2)
    assert {c["email"]: c["unsubscribed_from_emails"] for c in sandbox.state()["contacts"]} == {
        "u1@example.com": True,
        "u2@example.com": True,
    }

    allowed = {"mapping": {"columns": clear, "allow_resubscribe": True}}
    pipeline.upload("incoming/f-consent-allowed.csv.json", json.dumps(allowed))
    allowed_job = pipeline.wait_done(pipeline.upload("incoming/f-consent-allowed.csv", body))
    assert counts(allowed_job)["updated"] == 2

    assert {c["email"]: c["unsubscribed_from_emails"] for c in sandbox.state()["contacts"]} == {
        "u1@example.com": False,
        "u2@example.com": False,
    }


def test_intercom_id_rows_update_skip_and_fail_alike_in_dry_and_real_runs(pipeline, sandbox):
    first = _seed_email_only_contact(sandbox, "id1@example.com")
    second = _seed_email_only_contact(sandbox, "id2@example.com")
    unknown = "0123456789abcdef01234567"
    update = f"id,name\n{first},Renamed\n{unknown},Nobody\n"
    skip = f"id,name\n{second},Renamed Too\n{unknown},Nobody\n"

    dry_update = pipeline.wait_done(pipeline.upload("incoming/f-id-dry.csv", update, **{"dry-run": "true"}))
    dry_skip = pipeline.wait_done(
        pipeline.upload("incoming/f-id-skip-dry.csv", skip, **{"dry-run": "true", "existing": "skip"})
    )
    real_update = pipeline.wait_done(pipeline.upload("incoming/f-id.csv", update))
    real_skip = pipeline.wait_done(pipeline.upload("incoming/f-id-skip.csv", skip, existing="skip"))

    outcome = {"rows": 2, "created": 0, "updated": 0, "skipped": 0, "failed": 1, "invalid": 0}
    assert counts(dry_update) == counts(real_update) == {**outcome, "updated": 1}
    assert counts(dry_skip) == counts(real_skip) == {**outcome, "skipped": 1}
    # no search for a chunk of `id` rows: the estimate is the calls the real run made
    assert (dry_update["api_calls"], dry_skip["api_calls"]) == (real_update["api_calls"], real_skip["api_calls"])
    names = {c["id"]: c["name"] for c in sandbox.state()["contacts"]}
    assert names == {first: "Renamed", second: None}
    for job in (real_update, real_skip):
        (error,) = pipeline.error_rows(job)
        assert error["error_column"] == "id"
        assert f"no Intercom contact has the id '{unknown}'" in error["error"] and "correct the id" in error["error"]


def test_companies_import_tags_the_companies_it_creates_or_updates(pipeline, sandbox):
    _post(sandbox, "/companies", {"company_id": "acme", "name": "Acme"})
    _after_the_second_of(sandbox, "acme")

    job = pipeline.wait_done(
        pipeline.upload(
            "incoming/f-co-tags.csv",
            "company_id,name\nacme,Acme\nglobex,Globex\n",
            tags="spring",
            **{"import-type": "companies", "auto-tag": "true"},
        )
    )

    assert counts(job) == {"rows": 2, "created": 1, "updated": 1, "skipped": 0, "failed": 0, "invalid": 0}
    auto = f"import-{job['created_at'][:10]}-{job['job_id'][4:12]}"
    assert _company_tags(sandbox) == {"acme": {"spring", auto}, "globex": {"spring", auto}}
    # each tag found or created once by the validator, then one bulk call per tag for the chunk's companies
    assert _calls(sandbox, "POST /tags") == 2 + 2

    skipped = pipeline.wait_done(
        pipeline.upload(
            "incoming/f-co-tags-skip.csv",
            "company_id,name\nacme,Acme\ninitech,Initech\n",
            tags="summer",
            **{"import-type": "companies", "existing": "skip"},
        )
    )

    assert (counts(skipped)["skipped"], counts(skipped)["created"]) == (1, 1)
    assert _company_tags(sandbox) == {"acme": {"spring", auto}, "globex": {"spring", auto}, "initech": {"summer"}}


def test_existing_skip_leaves_skipped_contacts_untagged_unattached_and_unwritten(pipeline, sandbox):
    pipeline.wait_done(
        pipeline.upload("incoming/f-skip-seed.csv", "email,external_id,name,Tier\nk1@example.com,k-1,Keep,gold\n")
    )
    body = (
        "email,external_id,name,Tier,company_id\n"
        "k1@example.com,k-1,Changed,platinum,acme\n"
        "k2@example.com,k-2,New,silver,acme\n"
    )

    job = pipeline.wait_done(pipeline.upload("incoming/f-skip.csv", body, existing="skip", tags="spring"))

    assert (counts(job)["skipped"], counts(job)["created"]) == (1, 1)
    state = sandbox.state()
    contacts = {c["email"]: c for c in state["contacts"]}
    tagged = {t["contact_id"] for t in state["contact_tags"]}
    attached = {a["contact_id"] for a in state["attachments"]}
    skipped, created = contacts["k1@example.com"], contacts["k2@example.com"]
    assert (skipped["name"], skipped["custom_attributes"]) == ("Keep", {"Tier": "gold"})
    assert skipped["id"] not in tagged and skipped["id"] not in attached
    # the created contact of the same chunk got all of it, so the skipped one was passed over, not missed
    assert (created["name"], created["custom_attributes"]) == ("New", {"Tier": "silver"})
    assert created["id"] in tagged and created["id"] in attached


def test_custom_attribute_checks_refuse_the_file_before_anything_is_written(pipeline, sandbox):
    _post(sandbox, "/data_attributes", {"name": "Account Tier", "model": "company", "data_type": "string"})
    for i in range(247):
        _post(sandbox, "/data_attributes", {"name": f"Seeded {i}", "model": "contact", "data_type": "string"})
    sandbox.reset_stats()
    # 248 of 250 in use: three new columns are one too many, and a company attribute's name is taken
    body = "email,Account Tier,Fresh One,Fresh Two,Fresh Three\na@example.com,gold,1,2,3\n"
    job = pipeline.wait_done(pipeline.upload("incoming/f-attribute-checks.csv", body))
    # a name Intercom refuses is stopped with the header, before the workspace is even read
    named = pipeline.wait_done(pipeline.upload("incoming/f-attribute-name.csv", "email,Price.Tier\na@example.com,x\n"))

    assert job["status"] == named["status"] == "rejected"
    assert "column 2 ('Account Tier'): 'Account Tier' is already a custom attribute of company data" in job["rejection"]
    assert (
        "would create 3 new custom attributes, but the workspace already has 248 of Intercom's maximum 250"
        in job["rejection"]
    )
    assert "column 2 ('Price.Tier')" in named["rejection"] and "may only contain letters" in named["rejection"]
    assert sandbox.state()["contacts"] == []
    assert _calls(sandbox, "POST /data_attributes") == _calls(sandbox, "POST /contacts") == 0
    [email] = pipeline.emails_for(job["job_id"])
    assert "Account Tier" in email["text"] and "maximum 250" in email["text"]


def test_values_outside_a_list_attributes_options_are_invalid_rows_naming_the_allowed_ones(pipeline, sandbox):
    options = [{"value": "gold"}, {"value": "silver"}]
    _post(sandbox, "/data_attributes", {"name": "Tier", "model": "contact", "data_type": "options", "options": options})
    body = "email,Tier\na@example.com,gold\nb@example.com,bronze\n"

    job = pipeline.wait_done(pipeline.upload("incoming/f-list-attr.csv", body, **{"invalid-rows": "skip_rows"}))

    assert counts(job) == {"rows": 2, "created": 1, "updated": 0, "skipped": 0, "failed": 0, "invalid": 1}
    (error,) = pipeline.error_rows(job)
    assert (error["error_line"], error["error_column"], error["Tier"]) == ("3", "Tier", "bronze")
    assert "use one of: gold, silver" in error["error"]
    [contact] = sandbox.state()["contacts"]
    assert contact["custom_attributes"] == {"Tier": "gold"}


def test_dry_run_under_skip_with_tags_estimates_exactly_what_the_real_run_spends(pipeline, sandbox):
    pipeline.wait_done(
        pipeline.upload("incoming/f-dry-skip-seed.csv", "email,external_id,name\ns1@example.com,s-1,One\n")
    )
    body = "email,external_id,name\ns1@example.com,s-1,One again\ns2@example.com,s-2,Two\ns3@example.com,s-3,Three\n"
    settings = {"existing": "skip", "tags": "spring,vip", "auto-tag": "true"}
    before = sandbox.state()
    sandbox.reset_stats()

    dry = pipeline.wait_done(pipeline.upload("incoming/f-dry-skip.csv", body, **settings, **{"dry-run": "true"}))

    assert sandbox.state() == before
    writes = {"POST /contacts", "PUT /contacts/{contact_id}", "POST /tags", "POST /data_attributes"}
    assert not writes & set(sandbox.stats()["by_route"])
    [email] = pipeline.emails_for(dry["job_id"])
    # a few calls: "taking under a second at the rate limit of 10,000 calls per minute"
    assert "taking under a second at the rate limit of 10,000 calls per minute" in email["text"]

    sandbox.reset_stats()
    real = pipeline.wait_done(pipeline.upload("incoming/f-real-skip.csv", body, **settings))

    assert (
        counts(dry) == counts(real) == {"rows": 3, "created": 2, "updated": 0, "skipped": 1, "failed": 0, "invalid": 0}
    )
    assert dry["api_calls"] + dry["prepare_calls"] == sandbox.stats()["total_requests"]
    names = {c["email"]: c["name"] for c in sandbox.state()["contacts"]}
    assert names == {"s1@example.com": "One", "s2@example.com": "Two", "s3@example.com": "Three"}


def test_a_new_column_empty_in_every_row_creates_no_attribute(pipeline, sandbox):
    body = "email,Seats,Notes Later\na@example.com,3,\nb@example.com,4,\n"

    job = pipeline.wait_done(pipeline.upload("incoming/f-empty-column.csv", body))

    assert counts(job)["created"] == 2
    assert _custom_attributes(sandbox) == {"Seats": "integer"}
    assert [a["name"] for a in job["new_attributes"]] == ["Seats"]
    [email] = pipeline.emails_for(job["job_id"])
    assert "Column 'Notes Later' is empty in every row, so no custom attribute was created for it" in email["text"]
