"""The one settings object, read once and lazily from the function's environment.

The variable names are constants shared with ``template.yaml`` (Globals.Function.Environment) and the
tests (``tests/static/test_template_statemachine.py`` checks that the template defines every one of them).
Missing or invalid variables fail loudly, naming every problem at once.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass

from intercom_importer.errors import SettingsError

JOBS_TABLE = "JOBS_TABLE"
IMPORT_BUCKET = "IMPORT_BUCKET"
CHUNK_QUEUE_URL = "CHUNK_QUEUE_URL"
STATE_MACHINE_ARN = "STATE_MACHINE_ARN"
INTERCOM_TOKEN_SECRET = "INTERCOM_TOKEN_SECRET"  # noqa: S105 - the secret's ARN, not a secret
INTERCOM_REGION = "INTERCOM_REGION"
INTERCOM_BASE_URL = "INTERCOM_BASE_URL"
INTERCOM_RATE_LIMIT_PER_MINUTE = "INTERCOM_RATE_LIMIT_PER_MINUTE"
CHUNK_ROWS = "CHUNK_ROWS"
WORKER_THREADS = "WORKER_THREADS"
DEFAULT_EXISTING = "DEFAULT_EXISTING"
DEFAULT_ROLE = "DEFAULT_ROLE"
DEFAULT_INVALID_ROWS = "DEFAULT_INVALID_ROWS"
DEFAULT_TAGS = "DEFAULT_TAGS"  # comma-separated; may be empty
DEFAULT_AUTO_TAG = "DEFAULT_AUTO_TAG"  # true | false
DEFAULT_IDENTITY_TRAP = "DEFAULT_IDENTITY_TRAP"
NOTIFY_RECIPIENTS = "NOTIFY_RECIPIENTS"
SENDER_EMAIL = "SENDER_EMAIL"
JOB_TIMEOUT_SECONDS = "JOB_TIMEOUT_SECONDS"
JOB_RETENTION_DAYS = "JOB_RETENTION_DAYS"
REPORT_LINK_EXPIRY_SECONDS = "REPORT_LINK_EXPIRY_SECONDS"
# The identity ledger (ledger.py): its table and how long an entry is kept.
IDENTITY_LEDGER_TABLE = "IDENTITY_LEDGER_TABLE"
IDENTITY_LEDGER_TTL_DAYS = "IDENTITY_LEDGER_TTL_DAYS"
# How long Intercom's search may miss a new contact (documented: "a few minutes"): rows whose create's outcome is
# unknown are looked for again after it (decimal seconds, at most SQS's 900 s delay).
INTERCOM_SEARCH_LAG_SECONDS = "INTERCOM_SEARCH_LAG_SECONDS"
DEFAULT_CREATE_ATTRIBUTES = "DEFAULT_CREATE_ATTRIBUTES"  # optional: "auto" when absent
# optional ("true" when absent): "false" when the stack ends with its one import (the CLI's ephemeral `run`), so
# its emails point at no `intercom-import status` that cannot work
STACK_KEEPS_HISTORY = "STACK_KEEPS_HISTORY"
# The longest a validator invocation reads before it saves a checkpoint and continues in a new invocation
# (never more than the invocation's remaining time minus a safety margin). Decimal seconds.
VALIDATE_TIME_BUDGET_SECONDS = "VALIDATE_TIME_BUDGET_SECONDS"

ALL_VARIABLES = (
    JOBS_TABLE,
    IMPORT_BUCKET,
    CHUNK_QUEUE_URL,
    STATE_MACHINE_ARN,
    INTERCOM_TOKEN_SECRET,
    INTERCOM_REGION,
    INTERCOM_BASE_URL,
    INTERCOM_RATE_LIMIT_PER_MINUTE,
    CHUNK_ROWS,
    WORKER_THREADS,
    DEFAULT_EXISTING,
    DEFAULT_ROLE,
    DEFAULT_INVALID_ROWS,
    DEFAULT_TAGS,
    DEFAULT_AUTO_TAG,
    DEFAULT_IDENTITY_TRAP,
    NOTIFY_RECIPIENTS,
    SENDER_EMAIL,
    JOB_TIMEOUT_SECONDS,
    JOB_RETENTION_DAYS,
    REPORT_LINK_EXPIRY_SECONDS,
    VALIDATE_TIME_BUDGET_SECONDS,
    IDENTITY_LEDGER_TABLE,
    IDENTITY_LEDGER_TTL_DAYS,
    INTERCOM_SEARCH_LAG_SECONDS,
    DEFAULT_CREATE_ATTRIBUTES,
    STACK_KEEPS_HISTORY,
)

EXISTING_POLICIES = ("update", "skip")
ROLES = ("user", "lead")
INVALID_ROW_POLICIES = ("reject_file", "skip_rows")
IDENTITY_TRAP_POLICIES = ("attach", "report")
# auto: a column that is no attribute of the workspace creates a custom attribute; explicit: only a column the
# mapping names does (any other such column rejects the file, before anything is written)
CREATE_ATTRIBUTES_POLICIES = ("auto", "explicit")
MAX_TAGS = 20  # per import, as the manifest allows
MAX_TAG_LENGTH = 200
REGIONS = ("US", "EU", "AU")


@dataclass(frozen=True)
class Settings:
    jobs_table: str
    import_bucket: str
    chunk_queue_url: str
    state_machine_arn: str
    intercom_token_secret: str
    intercom_region: str
    intercom_base_url: str | None
    intercom_rate_limit_per_minute: int
    chunk_rows: int
    worker_threads: int
    default_existing: str
    default_role: str
    default_invalid_rows: str
    notify_recipients: tuple[str, ...]
    sender_email: str
    job_timeout_seconds: int
    job_retention_days: int
    report_link_expiry_seconds: int
    validate_time_budget_seconds: float = 840.0
    default_tags: tuple[str, ...] = ()
    default_auto_tag: bool = False
    default_identity_trap: str = "attach"
    default_create_attributes: str = "auto"
    stack_keeps_history: bool = True
    identity_ledger_table: str = ""  # "" (settings built by hand, as in tests): no ledger
    identity_ledger_ttl_days: int = 7
    intercom_search_lag_seconds: float = 180.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        problems: list[str] = []

        def text(name: str, *, allow_empty: bool = False) -> str:
            value = env.get(name)
            if value is None or (not value.strip() and not allow_empty):
                problems.append(f"{name} is not set")
                return ""
            return value.strip()

        def integer(name: str, low: int, high: int) -> int:
            raw = text(name)
            if not raw:
                return low
            try:
                value = int(raw)
            except ValueError:
                problems.append(f"{name}={raw!r} is not an integer")
                return low
            if not low <= value <= high:
                problems.append(f"{name}={value} is outside {low}..{high}")
            return value

        def seconds(name: str, low: float, high: float) -> float:
            raw = text(name)
            try:
                value = float(raw) if raw else high
            except ValueError:
                problems.append(f"{name}={raw!r} is not a number")
                return high
            if not low <= value <= high:
                problems.append(f"{name}={value:g} is outside {low:g}..{high:g}")
            return value

        def choice(name: str, options: tuple[str, ...]) -> str:
            raw = text(name)
            if raw and raw not in options:
                problems.append(f"{name}={raw!r} must be one of {', '.join(options)}")
            return raw

        recipients = tuple(a.strip() for a in text(NOTIFY_RECIPIENTS).split(",") if a.strip())
        tags = _default_tags(text(DEFAULT_TAGS, allow_empty=True), problems)
        settings = cls(
            jobs_table=text(JOBS_TABLE),
            import_bucket=text(IMPORT_BUCKET),
            chunk_queue_url=text(CHUNK_QUEUE_URL),
            state_machine_arn=text(STATE_MACHINE_ARN),
            intercom_token_secret=text(INTERCOM_TOKEN_SECRET),
            intercom_region=choice(INTERCOM_REGION, REGIONS),
            intercom_base_url=(env.get(INTERCOM_BASE_URL) or "").strip().rstrip("/") or None,
            intercom_rate_limit_per_minute=integer(INTERCOM_RATE_LIMIT_PER_MINUTE, 60, 1_000_000),
            chunk_rows=integer(CHUNK_ROWS, 1, 1000),
            worker_threads=integer(WORKER_THREADS, 1, 64),
            default_existing=choice(DEFAULT_EXISTING, EXISTING_POLICIES),
            default_role=choice(DEFAULT_ROLE, ROLES),
            default_invalid_rows=choice(DEFAULT_INVALID_ROWS, INVALID_ROW_POLICIES),
            notify_recipients=recipients,
            sender_email=text(SENDER_EMAIL),
            # the template's JobTimeoutSeconds keeps a minimum of 60; the function takes any positive time (tests scale it)
            job_timeout_seconds=integer(JOB_TIMEOUT_SECONDS, 1, 31_536_000),
            job_retention_days=integer(JOB_RETENTION_DAYS, 1, 3650),
            report_link_expiry_seconds=integer(REPORT_LINK_EXPIRY_SECONDS, 60, 604_800),
            validate_time_budget_seconds=seconds(VALIDATE_TIME_BUDGET_SECONDS, 0.1, 900),
            default_tags=tags,
            default_auto_tag=choice(DEFAULT_AUTO_TAG, ("true", "false")) == "true",
            default_identity_trap=choice(DEFAULT_IDENTITY_TRAP, IDENTITY_TRAP_POLICIES),
            identity_ledger_table=text(IDENTITY_LEDGER_TABLE),
            identity_ledger_ttl_days=integer(IDENTITY_LEDGER_TTL_DAYS, 1, 365),
            intercom_search_lag_seconds=seconds(INTERCOM_SEARCH_LAG_SECONDS, 0, 900),
            default_create_attributes=choice(DEFAULT_CREATE_ATTRIBUTES, CREATE_ATTRIBUTES_POLICIES)
            if DEFAULT_CREATE_ATTRIBUTES in env
            else "auto",
            stack_keeps_history=env.get(STACK_KEEPS_HISTORY, "true").strip().lower() != "false",
        )
        if not recipients and NOTIFY_RECIPIENTS in env:
            problems.append(f"{NOTIFY_RECIPIENTS} lists no address")
        if problems:
            raise SettingsError("Invalid function configuration: " + "; ".join(problems))
        return settings


def _default_tags(raw: str, problems: list[str]) -> tuple[str, ...]:
    """The stack's default tags (comma-separated), each checked; what is wrong is added to ``problems``."""
    tags = tuple(t.strip() for t in raw.split(",") if t.strip())
    if len(tags) > MAX_TAGS:
        problems.append(f"{DEFAULT_TAGS} lists {len(tags)} tags; at most {MAX_TAGS}")
    problems.extend(
        f"{DEFAULT_TAGS}: {t[:40]!r}... is longer than {MAX_TAG_LENGTH}" for t in tags if len(t) > MAX_TAG_LENGTH
    )
    return tags


@functools.cache
def get_settings() -> Settings:
    """The settings of this execution environment (read on first use, then cached)."""
    return Settings.from_env()
