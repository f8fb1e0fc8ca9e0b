"""A file validated across several invocations (checkpoint, then continue) ends exactly as one pass.

The domain code runs against a moto server (S3, DynamoDB, SQS, Step Functions) and the Intercom sandbox
over HTTP. The invocation's deadline is a block count here (each invocation checks it once per block of
rows), so where a file is cut is exact and no test depends on the machine's speed; Lambda's
asynchronous self-invoke is a recorder whose events the test delivers (the local runtime test in
tests/e2e/test_continuation.py runs the real one).

What these tests are about is the files' block structure (checkpoints between blocks, chunks straddling them,
a duplicate blocks away from its first row, a type decided in the last block), not their size: the validator's
blocks of rows and the reader's byte blocks are made about ten times smaller here, and so are the files.
"""

from __future__ import annotations

import codecs
import gzip
import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from intercom_importer import csv_reader, jobs, keys
from intercom_importer.intercom import IntercomClient
from intercom_importer.validate import prepare, row_loop
from intercom_importer.validate.chunk_writer import ChunkWriter
from intercom_importer.validate.context import Clients
from intercom_importer.validate.deadline import NO_DEADLINE
from intercom_importer.validate.entry import handle_continue, handle_upload
from intercom_importer.validate.failure import handle_validator_failure
from intercom_importer.validate.sweep import sweep_abandoned
from intercom_importer.validate.upload import Upload
from intercom_sandbox import SandboxServer
from moto_server import ImporterAws, moto_server_fixture

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
REGION = "us-east-1"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:intercom-import-validate-test"
BLOCK_ROWS = 100  # the validator's blocks of rows (1,000 in production)
READ_BLOCK = 8 * 1024  # the reader's byte blocks (64 KiB in production): each file still spans several
ROWS = 520  # 5 full blocks of 100 rows and a short one
# Chunks straddle the blocks, so checkpoints fall inside a chunk (2, 5, 7, 8 and 9 rows pending at the five block
# ends of people_csv()), and a whole file is more chunks than the validator's chunk PUTs in flight (8).
CHUNK_ROWS = 30


moto_url = moto_server_fixture()


@pytest.fixture(scope="module", autouse=True)
def small_blocks() -> Iterator[None]:
    """The production code with smaller blocks (both constants are read when a file is read, not at import)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(row_loop, "BLOCK_ROWS", BLOCK_ROWS)
        patch.setattr(csv_reader, "BLOCK", READ_BLOCK)
        yield


@pytest.fixture(scope="module")
def intercom() -> Iterator[SandboxServer]:
    with SandboxServer(host="127.0.0.1", port=0) as server:
        yield server


class Recorder:
    """Lambda's Invoke API as the validator uses it (asynchronous self-invoke): keeps the events."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def invoke(self, *, FunctionName: str, InvocationType: str, Payload: bytes) -> dict[str, Any]:
        assert FunctionName == FUNCTION_ARN and InvocationType == "Event"
        self.events.append(json.loads(Payload))
        return {"StatusCode": 202}


class Blocks:
    """A deadline that passes after ``n`` blocks of rows (None: never)."""

    def __init__(self, n: int | None) -> None:
        self.left = n

    def expired(self) -> bool:
        if self.left is None:
            return False
        self.left -= 1
        return self.left <= 0


class Env:
    def __init__(self, moto_url: str, intercom_url: str) -> None:
        aws = ImporterAws(moto_url)
        self.s3, self.sqs, self.sfn, table = aws.s3, aws.sqs, aws.sfn, aws.table
        self.bucket, self.queue_url = aws.bucket, aws.queue_url
        self.settings = aws.settings(intercom_url, chunk_rows=CHUNK_ROWS, worker_threads=4)
        self.store = jobs.JobStore(table)
        self.lambda_ = Recorder()
        self.clients = Clients(
            s3=self.s3,
            sqs=self.sqs,
            sfn=self.sfn,
            intercom=lambda: IntercomClient("any-token", intercom_url),
            lambda_=self.lambda_,
        )
        self.invocations = 0

    def upload(self, key: str, data: bytes, **metadata: str) -> Upload:
        put = self.s3.put_object(Bucket=self.bucket, Key=key, Body=data, Metadata=metadata)
        return Upload(self.bucket, key, put.get("VersionId"), put["ETag"].strip('"'), len(data))

    def validate(self, upload: Upload, splits: list[int]) -> str:
        """Validate ``upload``, the first invocation stopping after splits[0] blocks, the next after splits[1]..."""
        budgets = iter(splits)
        job_id = self.start(upload, next(budgets, None))
        self.invocations = 1
        while self.lambda_.events:
            event = self.lambda_.events.pop(0)
            self.continue_(event, Blocks(next(budgets, None)))
        return job_id

    def whole_and_split(self, name: str, data: bytes, blocks: int = 5) -> tuple[dict[str, Any], dict[str, Any]]:
        """The outcomes of a dry run of ``data`` read in one invocation, and read with a checkpoint after each of its
        first ``blocks`` blocks (``self.invocations`` then counts the second's invocations)."""
        dry = {"dry-run": "true"}
        whole = self.outcome(self.validate(self.upload(f"incoming/{name}-whole.csv", data, **dry), [99]))
        split = self.outcome(self.validate(self.upload(f"incoming/{name}-split.csv", data, **dry), [1] * blocks))
        return whole, split

    def start(self, upload: Upload, blocks: int | None = 1) -> str:
        """The upload's first invocation, stopping after ``blocks`` blocks (None: never); its continuation
        event stays queued."""
        return str(
            handle_upload(
                upload,
                settings=self.settings,
                store=self.store,
                clients=self.clients,
                remaining_ms=lambda: 900_000,
                function_arn=FUNCTION_ARN,
                deadline=Blocks(blocks),
            )["job_id"]
        )

    def continue_(self, event: dict[str, Any], deadline: Any) -> dict[str, Any]:
        self.invocations += 1
        return handle_continue(
            event["continue"],
            settings=self.settings,
            store=self.store,
            clients=self.clients,
            remaining_ms=lambda: 900_000,
            function_arn=FUNCTION_ARN,
            deadline=deadline,
        )

    def outcome(self, job_id: str) -> dict[str, Any]:
        """What a job produced, without its id: the record's counts, the chunks' rows, the invalid rows."""
        job = self.store.get(job_id)
        chunks = []
        for index in range(1, job.chunks_total + 1):
            body = json.loads(self.s3.get_object(Bucket=self.bucket, Key=keys.chunk(job_id, index))["Body"].read())
            assert body["chunk"] == index
            chunks.append(body["rows"])
        invalid = b""
        if job.invalid_key:
            invalid = self.s3.get_object(Bucket=self.bucket, Key=job.invalid_key)["Body"].read()
        fields = (
            "status", "rows", "valid", "invalid", "blank_lines", "unrecognisable_rows", "skipped", "rows_read",
            "bytes_read", "problem_kinds", "problems_sample", "columns", "new_attributes", "companies_total",
            "chunks_total", "prepare_calls",
        )  # fmt: skip
        record = job.to_dict()
        return {"record": {f: record.get(f) for f in fields}, "chunks": chunks, "invalid": invalid.decode()}

    def checkpoint(self, job_id: str, seq: int) -> dict[str, Any]:
        """What checkpoint ``seq`` saved (its state file outlives the validation)."""
        return dict(json.loads(self.s3.get_object(Bucket=self.bucket, Key=keys.checkpoint(job_id, seq))["Body"].read()))

    def work_keys(self, job_id: str) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"work/{job_id}/checkpoints/")
        return [o["Key"] for o in listing.get("Contents", [])]


@pytest.fixture
def env(moto_url: str, intercom: SandboxServer) -> Env:
    return Env(moto_url, intercom.url)


def people_csv(rows: int = ROWS, *, delimiter: str = ",") -> str:
    """People with custom columns whose inferred type is decided late, bad rows and duplicates spread over
    the file, one duplicate of a row in the first block that appears in the fourth."""
    lines = [
        delimiter.join(["email", "name", "external_id", "seats", "score", "renewal", "company_id", "company_name"])
    ]
    for i in range(rows):
        email = f"user{i}@example.com"
        if i % 13 == 5:
            email = f"not-an-email-{i}"
        if i == 350:
            email = "user10@example.com"  # duplicates line 12, three blocks earlier
        if i == 410:
            email = "user409@example.com"  # duplicates the row just before
        score = "2.5" if i == 480 else str(i % 9)  # integer until the last block: float
        renewal = "2026-01-31" if i % 11 else ""
        company = f"co-{i % 40}" if i % 3 else ""
        lines.append(
            delimiter.join(
                [email, f"User {i} Müller", f"ext-{i}", str(i % 50), score, renewal, company, f"Company {company}"]
            )
        )
    return "\n".join(lines) + "\n"


def people_csv_with_blank_lines() -> tuple[str, list[int], int]:
    """``people_csv()`` with blank lines of every kind: right after the header, inside blocks, right after a block's
    last row (where a checkpoint stops), and at the end (an empty line, then spaces without a line break). With the
    physical line of each data row, and the number of blank lines."""
    header, *rows = people_csv().splitlines()
    before = {
        0: [""],
        57: ["   "],
        100: [",,,,,,,"],
        200: ['"","","","","","","",""', " \t "],
        250: ["\r"],
        300: ["", ""],
    }
    lines, physical = [header], []
    for i, row in enumerate(rows):
        lines += before.get(i, [])
        lines.append(row)
        physical.append(len(lines))
    blank_lines = sum(map(len, before.values())) + 2
    return "\n".join(lines) + "\n\n  ", physical, blank_lines


def people_csv_with_name_only_rows() -> tuple[str, int]:
    """``people_csv()`` where every 17th row (from the 4th) has neither email nor external_id: a valid row nothing
    can recognise again, in every block. With their number."""
    header, *rows = people_csv().splitlines()
    blanked = [i for i in range(len(rows)) if i % 17 == 3]
    for i in blanked:
        _email, name, _external_id, *rest = rows[i].split(",")
        rows[i] = ",".join(["", name, "", *rest])
    return "\n".join([header, *rows]) + "\n", len(blanked)


SPLITS = {"one checkpoint": [1], "two checkpoints": [1, 2], "a checkpoint per block": [1, 1, 1, 1, 1]}


@pytest.mark.parametrize("splits", list(SPLITS.values()), ids=list(SPLITS))
def test_file_validated_across_invocations_equals_one_pass(env: Env, splits: list[int]):
    data = people_csv().encode()
    whole = env.outcome(env.validate(env.upload("incoming/whole.csv", data, **{"dry-run": "true"}), [99]))

    job_id = env.validate(env.upload("incoming/split.csv", data, **{"dry-run": "true"}), splits)
    split = env.outcome(job_id)

    assert env.invocations == len(splits) + 1
    assert split == whole
    assert whole["record"]["status"] == jobs.IMPORTING and whole["record"]["rows"] == ROWS
    job = env.store.get(job_id)
    assert job.validate_invocations == len(splits) + 1 and job.checkpoint_seq == len(splits)
    assert all(env.checkpoint(job_id, seq)["pending"] for seq in range(1, len(splits) + 1))  # each inside a chunk


def test_blank_lines_are_no_rows_and_are_counted_once_across_checkpoints(env: Env):
    text, physical, blank_lines = people_csv_with_blank_lines()

    whole, split = env.whole_and_split("blank", text.encode())

    assert env.invocations == 6  # a checkpoint after each of the 5 full blocks
    assert split == whole
    assert blank_lines == 10
    assert (split["record"]["rows"], split["record"]["blank_lines"]) == (ROWS, 10)
    assert split["record"]["valid"] + split["record"]["invalid"] == ROWS
    valid_lines = [row["line"] for chunk in split["chunks"] for row in chunk]
    invalid_lines = [json.loads(entry)["line"] for entry in split["invalid"].splitlines()]
    assert sorted(valid_lines + invalid_lines) == physical  # every data row, at its line in the file


def test_rows_nothing_can_recognise_are_counted_once_across_checkpoints(env: Env):
    text, name_only = people_csv_with_name_only_rows()

    whole, split = env.whole_and_split("names", text.encode())

    assert env.invocations == 6  # a checkpoint after each of the 5 full blocks
    assert split == whole
    assert name_only == 31
    assert split["record"]["unrecognisable_rows"] == 31
    assert whole["record"]["rows"] == ROWS


def test_duplicate_split_from_its_first_row_by_a_checkpoint_is_still_reported(env: Env):
    job_id = env.validate(env.upload("incoming/dup.csv", people_csv().encode(), **{"dry-run": "true"}), [1, 1, 1])

    invalid = [json.loads(line) for line in env.outcome(job_id)["invalid"].splitlines()]
    duplicates = {
        r["line"]: r["problems"][0]["message"] for r in invalid if "duplicates" in r["problems"][0]["message"]
    }

    assert duplicates[352].startswith("duplicates an earlier row's email: the same email as line 12;")
    assert duplicates[412].startswith("duplicates an earlier row's email: the same email as line 411;")


def test_every_duplicate_is_one_kind_and_the_kinds_on_the_job_are_bounded(env: Env, monkeypatch):
    lines = ["email,signed_up_at"] + [f"p{i % 60}@example.com,2026-01-01" for i in range(120)]
    lines[5] = "not-an-email,2026-01-01"
    lines[7] = "p6@example.com,31/02/2026"
    data = ("\n".join(lines) + "\n").encode()
    email, date = (
        "email: is not a valid email address",
        "signed_up_at: is not a real calendar date when read as DD/MM/YYYY",
    )

    grouped = env.outcome(env.validate(env.upload("incoming/dups.csv", data, **{"dry-run": "true"}), [99]))
    monkeypatch.setattr(row_loop, "MAX_PROBLEM_KINDS", 2)
    bounded = env.outcome(env.validate(env.upload("incoming/dups-bounded.csv", data, **{"dry-run": "true"}), [99]))

    # 58 duplicates, each of another line, are one kind (the job record and the email's groups stay small)
    assert grouped["record"]["invalid"] == bounded["record"]["invalid"] == 60
    assert grouped["record"]["problem_kinds"] == {"email: duplicates an earlier row's email": 58, email: 1, date: 1}
    assert bounded["record"]["problem_kinds"] == {email: 1, date: 1, "other problems (see the error file)": 58}


def test_external_id_case_matters_for_duplicates_across_a_checkpoint_and_email_case_does_not(env: Env):
    lines = ["email,external_id"] + [f"p{i}@example.com,ext-{i}" for i in range(150)]
    lines[1] = "First@Example.com,ABC"
    lines[121] = "p120@example.com,abc"  # another person: external_id is case-sensitive in Intercom
    lines[131] = "p130@example.com, ABC "  # the same person as line 2
    lines[141] = " first@EXAMPLE.com ,ext-140"  # the same email as line 2
    data = ("\n".join(lines) + "\n").encode()

    job_id = env.validate(env.upload("incoming/id-case.csv", data, **{"dry-run": "true"}), [1])

    invalid = {
        r["line"]: [(p["column"], p["message"].split(":")[0]) for p in r["problems"]]
        for r in map(json.loads, env.outcome(job_id)["invalid"].splitlines())
    }
    assert env.invocations == 2
    assert invalid == {
        132: [("external_id", "duplicates an earlier row's external_id")],
        142: [("email", "duplicates an earlier row's email")],
    }


def test_people_file_companies_under_skip_keep_existing_ones_and_create_the_rest_with_attributes(
    env: Env, intercom: SandboxServer
):
    """The companies of a people file read across a checkpoint: their attributes travel in it, the existing
    company is only looked up, the new one is created with the first value given for each attribute."""
    suffix = uuid.uuid4().hex[:8]
    old, new = f"old-{suffix}", f"new-{suffix}"
    client = IntercomClient("any-token", intercom.url)
    client.upsert_company({"company_id": old, "name": "Old Name", "plan": "Basic", "size": 3})
    header = "email,company_id,company_name,company_plan,company_size,company_industry,company_monthly_spend"
    lines = [header, f"a-{suffix}@example.com,{new},New Co,Pro,,,", f"b-{suffix}@example.com,{old},Renamed,Gold,999,,"]
    lines += [f"p{i}-{suffix}@example.com,,,,,," for i in range(120)]
    lines += [f"c-{suffix}@example.com,{new},Other Name,Other Plan,12,Software,1999.99"]
    data = ("\n".join(lines) + "\n").encode()
    intercom.reset_stats()

    job_id = env.validate(env.upload(f"incoming/co-skip-{suffix}.csv", data, existing="skip"), [1])

    job = env.store.get(job_id)
    routes = intercom.stats()["by_route"]
    assert env.invocations == 2 and job.status == jobs.IMPORTING
    assert job.companies_total == 2
    assert sum(routes["GET /companies"].values()) == 2 and sum(routes["POST /companies"].values()) == 1
    assert job.prepare_calls == 3  # two lookups, one create
    found_old, found_new = client.find_company(old), client.find_company(new)
    assert found_old is not None and found_new is not None
    assert (found_old["name"], found_old["plan"]["name"], found_old["size"]) == ("Old Name", "Basic", 3)
    assert (found_new["name"], found_new["plan"]["name"], found_new["size"]) == ("New Co", "Pro", 12)
    assert (found_new["industry"], found_new["monthly_spend"]) == ("Software", 1999)
    ids = json.loads(env.s3.get_object(Bucket=env.bucket, Key=job.companies_key)["Body"].read())
    assert ids == {old: found_old["id"], new: found_new["id"]}


def test_inferred_type_decided_after_a_checkpoint_is_kept(env: Env):
    job_id = env.validate(env.upload("incoming/types.csv", people_csv().encode(), **{"dry-run": "true"}), [1, 1, 1, 1])

    types = {a["name"]: a["data_type"] for a in env.store.get(job_id).new_attributes}

    assert types == {"seats": "integer", "score": "float", "renewal": "date"}


@pytest.mark.parametrize(
    "encode",
    [
        lambda text: text.replace(",", "\t").encode("utf-16"),
        lambda text: gzip.compress(text.encode()),
        lambda text: gzip.compress(codecs.BOM_UTF8 + text.replace("\n", "\r\n").encode()),
    ],
    ids=["utf-16", "gzip", "gzip-utf-8-bom-crlf"],
)
def test_encoded_or_compressed_file_resumes_like_one_pass(env: Env, encode: Any):
    data = encode(people_csv())
    whole = env.outcome(env.validate(env.upload("incoming/whole.csv", data, **{"dry-run": "true"}), [99]))

    split = env.outcome(env.validate(env.upload("incoming/split.csv", data, **{"dry-run": "true"}), [2, 1, 1]))

    assert split == whole and whole["record"]["rows"] == ROWS


def test_repeated_continuation_event_is_a_no_op(env: Env):
    upload = env.upload("incoming/repeat.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload, 2)
    (event,) = env.lambda_.events
    env.lambda_.events.clear()

    first = env.continue_(event, Blocks(1))  # continues, then checkpoints again and hands over
    (following,) = env.lambda_.events
    last = env.continue_(following, NO_DEADLINE)
    again = env.continue_(event, NO_DEADLINE)  # the first event delivered twice
    late = env.continue_(following, NO_DEADLINE)  # the hand-over delivered twice, after the job was accepted

    assert first["outcome"] == "continued" and last["outcome"] == "accepted"
    assert again["duplicate"] and late["duplicate"]
    job = env.store.get(job_id)
    assert job.validate_invocations == 3 and job.rows == ROWS
    assert len(env.sfn.list_executions(stateMachineArn=env.settings.state_machine_arn)["executions"]) == 1


def test_continuation_event_repeated_while_its_checkpoint_is_held_is_a_no_op(env: Env):
    upload = env.upload("incoming/held.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload)
    (event,) = env.lambda_.events
    assert env.store.claim_checkpoint(job_id, 1, 600)  # a live invocation is reading from checkpoint 1

    repeated = env.continue_(event, NO_DEADLINE)

    assert repeated["duplicate"]
    assert env.store.get(job_id).status == jobs.VALIDATING


def test_upload_event_repeated_after_a_checkpoint_does_not_restart_the_file(env: Env):
    upload = env.upload("incoming/again.csv", people_csv().encode(), **{"dry-run": "true"})
    kwargs = dict(settings=env.settings, store=env.store, clients=env.clients, function_arn=FUNCTION_ARN)
    job_id = env.start(upload)
    (handover,) = env.lambda_.events
    env.store.update(job_id, {"lease_until": 0})  # even with its lease expired

    repeated = handle_upload(upload, remaining_ms=lambda: 900_000, deadline=NO_DEADLINE, **kwargs)

    # it goes on from the checkpoint (the hand-over may never have been sent), never from the start
    assert repeated["outcome"] == "accepted" and repeated["seq"] == 1
    assert env.continue_(handover, NO_DEADLINE)["duplicate"]  # the hand-over, when it comes, does nothing
    job = env.store.get(job_id)
    assert job.rows == ROWS and job.validate_invocations == 2


def test_invocation_dying_between_its_checkpoint_and_the_hand_over_is_taken_over_by_its_retry(env: Env):
    data = people_csv().encode()
    expected = env.outcome(env.validate(env.upload("incoming/whole.csv", data, **{"dry-run": "true"}), [99]))
    upload = env.upload("incoming/dies-at-hand-over.csv", data, **{"dry-run": "true"})
    env.start(upload)
    (first,) = env.lambda_.events
    env.lambda_.events.clear()
    env.continue_(first, Blocks(1))  # records checkpoint 2 and hands over ...
    env.lambda_.events.clear()  # ... but the hand-over is lost with the dying invocation

    retried = env.continue_(first, NO_DEADLINE)  # Lambda retries the dead invocation's event

    assert retried["outcome"] == "accepted" and retried["seq"] == 2
    assert env.outcome(retried["job_id"]) == expected


def test_checkpoint_records_progress_and_the_last_invocation_cleans_up(env: Env):
    upload = env.upload("incoming/progress.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload, 3)
    job = env.store.get(job_id)
    assert job.status == jobs.VALIDATING and job.rows_read == 300 and 0 < job.bytes_read < upload.size
    assert sorted(env.work_keys(job_id)) == [
        f"work/{job_id}/checkpoints/{n}" for n in ("0001-invalid.jsonl", "0001-seen.db", "0001.json")
    ]

    env.continue_(env.lambda_.events.pop(), NO_DEADLINE)

    assert env.work_keys(job_id) == [f"work/{job_id}/checkpoints/0001.json"]  # the small state file expires with work/
    assert env.store.get(job_id).bytes_read == upload.size


def test_rejected_file_split_by_checkpoints_deletes_every_chunk(env: Env):
    data = people_csv().encode()
    job_id = env.validate(env.upload("incoming/reject.csv", data, **{"invalid-rows": "reject_file"}), [1, 1])

    job = env.store.get(job_id)
    listing = env.s3.list_objects_v2(Bucket=env.bucket, Prefix=f"work/{job_id}/chunks/")

    # 40 bad emails (every 13th row from the 6th) and 2 duplicates are invalid; every valid row is counted skipped
    assert (job.status, job.invalid, job.valid, job.skipped) == (jobs.REJECTED, 42, ROWS - 42, ROWS - 42)
    assert listing.get("KeyCount", 0) == 0


def test_chunk_messages_carry_the_job_as_message_group(env: Env):
    job_id = env.validate(env.upload("incoming/group.csv", people_csv(150).encode(), **{"dry-run": "true"}), [])

    received = env.sqs.receive_message(
        QueueUrl=env.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["MessageGroupId"]
    )["Messages"]

    assert received and {m["Attributes"]["MessageGroupId"] for m in received} == {job_id}


# ------------------------------------------------------------------------------ chunk writer
class CountingS3:
    """The moto S3 client, with PUTs counted while in flight; one key can fail.

    ``hold``: the first PUTs wait until that many are in flight together (at most 10 s), then every PUT goes
    through: a writer that overlaps its PUTs reaches the count whatever the machine's speed, one that does not
    stays below it."""

    def __init__(self, s3: Any, fail_key: str | None = None, *, hold: int = 0) -> None:
        self._s3 = s3
        self.fail_key = fail_key
        self.in_flight = 0
        self.peak = 0
        self._hold = hold
        self._gate = threading.Condition()

    def put_object(self, **kwargs: Any) -> Any:
        with self._gate:
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            if self.in_flight >= self._hold:
                self._hold = 0  # open for good
                self._gate.notify_all()
            if not self._gate.wait_for(lambda: self._hold == 0, timeout=10):
                self._hold = 0  # the writer does not overlap its PUTs: the peak tells; the rest go through
                self._gate.notify_all()
        try:
            if kwargs["Key"] == self.fail_key:
                raise ClientError(
                    {"Error": {"Code": "SlowDown", "Message": "Please reduce your request rate"}}, "PutObject"
                )
            return self._s3.put_object(**kwargs)
        finally:
            with self._gate:
                self.in_flight -= 1


def write_rows(writer: ChunkWriter, rows: int) -> None:
    for line in range(2, rows + 2):
        writer.add(line, [f"u{line}@example.com"], {"email": f"u{line}@example.com"})


def test_chunk_writer_writes_every_chunk_in_order_with_bounded_puts_in_flight(env: Env):
    s3 = CountingS3(env.s3, hold=4)
    writer = ChunkWriter(s3, env.bucket, "job-writer", 10, in_flight=4)

    write_rows(writer, 195)
    total = writer.flush()
    writer.close()

    assert total == 20
    assert s3.peak == 4  # the first four PUTs overlapped, and never more than four
    first_lines = []
    for index in range(1, total + 1):
        body = json.loads(env.s3.get_object(Bucket=env.bucket, Key=keys.chunk("job-writer", index))["Body"].read())
        first_lines.append(body["rows"][0]["line"])
    assert first_lines == list(range(2, 197, 10))


def test_chunk_writer_raises_a_failed_put(env: Env):
    s3 = CountingS3(env.s3, fail_key=keys.chunk("job-failing", 7))
    writer = ChunkWriter(s3, env.bucket, "job-failing", 10, in_flight=4)

    with pytest.raises(ClientError, match="SlowDown"):
        write_rows(writer, 200)
        writer.flush()
    writer.close()


def test_continuation_that_fails_after_retries_ends_the_job_failed_with_its_email(env: Env):
    upload = env.upload("incoming/dies.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload)
    (event,) = env.lambda_.events
    record = {
        "requestPayload": event,
        "responsePayload": {"errorType": "Sandbox.Timedout", "errorMessage": "timed out"},
    }
    failure = dict(settings=env.settings, store=env.store, clients=env.clients)

    # the dead invocation's lease outlives it by up to 30 s: the failure waits (SQS asks again)
    held = handle_validator_failure(record, **failure)
    env.store.update(job_id, {"lease_until": 0})  # ... until it has expired
    outcomes = handle_validator_failure(record, **failure)
    repeated = handle_validator_failure(record, **failure)

    assert held == [{"job_id": job_id, "outcome": "held"}]
    assert outcomes == [{"job_id": job_id, "outcome": "failed"}]
    assert repeated == [{"job_id": job_id, "outcome": "already-handled"}]
    job = env.store.get(job_id)
    assert job.status == jobs.FAILED and "Sandbox.Timedout" in job.failure["message"]
    executions = env.sfn.list_executions(stateMachineArn=env.settings.state_machine_arn)["executions"]
    assert [e["name"] for e in executions] == [job_id]
    assert env.continue_(event, NO_DEADLINE)["duplicate"]  # a late retry of the dead continuation does nothing


def test_takeover_that_dies_too_still_ends_in_one_email(env: Env):
    upload = env.upload("incoming/takeover-dies.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload)
    (first,) = env.lambda_.events
    env.lambda_.events.clear()
    env.continue_(first, Blocks(1))  # checkpoint 2 recorded; its hand-over is lost
    env.lambda_.events.clear()
    assert env.store.claim_checkpoint(job_id, 2, 600)  # a retry of the first event took checkpoint 2 over ...
    env.store.update(job_id, {"lease_until": 0})  # ... and died as well
    record = {"requestPayload": first, "responsePayload": {"errorType": "Runtime.ExitError"}}

    outcomes = handle_validator_failure(record, settings=env.settings, store=env.store, clients=env.clients)

    assert outcomes == [{"job_id": job_id, "outcome": "failed"}]  # nobody holds checkpoint 2: the job ends
    assert env.store.get(job_id).status == jobs.FAILED


def test_final_invocation_dying_while_preparing_intercom_is_finished_by_its_retry(
    env: Env, intercom: SandboxServer, monkeypatch: pytest.MonkeyPatch
):
    data = people_csv().encode()
    expected = env.outcome(env.validate(env.upload("incoming/prepared.csv", data), [99]))
    intercom.reset()  # the same empty workspace for the second import (its custom attributes again new)

    class Killed(BaseException):  # not an Exception: nothing in the validator may catch it, as with a kill
        pass

    def killed(*args, **kwargs):
        raise Killed

    upload = env.upload("incoming/killed-preparing.csv", data)
    job_id = env.start(upload)
    (event,) = env.lambda_.events
    with monkeypatch.context() as patch:
        patch.setattr(prepare, "_upsert_companies", killed)
        with pytest.raises(Killed):
            env.continue_(event, NO_DEADLINE)  # read to the end, then died preparing Intercom
    env.store.update(job_id, {"lease_until": 0})

    retried = env.continue_(event, NO_DEADLINE)  # Lambda's retry of the same event

    assert retried["outcome"] == "accepted"
    outcome = env.outcome(job_id)
    # Each import lists both models' attributes (2 calls), creates its 3 custom attributes (seats, score, renewal)
    # and upserts its 40 companies (co-0 .. co-39). The dead attempt had created the attributes already: each of
    # the retry's creates is refused as a duplicate and followed by a listing that finds it (2 calls each).
    assert expected["record"].pop("prepare_calls") == 2 + 3 + 40
    assert outcome["record"].pop("prepare_calls") == 2 + 3 * 2 + 40
    assert outcome == expected


def test_sweep_fails_only_validations_nobody_holds(env: Env):
    ids = {}
    for name in ("abandoned", "held", "done"):
        upload = env.upload(f"incoming/sweep-{name}.csv", people_csv().encode(), **{"dry-run": "true"})
        ids[name] = env.start(upload)
    env.store.update(ids["abandoned"], {"lease_until": 0})
    env.store.update(ids["done"], {"lease_until": 0, "status": jobs.IMPORTING})

    failed = sweep_abandoned(settings=env.settings, store=env.store, clients=env.clients)
    again = sweep_abandoned(settings=env.settings, store=env.store, clients=env.clients)

    assert failed == [ids["abandoned"]] and again == []
    assert env.store.get(ids["abandoned"]).status == jobs.FAILED
    assert env.store.get(ids["held"]).status == jobs.VALIDATING
    assert env.store.get(ids["done"]).status == jobs.IMPORTING
    executions = env.sfn.list_executions(stateMachineArn=env.settings.state_machine_arn)["executions"]
    assert ids["abandoned"] in {e["name"] for e in executions}


def test_upload_event_failing_after_a_checkpoint_leaves_the_job_to_its_continuation(env: Env):
    upload = env.upload("incoming/handed-over.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload)
    s3_record = {"s3": {"bucket": {"name": env.bucket}, "object": {"key": upload.key, "versionId": upload.version_id}}}
    record = {"requestPayload": {"Records": [s3_record]}, "responsePayload": {"errorType": "Runtime.ExitError"}}

    failure = dict(settings=env.settings, store=env.store, clients=env.clients)

    while_held = handle_validator_failure(record, **failure)  # the continuation may be at work
    continued = env.continue_(env.lambda_.events.pop(), NO_DEADLINE)
    after = handle_validator_failure(record, **failure)  # SQS asks again later

    assert while_held == [{"job_id": job_id, "outcome": "held"}]
    assert continued["outcome"] == "accepted"
    assert after == [{"job_id": job_id, "outcome": "already-handled"}]
    assert env.store.get(job_id).status == jobs.IMPORTING


def test_last_continuation_failing_to_start_the_job_is_finished_by_its_retry(env: Env):
    upload = env.upload("incoming/start-fails-late.csv", people_csv().encode(), **{"dry-run": "true"})
    job_id = env.start(upload)
    (event,) = env.lambda_.events
    env.lambda_.events.clear()
    sfn = env.clients.sfn

    class Throttled:
        def __getattr__(self, name: str) -> Any:
            return getattr(sfn, name)

        def start_execution(self, **kwargs: Any) -> Any:
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "StartExecution")

    env.clients.sfn = Throttled()
    with pytest.raises(ClientError, match="ThrottlingException"):
        env.continue_(event, NO_DEADLINE)  # read to the end, then StartExecution fails after boto's retries
    env.clients.sfn = sfn
    job = env.store.get(job_id)
    assert job.status == jobs.IMPORTING and job.handover == jobs.HANDOVER_PENDING

    retried = env.continue_(event, NO_DEADLINE)  # Lambda's retry: the checkpoint is taken, the hand-over is not
    late = env.continue_(event, NO_DEADLINE)

    assert retried["outcome"] == "accepted" and retried["resumed"]
    assert late["duplicate"]
    assert [
        e["name"] for e in env.sfn.list_executions(stateMachineArn=env.settings.state_machine_arn)["executions"]
    ] == [job_id]
    job = env.store.get(job_id)
    assert job.handover == jobs.HANDOVER_DONE and job.chunks_queued == job.chunks_total
    assert job.validate_invocations == 2  # the retry read nothing again
