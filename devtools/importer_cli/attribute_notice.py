"""What ``run`` says before it uploads (issue #15): the custom attributes the import would create in Intercom.

Intercom can archive a data attribute but never delete one, so the announcement comes before the upload. ``run``
reads the file's header (its first block only, whatever the file's size), resolves the settings the upload will carry
as the validator resolves them (the stack's defaults from its worker function, the flags' metadata, the mapping; an
error file's import's settings), lists the workspace's data attributes with the stack's own token, and plans the
header with the validator's own code (``intercom_importer.validate.header.plan_header``), so what is announced is
what the validator does. A workspace that cannot be read is said in one line, and the plan then assumes no custom
attribute exists. Nothing here stops the import: the validator decides, as for any upload.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from importer_cli.display import stderr
from importer_cli.errors import CliError
from importer_cli.targets import Target
from intercom_importer.errors import FileRejectedError, ImporterError
from intercom_importer.intercom.retry import RetryPolicy
from intercom_importer.mapping import INFER, Column
from intercom_importer.options import ImportOptions
from intercom_importer.settings import Settings

# Two GETs, before the upload: a refusal or an outage is reported rather than waited out.
NOTICE_RETRY = RetryPolicy(max_retries=1, max_rate_limit_retries=1, max_rate_limit_wait=5.0, backoff_max=1.0)
NOTICE_TIMEOUT = (3.05, 10.0)
PERMANENT = "Intercom can archive a data attribute but never delete one"


@dataclass(frozen=True)
class Notice:
    """The custom attributes a header would create, as the validator plans them."""

    import_type: str
    dry_run: bool
    explicit: bool  # create_attributes: explicit
    create: tuple[Column, ...]  # the new custom attributes (none when the file is refused for ``refused``)
    refused: tuple[Column, ...] = ()  # explicit: new attributes the mapping does not name (the file is refused)
    unreadable: str = ""  # why the workspace's data attributes could not be read ("": read, or not needed)

    def attributes(self) -> list[dict[str, Any]]:
        """Shaped like the job's ``new_attributes``; ``data_type`` None: inferred from the column's values."""
        return [
            {
                "name": c.target,
                "data_type": None if c.type == INFER else c.intercom_type(),
                "options": list(c.options) if c.options else None,
            }
            for c in self.create
        ]

    def lines(self) -> list[str]:
        """What ``run`` prints on stderr (nothing when the import creates no attribute)."""
        said = []
        if self.unreadable:
            said.append(
                f"Could not read the workspace's data attributes ({self.unreadable}); the attributes below assume "
                "none exist yet."
            )
        if self.refused:
            columns = ", ".join(repr(c.header) for c in self.refused)
            many = len(self.refused) > 1
            what = f"column{'s' if many else ''} {columns} would create {'' if many else 'a '}new custom attribute"
            what += "s" if many else ""
            said.append(
                f"The stack will refuse this file: {what} in Intercom that its mapping does not name "
                "(create_attributes: explicit). It is uploaded all the same, so the job and its email say so; nothing "
                "is written to Intercom."
            )
        elif self.create:
            said.append(self._creates())
        return said

    def _creates(self) -> str:
        listed = ", ".join(f"{c.target} ({_type_of(c)})" for c in self.create)
        what = (
            f"{len(self.create)} custom attribute{'s' if len(self.create) > 1 else ''} in Intercom ({self.import_type})"
        )
        explicit = "" if self.explicit else "--create-attributes explicit refuses columns the mapping does not name"
        if self.dry_run:
            hint = f"{PERMANENT}" + (f": {explicit}." if explicit else ".")
            return f"This dry run writes nothing; the import would create {what}: {listed}. {hint}"
        hint = f"{PERMANENT}: --dry-run shows the import first" + (f", {explicit}." if explicit else ".")
        return f"This import will create {what}: {listed}. {hint}"


def _type_of(column: Column) -> str:
    if column.type == INFER:
        return "type from its values"
    if column.options:
        return f"{column.intercom_type()}: {'/'.join(column.options)}"
    return column.intercom_type()


class _NoCustomAttributes:
    """The workspace as the announcement assumes it when it cannot be read: no data attributes."""

    def list_data_attributes(self, model: str, **_: Any) -> list[dict[str, Any]]:
        return []


def read_header(path: Path) -> list[str] | None:
    """The file's header as the validator reads it, from the file's first block only (files can be GBs); None for a
    file the validator refuses as it opens it (empty, binary, no header: the job says why)."""
    from intercom_importer.csv_reader import CsvStream
    from intercom_importer.validate.header import header_of

    with path.open("rb") as body:
        try:
            return header_of(CsvStream(body))
        except FileRejectedError:
            return None


def plan(header: list[str], options: ImportOptions, intercom: Callable[[], Any]) -> Notice | None:
    """The attributes ``header`` would create under ``options`` in the workspace ``intercom()`` lists. When the
    workspace cannot be read (``intercom()`` or a listing raises), the plan assumes no custom attribute exists and
    says why. None: the validator refuses the header whatever the workspace holds (it says why)."""
    from intercom_importer.validate.header import plan_header

    unreadable = ""
    try:
        planned = plan_header(header, options, intercom)
    except FileRejectedError:
        return None
    except Exception as exc:  # any failure to read the workspace: the announcement never stops the import
        unreadable = _why(exc)
        try:
            planned = plan_header(header, options, _NoCustomAttributes)
        except FileRejectedError:
            return None
    refused = planned.refused
    return Notice(
        import_type=planned.import_type,
        dry_run=options.dry_run,
        explicit=options.create_attributes == "explicit",
        create=() if refused else tuple(planned.attributes.create),
        refused=refused,
        unreadable=unreadable,
    )


def _why(exc: Exception) -> str:
    message = exc.message if isinstance(exc, ImporterError) else str(exc)
    return " ".join(message.split()) or type(exc).__name__


def announce(
    target: Target, path: Path, metadata: Mapping[str, str], manifest: Mapping[str, Any] | None
) -> Notice | None:
    """Before ``run`` uploads ``path`` to ``target``: the attributes its import would create, printed on stderr."""
    from importer_cli.jobs_commands import object_key

    header = read_header(path)
    if header is None:
        return None
    settings, intercom = _stack_of(target)
    try:
        previous = _error_file_options(target, object_key(path), header)
        options = ImportOptions.from_sources(metadata, manifest, settings, None, previous)
    except (FileRejectedError, CliError):  # refused as it opens (the job says why), or its import cannot be read
        return None
    client_log = logging.getLogger("intercom_importer.intercom")
    level = client_log.level
    client_log.setLevel(logging.ERROR)  # a refused listing is said in the announcement's one line, not logged
    try:
        notice = plan(header, options, intercom)
    finally:
        client_log.setLevel(level)
    for line in notice.lines() if notice is not None else []:
        stderr(line)
    return notice


def as_json(notice: Notice | None) -> dict[str, Any]:
    """``run --json``'s keys for the announcement, beside the job's ``new_attributes``."""
    return {
        "attributes_announced": notice.attributes() if notice is not None else [],
        "attributes_announcement": notice.lines() if notice is not None else [],
    }


def _stack_of(target: Target) -> tuple[Settings, Callable[[], Any]]:
    """The stack's settings as its worker function holds them (the template's defaults when they cannot be read),
    and a factory of the client that lists the workspace's data attributes with the stack's token."""
    from importer_cli import undo_command
    from importer_cli.validate_command import template_defaults, template_settings

    try:
        settings, env = undo_command.stack_settings(target)
    except CliError as exc:
        problem = f"the stack's settings could not be read, so template.yaml's defaults are assumed: {exc}"

        def unreadable() -> Any:
            raise CliError(problem)

        return template_settings(template_defaults()), unreadable
    return settings, lambda: _workspace_client(target, settings, env)


def _workspace_client(target: Target, settings: Settings, env: Mapping[str, str]) -> Any:
    """The Intercom client of the stack's workers (their token and API root, within their rate budget), retrying
    little."""
    from importer_cli import undo_command
    from intercom_importer.intercom.client import IntercomClient
    from intercom_importer.intercom.connection import resolve_base_url
    from intercom_importer.intercom.factory import outside_governor

    token, window = undo_command.stack_token(target, settings, env)
    limiter = outside_governor(settings, token, undo_command.jobs_table(target, settings), window_seconds=window)
    base_url = resolve_base_url(settings.intercom_region, settings.intercom_base_url)
    return IntercomClient(token, base_url, limiter=limiter, retry=NOTICE_RETRY, timeout=NOTICE_TIMEOUT)


def _error_file_options(target: Target, key: str, header: list[str]) -> ImportOptions | None:
    """An error file (fixed and run again) is read with its import's settings, as the validator reads it."""
    from botocore.exceptions import BotoCoreError, ClientError

    from intercom_importer.mapping import error_file_of
    from intercom_importer.validate.opening import fixed_error_file_of

    if not error_file_of(header)[0]:
        return None
    try:
        fixes = fixed_error_file_of(key, header, target.job_store())
    except FileRejectedError:
        raise
    except (ImporterError, BotoCoreError, ClientError) as exc:  # whose settings apply cannot be known
        raise CliError(str(exc)) from exc
    return ImportOptions.from_dict(fixes.options) if fixes else None
