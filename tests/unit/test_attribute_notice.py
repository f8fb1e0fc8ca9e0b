"""What ``run`` announces before uploading (``importer_cli.attribute_notice``): the file's header read alone (files
can be GBs), planned with the validator's own code against the workspace's data attributes. No stack, no network:
the workspace is a stand-in with ``list_data_attributes``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from importer_cli.attribute_notice import PERMANENT, plan, read_header
from intercom_importer.csv_reader import BLOCK
from intercom_importer.errors import IntercomForbiddenError
from intercom_importer.options import ImportOptions

pytestmark = pytest.mark.unit


class Workspace:
    """Answers ``list_data_attributes`` with these custom attributes of contacts; counts the listings."""

    def __init__(self, *custom: str) -> None:
        self.custom = custom
        self.listings = 0

    def list_data_attributes(self, model: str, **_: Any) -> list[dict[str, Any]]:
        self.listings += 1
        if model != "contact":
            return []
        return [{"name": n, "custom": True, "data_type": "string", "archived": False} for n in self.custom]


def options(mapping: dict[str, Any] | None = None, **values: Any) -> ImportOptions:
    return ImportOptions(
        import_type=None, existing="update", role="user", invalid_rows="reject_file", mapping=mapping, **values
    )


class CountingFile:
    def __init__(self, file: Any) -> None:
        self.file = file
        self.bytes_read = 0

    def read(self, size: int = -1) -> bytes:
        data = self.file.read(size)
        self.bytes_read += len(data)
        return bytes(data)

    def __enter__(self) -> CountingFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()


def test_read_header_reads_the_first_block_of_a_large_file_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "big.csv"
    row = "someone@example.com,Some One,gold,3\n"
    path.write_text("email,name,plan_tier,seats\n" + row * (8 * 1024 * 1024 // len(row)), encoding="utf-8")
    opened: list[CountingFile] = []
    real_open = Path.open

    def counting_open(self: Path, *args: Any, **kwargs: Any) -> CountingFile:
        opened.append(CountingFile(real_open(self, *args, **kwargs)))
        return opened[-1]

    monkeypatch.setattr(Path, "open", counting_open)

    assert read_header(path) == ["email", "name", "plan_tier", "seats"]
    assert path.stat().st_size > 8_000_000 and opened[0].bytes_read <= 2 * BLOCK


def test_read_header_gives_none_for_a_file_the_validator_refuses_as_it_opens_it(tmp_path: Path):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")

    assert read_header(empty) is None


def test_plan_names_each_new_attribute_with_the_type_the_validator_creates():
    mapping = {
        "columns": {"seats": {"type": "integer"}, "Plan Tier": {"attribute": "tier", "options": ["gold", "silver"]}}
    }

    notice = plan(["email", "Plan Tier", "seats", "remarks"], options(mapping), Workspace)

    assert notice is not None
    assert notice.attributes() == [
        {"name": "tier", "data_type": "string", "options": ["gold", "silver"]},
        {"name": "seats", "data_type": "integer", "options": None},
        {"name": "remarks", "data_type": None, "options": None},  # inferred from all its values while reading
    ]
    assert notice.lines() == [
        "This import will create 3 custom attributes in Intercom (people): tier (string: gold/silver), seats (integer), "
        f"remarks (type from its values). {PERMANENT}: --dry-run shows the import first, --create-attributes explicit "
        "refuses columns the mapping does not name."
    ]


def test_plan_leaves_out_attributes_the_workspace_has_and_ignored_columns():
    notice = plan(["email", "Seats", "tier", "remarks"], options({"ignore": ["remarks"]}), lambda: Workspace("seats"))

    assert notice is not None
    assert [a["name"] for a in notice.attributes()] == ["tier"]  # "Seats" is the existing "seats"


def test_plan_says_nothing_when_no_attribute_is_created():
    notice = plan(["email", "tier"], options(), lambda: Workspace("tier"))

    assert notice is not None and notice.attributes() == [] and notice.lines() == []


def test_plan_does_not_list_the_workspace_for_a_header_without_custom_columns():
    workspace = Workspace()

    notice = plan(["email", "name", "external_id"], options(), lambda: workspace)

    assert notice is not None and notice.lines() == [] and workspace.listings == 0


def test_plan_of_a_dry_run_says_what_the_import_would_create():
    notice = plan(["email", "tier"], options(dry_run=True), Workspace)

    assert notice is not None
    assert notice.lines() == [
        "This dry run writes nothing; the import would create 1 custom attribute in Intercom (people): tier (type "
        f"from its values). {PERMANENT}: --create-attributes explicit refuses columns the mapping does not name."
    ]


def test_plan_under_explicit_names_the_columns_the_stack_will_refuse():
    mapping = {"columns": {"tier": {"type": "string"}}}

    notice = plan(["email", "tier", "remarks"], options(mapping, create_attributes="explicit"), Workspace)

    assert notice is not None and notice.attributes() == []  # the file is refused: nothing is created
    [line] = notice.lines()
    assert line.startswith("The stack will refuse this file: column 'remarks' would create a new custom attribute in")


def test_plan_under_explicit_announces_the_attributes_the_mapping_names():
    mapping = {"columns": {"tier": {"type": "string"}}}

    notice = plan(["email", "tier"], options(mapping, create_attributes="explicit"), Workspace)

    assert notice is not None
    assert notice.lines() == [
        f"This import will create 1 custom attribute in Intercom (people): tier (string). {PERMANENT}: --dry-run "
        "shows the import first."
    ]


def test_plan_assumes_no_attribute_exists_when_the_workspace_cannot_be_read():
    def refused() -> Any:
        raise IntercomForbiddenError("Intercom refused the call [HTTP 403]")

    notice = plan(["email", "tier"], options(), refused)

    assert notice is not None and [a["name"] for a in notice.attributes()] == ["tier"]
    assert notice.lines()[0] == (
        "Could not read the workspace's data attributes (Intercom refused the call [HTTP 403]); the attributes below "
        "assume none exist yet."
    )


def test_plan_says_nothing_for_a_header_the_validator_refuses():
    assert plan(["name", "tier"], options(), Workspace) is None  # no identifier: the job says why
