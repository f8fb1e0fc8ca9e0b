"""What reading a file carries from one invocation to the next: the plan fixed when the file was opened
(``ReadPlan``) and everything counted so far (``ReadState``). A checkpoint saves both
(``checkpoint.Checkpoint``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from intercom_importer.mapping import Column
from intercom_importer.options import ImportOptions
from intercom_importer.schema import TypeSniffer
from intercom_importer.validate.upload import Upload


@dataclass
class ReadPlan:
    """What reading the rest of a file needs from its start (saved in every checkpoint)."""

    job_id: str
    upload: Upload
    import_type: str
    options: ImportOptions
    columns: list[Column]
    create: list[str]  # custom attributes to create once the file is validated
    day_first: bool
    seq: int = 0  # the checkpoint this invocation started from (0: the start of the file)
    function_arn: str = ""  # this function, to invoke the continuation ("": no continuation)


@dataclass
class ReadState:
    """Everything counted so far (saved in every checkpoint)."""

    counts: Counter[str] = field(default_factory=Counter)  # rows, valid, invalid, unrecognisable (people)
    kinds: Counter[str] = field(default_factory=Counter)
    sample: list[dict[str, Any]] = field(default_factory=list)
    sniffers: dict[str, TypeSniffer] = field(default_factory=dict)
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)  # company_id -> its attributes (people)
    chunks: int = 0
    pending: list[dict[str, Any]] = field(default_factory=list)  # valid rows not yet in a chunk
    invalid_parts: list[str] = field(default_factory=list)  # invalid rows of earlier invocations
