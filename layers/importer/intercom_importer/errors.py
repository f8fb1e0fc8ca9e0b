"""Every error the importer raises, by name.

The names are a contract: the state machine's ``ErrorEquals`` lists and the job record's
``failure.error`` field use them, and ``tests/static/test_template_statemachine.py`` checks that every name the
state machine mentions is defined here.

Two families:
- ``RetryableError``: a later attempt may succeed (throttling, outages, timeouts). SQS redelivery or a
  state machine ``Retry`` is the right reaction.
- ``PermanentError``: retrying cannot help (bad token, bad input, a refused value). The row, chunk or
  job is reported as failed with the message, which always says what to do.
"""

from __future__ import annotations


class ImporterError(Exception):
    """Base of every named error. ``message`` is written for the person reading the email."""

    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RetryableError(ImporterError):
    retryable = True


class PermanentError(ImporterError):
    retryable = False


# --- configuration -------------------------------------------------------------------------------


class SettingsError(PermanentError):
    """An environment variable of the function is missing or invalid (a deployment problem)."""


# --- input file ----------------------------------------------------------------------------------


class FileRejectedError(PermanentError):
    """The whole file cannot be imported (encoding, header, or invalid rows under ``reject_file``)."""


class PartnerConfigError(PermanentError):
    """A partner's settings document is missing, not JSON, or does not match the partner schema."""


class ValidationStillHeldError(RetryableError):
    """A failed validation cannot be ended yet: an invocation's lease on its job is still live."""


class ChunkFormatError(PermanentError):
    """A chunk message on the queue is not one this version of the importer wrote."""


class ChunkOutOfTimeError(RetryableError):
    """The worker's invocation is about to time out: the rows not started yet wait for the chunk's next
    delivery (the finished ones are kept), instead of the invocation being killed half-way."""


# --- job bookkeeping -----------------------------------------------------------------------------


class JobNotFoundError(PermanentError):
    """The job record a step refers to does not exist (deleted, expired, or a wrong id)."""


class JobStoreUnavailableError(RetryableError):
    """DynamoDB refused or timed out; retried by SQS or the state machine."""


class LedgerUnavailableError(RetryableError):
    """The identity ledger (DynamoDB) refused or kept throttling; the chunk is retried by SQS."""


class LeadCreateUncertainError(RetryableError):
    """Leads whose create got no answer were set aside and checked again too often (Intercom kept failing them)."""


class ReportWriteError(RetryableError):
    """The error report could not be written to S3."""


# --- undo ----------------------------------------------------------------------------------------


class UndoRefusedError(PermanentError):
    """A job that cannot be undone: unknown, not finished, a dry run, an undo itself, or without a change log."""


# --- Intercom ------------------------------------------------------------------------------------


class IntercomError(ImporterError):
    """An Intercom API call failed. ``status``, ``code`` and ``request_id`` come from the response."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.request_id = request_id
        self.field = field


class IntercomRetryableError(IntercomError, RetryableError):
    retryable = True


class IntercomPermanentError(IntercomError, PermanentError):
    retryable = False


class IntercomAuthError(IntercomPermanentError):
    """401: the access token is missing, invalid, expired or revoked. Fail the whole job fast."""


UNAUTHORIZED_MESSAGE = (
    "Intercom refused the access token (HTTP 401): the token is invalid, expired or revoked. Store a valid token in "
    "the Intercom token secret and upload the file again."
)
"""What a person is told, wherever an import stops on a 401 (the email, the job, each row not imported)."""


class IntercomForbiddenError(IntercomPermanentError):
    """403: the app lacks a permission or the workspace plan does not include the API feature."""


class IntercomNotFoundError(IntercomPermanentError):
    """404: the contact, company or tag does not exist (or was merged away)."""


class IntercomGoneError(IntercomPermanentError):
    """410: the contact was merged into another one (2.16+)."""


class IntercomConflictError(IntercomPermanentError):
    """409: a user with this email or external_id exists. ``existing_id`` is parsed from the message.

    ``ambiguous_since``: when an earlier attempt of this very call was sent (epoch seconds, the client's clock)
    whose answer was lost (read timeout, connection lost after sending, 5xx) and so may have been applied; the
    existing contact may then be the one that attempt created. ``None`` when every attempt was answered."""

    def __init__(
        self,
        message: str,
        *,
        existing_id: str | None = None,
        archived: bool = False,
        ambiguous_since: float | None = None,
        **kw,
    ) -> None:
        super().__init__(message, **kw)
        self.existing_id = existing_id
        self.archived = archived
        self.ambiguous_since = ambiguous_since


class IntercomValidationError(IntercomPermanentError):
    """400/422: Intercom refused a value (unknown attribute, wrong type, invalid email ...)."""


class IntercomRateLimitError(IntercomRetryableError):
    """429 that persisted through every retry. ``reset_at`` is the epoch second the window refills."""

    def __init__(self, message: str, *, reset_at: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.reset_at = reset_at


class IntercomServerError(IntercomRetryableError):
    """5xx that persisted through every retry."""


class IntercomConnectionError(IntercomRetryableError):
    """Connection refused/reset or read timeout that persisted through every retry."""


# --- email ---------------------------------------------------------------------------------------


class EmailSendError(RetryableError):
    """SES refused or failed to send the summary email: the error the state machine's ``EmailNotSent`` state
    ends an execution with (no Lambda raises it; every error name the state machine uses is defined here)."""
