"""People rows nothing can recognise again (issue #12): which rows they are (``ledger.recognisable``), and their
count carried by a validation checkpoint like every other count."""

from __future__ import annotations

import io
import json
from collections import Counter
from typing import Any

import pytest

from intercom_importer.csv_reader import CsvStream
from intercom_importer.ledger import recognisable
from intercom_importer.options import ImportOptions
from intercom_importer.validate.checkpoint import Checkpoint
from intercom_importer.validate.state import ReadPlan, ReadState
from intercom_importer.validate.upload import Upload

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    "record",
    [
        {"email": "ada@example.com"},
        {"external_id": "u-1", "name": "Ada"},
        {"id": "6650aa0c1f2e3d4c5b6a7980"},
        {"name": "Ada Lovelace", "phone": "+44 20 7946 0958"},
        {"email": "ada@example.com", "phone": "+44 20 7946 0958"},
    ],
    ids=["email", "external_id", "Intercom id", "phone with a name", "email and phone"],
)
def test_a_row_with_an_id_an_identifier_or_a_phone_with_its_name_is_recognisable(record: dict[str, Any]):
    assert recognisable(record)


@pytest.mark.parametrize(
    "record",
    [
        {"name": "Ada Lovelace"},
        {"name": "Ada Lovelace", "plan": "pro", "company_id": "acme"},
        {"phone": "+44 20 7946 0958"},
        {"name": "Ada Lovelace", "phone": "no phone"},
        {"name": "Ada Lovelace", "email": None, "external_id": "", "id": None},
    ],
    ids=["only a name", "a name and attributes", "a phone without a name", "a phone without digits", "empty values"],
)
def test_a_row_without_any_of_them_is_not_recognisable(record: dict[str, Any]):
    assert not recognisable(record)


def test_a_checkpoint_carries_the_count_of_rows_nothing_can_recognise():
    stream = CsvStream(io.BytesIO(b"email,name\n,Ada\n"))
    next(iter(stream))  # a checkpoint is taken between rows
    plan = ReadPlan("job-1", Upload("bucket", "incoming/a.csv", None, "etag", 16), "people", options(), [], [], False)
    state = ReadState(counts=Counter(rows=7, valid=6, invalid=1, unrecognisable=4))

    saved = json.dumps(Checkpoint(1, plan, state, stream.checkpoint()).to_item())  # as the checkpoint object holds it
    resumed = Checkpoint.from_item(json.loads(saved))

    assert resumed.state.counts == Counter(rows=7, valid=6, invalid=1, unrecognisable=4)


def options() -> ImportOptions:
    return ImportOptions(import_type="people", existing="update", role="user", invalid_rows="skip_rows")
