"""The records of a chunk's upsert: how a row ended (``Outcome``, ``RowResult``, stored in the chunk's
progress and counted by outcome name) and what every row of the chunk is run with (``ChunkContext``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from intercom_importer.ledger import IdentityLedger


class Outcome(StrEnum):
    """How a row ended. The values are the names stored in progress files and job counters."""

    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"  # Intercom already held every value of the row: nothing was written
    SKIPPED = "skipped"
    FAILED = "failed"


CREATED, UPDATED, UNCHANGED = Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED
SKIPPED, FAILED = Outcome.SKIPPED, Outcome.FAILED


@dataclass
class RowResult:
    line: int
    outcome: Outcome
    contact_id: str | None = None
    error: str | None = None
    column: str = ""
    calls: int = 0  # calls the row needs (counted in dry runs)
    # the import's tags the record is to be tagged with (None: all of them, as for a record created)
    tags: list[str] | None = field(default=None, compare=False)
    # what the row changed in Intercom, as a change-log line (``changelog.Change.to_json``); None: nothing logged.
    # Neither takes part in comparing results: they are what the row wrote, not how it ended.
    change: dict[str, Any] | None = field(default=None, compare=False)
    # the contact's ``updated_at`` after this row's update (Intercom's answer): until search shows it, search shows
    # values older than the row's (``known.learn`` then reads the contact instead). None: the row sent no update.
    written_at: int | None = field(default=None, compare=False)
    # what that update sent (``known.written_values``): within the second of ``written_at`` only the values tell
    # the update's version from the one before it
    written_values: str | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RowResult:
        fields = dict(data)
        fields["outcome"] = Outcome(fields["outcome"])
        return cls(**fields)


@dataclass
class ChunkContext:
    existing: str  # update | skip
    role: str  # user | lead
    tags: Sequence[str] = ()
    custom_types: Mapping[str, str] = field(default_factory=dict)  # custom attribute -> internal type
    dry_run: bool = False
    identity_trap: str = "attach"
    allow_resubscribe: bool = False
    day_first: bool = True
    companies: Mapping[str, str] = field(default_factory=dict)  # company_id -> Intercom id
    done: Mapping[int, RowResult] = field(default_factory=dict)  # rows finished by an earlier attempt
    # Set on a redelivered chunk: when its first delivery was received (epoch seconds). A contact the
    # row identifies that Intercom created after it was made by that earlier attempt, which died (killed,
    # timed out) before it could record the row: the row finishes as the create it was.
    redelivered_since: float | None = None
    # ``time.monotonic()`` after which no row starts (the invocation must end before its timeout): the rest
    # wait for the chunk's next delivery. None: no limit.
    start_rows_until: float | None = None
    # Rows an earlier attempt set aside (line -> when their create, whose outcome is unknown, was sent): a contact
    # the row identifies created since then is that create's, and the row counts as created.
    uncertain: Mapping[int, float] = field(default_factory=dict)
    # How long Intercom's search may miss a new contact: the workspace's measured lag with its margin
    # (``measured.effective_lag``), or the settings' IntercomSearchLagSeconds when none was measured. A lead's create
    # claimed in the ledger less than this long ago, with no contact found, may exist and is not sent again yet.
    search_lag_seconds: float = 180.0
    # the identity ledger of the workspace (``ledger.py``; None: not used) and the job its entries name
    ledger: IdentityLedger | None = None
    job_id: str = ""
    # the import's tags' Intercom ids (name -> id), resolved once per import by the validator: a contact the
    # search shows with a tag already is not tagged again. A tag without its id is applied to every record.
    tag_ids: Mapping[str, str] = field(default_factory=dict)
