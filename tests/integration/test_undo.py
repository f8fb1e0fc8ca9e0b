"""Undoing an import (``intercom_importer.undo``) against moto server (jobs table, bucket) and the Intercom sandbox over
HTTP, with the real ``IntercomClient`` paced by the workers' governor on the jobs table.

The import is not run: its job record and change log are written as the worker writes them (``undo_world``), and
the sandbox is seeded as the import left it. Each test then undoes it and looks at what Intercom holds, what the
client wrote (``Writes``), the undo's records and the one email.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from intercom_importer.changelog import CONTACT, Change
from intercom_importer.errors import EmailSendError, JobNotFoundError, UndoRefusedError
from intercom_importer.governor import DynamoDBGovernor
from intercom_importer.intercom import IntercomClient
from intercom_importer.jobs import JobStore
from intercom_importer.ratelimit import NullRateLimiter
from intercom_importer.undo import Undo, UndoResult, undo_import
from intercom_sandbox import SandboxServer
from moto_server import ImporterAws, moto_server_fixture
from undo_world import Crash, Seeded, Writes, company_row, contact_of, seed_intercom, write_job, write_log

pytestmark = pytest.mark.integration

moto_url = moto_server_fixture()
JOB = "job-0123456789abcdef0123"


class World:
    """One test's stack: the jobs table and bucket on moto, the sandbox as the import left it, the emails sent."""

    def __init__(self, moto_url: str, sandbox: SandboxServer) -> None:
        self.aws = ImporterAws(moto_url)
        self.store = JobStore(self.aws.table)
        self.sandbox = sandbox
        self.emails: list[Mapping[str, Any]] = []
        self.fail_email = False
        seeder = IntercomClient("seed-token", sandbox.url, limiter=NullRateLimiter())
        self.seeded: Seeded = seed_intercom(seeder)
        self.sessions: list[Writes] = []

    def send(self, message: Mapping[str, Any]) -> str:
        if self.fail_email:
            raise EmailSendError("SES said no")
        self.emails.append(message)
        return f"message-{len(self.emails)}"

    def client(self, crash_after: int | None = None) -> IntercomClient:
        """The client under test, paced by the governor every worker uses (on the jobs table); its writes kept."""
        session = Writes(crash_after)
        self.sessions.append(session)
        governor = DynamoDBGovernor.per_minute(self.aws.table, 10_000, app="undo-test")
        return IntercomClient("undo-token", self.sandbox.url, session=session, limiter=governor)

    def undo(self, *, dry_run: bool = False, crash_after: int | None = None) -> UndoResult:
        work = Undo(
            self.store, self.aws.s3, self.aws.bucket, self.client(crash_after), self.send, ("stack@example.com",)
        )
        return undo_import(work, JOB, dry_run=dry_run)

    def written(self) -> list[tuple[str, str, Any]]:
        return [w for session in self.sessions for w in session.sent]

    def contact(self, contact_id: str) -> dict[str, Any]:
        return contact_of(self.sandbox.state(), contact_id)


@pytest.fixture
def w(moto_url: str, sandbox: SandboxServer) -> Iterator[World]:
    world = World(moto_url, sandbox)
    write_job(world.store, JOB, world.aws.bucket)
    write_log(world.store, world.aws.s3, world.aws.bucket, JOB, world.seeded.changes)
    yield world


def left(result: UndoResult) -> dict[tuple[int, str | None], str]:
    return {(entry.line, entry.field): entry.reason for entry in result.tally.left}


# ------------------------------------------------------------------------------------------------ restore


def test_undo_puts_each_changed_value_back_in_one_put_per_contact(w: World):
    w.undo()

    ada = w.contact(w.seeded.ada)
    assert (ada["name"], ada["phone"]) == ("Ada", None)
    assert ada["custom_attributes"] == {"plan": "free", "seats": 10}
    puts = [body for method, path, body in w.written() if method == "PUT" and path.endswith(w.seeded.ada)]
    assert puts == [{"name": "Ada", "phone": None, "custom_attributes": {"plan": "free", "seats": 10}}]


def test_a_value_changed_in_intercom_since_the_import_is_left_alone_with_both_values(w: World):
    result = w.undo()

    cy = w.contact(w.seeded.cy)
    assert cy["name"] == "Cyrus Smith"
    assert (
        left(result)[(4, "name")]
        == "changed in Intercom since the import (now 'Cyrus Smith', the import wrote 'Cyrus')"
    )


def test_an_email_shown_in_another_case_is_the_import_s_value_and_is_restored(w: World):
    w.undo()

    assert w.contact(w.seeded.cy)["email"] == "cy@old.example"


def test_a_value_already_back_to_its_before_value_is_counted_restored_without_a_write(w: World):
    IntercomClient("t", w.sandbox.url).update_contact(w.seeded.ada, {"name": "Ada"})  # someone put it back by hand

    result = w.undo()

    puts = [body for method, path, body in w.written() if method == "PUT" and path.endswith(w.seeded.ada)]
    assert "name" not in puts[0]
    assert result.tally.already_restored == 1
    assert w.contact(w.seeded.ada)["name"] == "Ada"


def test_the_company_the_import_attached_is_detached_and_its_tag_removed(w: World):
    result = w.undo()

    state = w.sandbox.state()
    assert {"contact_id": w.seeded.ada, "company_id": w.seeded.company} not in state["attachments"]
    assert not [t for t in state["contact_tags"] if t["contact_id"] == w.seeded.ada]
    assert ("DELETE", f"/contacts/{w.seeded.ada}/tags/{w.seeded.tag}", None) in w.written()  # the id found by name
    assert result.tally.contacts_restored == 2  # Ada and Cy


# ------------------------------------------------------------------------------------------------ created


def test_a_contact_the_import_created_is_archived_never_deleted(w: World):
    result = w.undo()

    bea = w.contact(w.seeded.bea)
    assert bea["archived"] is True
    assert ("POST", f"/contacts/{w.seeded.bea}/archive", None) in w.written()
    assert [m for m, path, _ in w.written() if w.seeded.bea in path] == ["POST"]
    assert result.tally.archived == 1


def test_a_created_contact_changed_since_is_kept_and_each_change_reported(w: World):
    result = w.undo()

    assert w.contact(w.seeded.dee)["archived"] is False
    assert left(result)[(5, "name")] == (
        "changed in Intercom since the import (now 'Deanna', the import wrote 'Dee'): the contact this import "
        "created is kept, not archived"
    )


def test_a_created_contact_gone_from_intercom_is_undone_already(w: World):
    IntercomClient("t", w.sandbox.url).archive_contact(w.seeded.bea)

    result = w.undo()

    assert not [path for _, path, _ in w.written() if w.seeded.bea in path]
    assert (result.tally.archived, result.tally.already_restored) == (1, 1)


# ------------------------------------------------------------------------------------------------ left alone


def test_role_company_rows_and_unknown_before_values_are_left_alone_with_their_reason(w: World):
    more = [
        Change(CONTACT, w.seeded.ada, "updated", fields={"role": ["lead", "user"]}, line=6),
        company_row(w.seeded.company, 7),
        Change(CONTACT, w.seeded.cy, "updated", fields={"name": [None, "X"]}, line=8, before_known=False),
    ]
    write_log(w.store, w.aws.s3, w.aws.bucket, JOB, more, per_chunk=10, first=3)  # after the seeded chunks 1 and 2

    reasons = left(w.undo())

    assert reasons[(6, "role")] == "Intercom cannot turn a user back into a lead: the contact stays a user"
    assert reasons[(7, None)].startswith("a company this import updated: companies are written without reading them")
    assert reasons[(8, None)].startswith("the values this import replaced are not known")
    assert w.contact(w.seeded.ada)["role"] == "user"


# ------------------------------------------------------------------------------------------------ records, email


def test_the_undo_is_a_job_of_its_own_and_the_import_records_when_it_was_undone(w: World):
    result = w.undo()

    job, record = w.store.get(JOB), w.store.get(f"{JOB}-undo")
    assert (job.undone_at, job.undo_job_id) == (result.undone_at, f"{JOB}-undo")
    assert (record.status, record.import_type, record.undo_of, record.chunks_done) == ("completed", "undo", JOB, 2)
    assert (record.extra["restored"], record.extra["archived"], record.extra["left_alone"]) == (7, 1, 2)


def test_one_email_says_what_was_restored_archived_and_left_alone_and_why(w: World):
    result = w.undo()

    assert len(w.emails) == 1
    email = w.emails[0]
    assert email["to"] == ["ops@example.com"]  # the import's recipients
    assert email["subject"] == "Import undone: people.csv (7 values restored, 1 contact archived, 2 left alone)"
    assert f"- line 4, {w.seeded.cy}, name: changed in Intercom since the import (now 'Cyrus Smith'" in email["text"]
    assert "now &#x27;Cyrus Smith&#x27;" in email["html"]  # escaped
    assert result.email["status"] == "sent"


def test_a_refused_email_is_sent_by_the_next_run_which_writes_nothing_else(w: World):
    w.fail_email = True
    with pytest.raises(EmailSendError):
        w.undo()
    assert not w.store.get(JOB).undone_at
    before = len(w.written())
    w.fail_email = False

    w.undo()

    assert len(w.emails) == 1
    assert w.written()[before:] == []
    assert w.store.get(JOB).undone_at


# ------------------------------------------------------------------------------------------------ exactly once


@pytest.mark.parametrize("crash_after", [1, 2, 4])
def test_a_crash_midway_then_a_rerun_finishes_without_writing_anything_twice(w: World, crash_after: int):
    with pytest.raises(Crash):
        w.undo(crash_after=crash_after)
    assert not w.emails

    result = w.undo()

    writes = w.written()
    assert len(writes) == len(set((m, p) for m, p, _ in writes))  # no call repeated ...
    fields = [(p, name) for m, p, body in writes if m == "PUT" for name in body]
    assert len(fields) == len(set(fields))  # ... and no field PUT twice
    assert (w.contact(w.seeded.ada)["name"], w.contact(w.seeded.bea)["archived"]) == ("Ada", True)
    assert (result.tally.restored, result.tally.archived, len(w.emails)) == (7, 1, 1)


def test_a_second_undo_changes_nothing_and_says_it_was_undone_already(w: World):
    first = w.undo()
    before = len(w.written())

    second = w.undo()

    assert second.already_undone and second.undone_at == first.undone_at
    assert w.written()[before:] == []
    assert len(w.emails) == 1


def test_the_undo_draws_from_the_workers_shared_rate_budget(w: World):
    w.undo()

    windows = [i for i in w.aws.table.scan()["Items"] if str(i["pk"]).startswith("RATE#")]
    assert windows and sum(int(i["used"]) for i in windows) > 0


class CheckedEarly(JobStore):
    """The job store of a run whose check of a chunk came before another run recorded it: nothing recorded."""

    def is_chunk_recorded(self, job_id: str, index: int) -> bool:
        return False


def test_a_run_that_loses_a_chunk_s_record_deletes_its_tally_and_sums_up_the_recorded_ones(w: World):
    with pytest.raises(Crash):
        w.undo(crash_after=4)  # chunk 1 (Ada's three writes, Bea's archive) undone and recorded; chunk 2 not
    assert w.store.get(f"{JOB}-undo").chunks_done == 1
    late = Undo(CheckedEarly(w.aws.table), w.aws.s3, w.aws.bucket, w.client(), w.send, ("stack@example.com",))

    result = undo_import(late, JOB)  # undoes chunk 1 again (finds it all restored) and loses its record

    record = w.store.get(f"{JOB}-undo")
    names = ("restored", "contacts_restored", "archived", "already_restored", "left_alone", "write_calls")
    assert {n: getattr(result.tally, n) for n in names} == {n: record.extra[n] for n in names}
    assert (result.tally.restored, result.tally.archived, result.tally.already_restored) == (7, 1, 0)
    listed = w.aws.s3.list_objects_v2(Bucket=w.aws.bucket, Prefix=f"reports/{JOB}-undo/undone/")["Contents"]
    assert {o["Key"] for o in listed} == {c.result_key for c in w.store.chunk_records(f"{JOB}-undo")}


# ------------------------------------------------------------------------------------------------ dry run, refusals


def test_a_dry_run_reads_and_counts_but_writes_nothing_anywhere(w: World):
    before = w.sandbox.state()

    result = w.undo(dry_run=True)

    assert w.written() == []
    assert w.sandbox.state() == before
    assert (result.tally.restored, result.tally.archived, result.tally.left_alone) == (7, 1, 2)
    assert result.tally.write_calls == 5  # Ada's PUT, detach, untag; Cy's PUT; Bea's archive
    with pytest.raises(JobNotFoundError):
        w.store.get(f"{JOB}-undo")
    assert not w.store.get(JOB).undone_at


@pytest.mark.parametrize(
    ("fields", "says"),
    [
        ({"status": "importing"}, "is not finished (status importing)"),
        ({"dry_run": True}, "was a dry run"),
        ({"undo_of": "job-other", "import_type": "undo"}, "is an undo (of job-other)"),
    ],
)
def test_a_job_that_cannot_be_undone_is_refused_before_any_call(w: World, fields: dict[str, Any], says: str):
    w.store.update(JOB, fields)

    with pytest.raises(UndoRefusedError, match=says.replace("(", r"\(").replace(")", r"\)")):
        w.undo()
    assert w.written() == []


def test_a_job_without_a_change_log_is_refused(w: World):
    write_job(w.store, "job-nothing", w.aws.bucket)
    work = Undo(w.store, w.aws.s3, w.aws.bucket, w.client(), w.send)

    with pytest.raises(UndoRefusedError, match="has no change log"):
        undo_import(work, "job-nothing")


def test_tags_are_looked_up_by_name_once_when_the_log_lacks_their_id(w: World):
    w.sandbox.reset_stats()

    w.undo()

    assert w.sandbox.stats()["by_route"]["GET /tags"] == {"200": 1}


# ------------------------------------------------------------------------------------------------ one run at once


def test_a_second_run_while_the_first_holds_the_lease_is_refused_and_writes_nothing(w: World):
    running = Undo(w.store, w.aws.s3, w.aws.bucket, w.client(), w.send, holder="first-run")
    w.store.create("job-0123456789abcdef0123-undo", {"status": "undoing", "import_type": "undo", "undo_of": JOB})
    assert w.store.hold("job-0123456789abcdef0123-undo", running.holder, 600)  # the first run is under way

    with pytest.raises(UndoRefusedError, match=r"another run of this undo .* is under way"):
        w.undo()

    assert w.written() == [] and w.emails == []
    assert w.store.get(JOB).undone_at is None


def test_a_run_whose_lease_has_run_out_is_taken_over_and_finishes_the_undo(w: World):
    w.store.create("job-0123456789abcdef0123-undo", {"status": "undoing", "import_type": "undo", "undo_of": JOB})
    assert w.store.hold("job-0123456789abcdef0123-undo", "a-run-that-died", -1)  # its lease ran out

    result = w.undo()

    assert result.undone_at and len(w.emails) == 1
    assert w.store.get("job-0123456789abcdef0123-undo").lease_until == 0  # released when finished
