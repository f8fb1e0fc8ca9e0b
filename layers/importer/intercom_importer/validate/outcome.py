"""How a step of the validation ended: the ``Outcome`` the handlers return and the job record stores."""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    """str-valued: a returned payload, the job's ``handover_outcome`` and the state machine's input ``status``
    hold the same text as a plain string would (``Outcome.ACCEPTED == "accepted"``)."""

    # how reading a file ended; the first three are also the outcome its hand-over starts the job with
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    FAILED = "failed"
    CONTINUED = "continued"  # the time ran out: a new invocation reads on from a checkpoint
    # what the failure handler or the sweep did with a job
    HELD = "held"  # a live invocation holds it: ask again later
    ALREADY_HANDLED = "already-handled"  # it left validation and its hand-over is finished
    HANDED_OVER = "handed-over"  # it left validation and its unfinished hand-over was finished here
