"""The problems a summary email lists: rows grouped by kind of problem, with counts, lines and the fix.

Invalid rows are grouped by the validator (``problem_kinds`` and ``problems_sample`` on the job); rows
Intercom refused are grouped here (``FailureGroups``) while the report writes the error file.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from intercom_importer.job_record import Job
from intercom_importer.schema import OTHER_PROBLEMS, problem_kind

LINES_SHOWN = 6  # line numbers shown per kind
FAILED_ROW_FIX = (
    "correct the value Intercom refused (the error file's error column says which), then upload the error file"
)
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
# Per-call details of an Intercom error message (intercom._error_from_response): they differ between
# rows with the same problem, so they stay in the error file but not in a group's kind.
_PER_CALL = re.compile(r", request_id [^,\]]+|, after \d+ retries")


@dataclass
class ProblemGroup:
    """Rows that share one kind of problem: how many, the first line numbers, and how to fix them."""

    kind: str
    count: int
    lines: list[int]
    fix: str
    example: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "lines": self.lines, "fix": self.fix, "example": self.example}


def validation_groups(job: Job) -> list[ProblemGroup]:
    """The invalid rows grouped by kind, most common first: counts of every row, lines from the sample."""
    sample = job.problems_sample
    groups = []
    for kind, count in sorted(job.problem_kinds.items(), key=lambda kv: (-kv[1], kv[0])):
        matches = [p for p in sample if problem_kind(p.get("column") or "", p.get("message") or "") == kind]
        fix = matches[0]["message"].rsplit(": ", 1)[-1] if matches and ": " in matches[0]["message"] else ""
        groups.append(
            ProblemGroup(
                kind=kind,
                count=int(count),
                lines=sorted({int(p["line"]) for p in matches})[:LINES_SHOWN],
                fix=fix,
                example=str(matches[0].get("value") or "") if matches else "",
            )
        )
    return groups


class FailureGroups:
    """Rows Intercom refused (or that were not imported), grouped by their message with the values
    taken out. Fed one failed row at a time while the error file is written; bounded memory."""

    def __init__(self, max_kinds: int = 100) -> None:
        self._max_kinds = max_kinds
        self._counts: Counter[str] = Counter()
        self._lines: dict[str, list[int]] = {}

    def add(self, line: int, column: str, message: str) -> None:
        kind = _QUOTED.sub("'…'", _PER_CALL.sub("", message)).strip()[:300] or "not imported"
        if column and not kind.lower().startswith(column.lower()):
            kind = f"{column}: {kind}"
        if kind not in self._counts and len(self._counts) >= self._max_kinds:
            kind = OTHER_PROBLEMS
        self._counts[kind] += 1
        lines = self._lines.setdefault(kind, [])
        if len(lines) < LINES_SHOWN:
            lines.append(line)

    def groups(self) -> list[dict[str, Any]]:
        return [
            ProblemGroup(
                kind, count, sorted(self._lines[kind]), FAILED_ROW_FIX if "refused the row" in kind else ""
            ).to_dict()
            for kind, count in sorted(self._counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ]
