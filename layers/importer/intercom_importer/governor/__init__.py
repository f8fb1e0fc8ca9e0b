"""One Intercom rate-limit budget shared by every worker of every import (DynamoDB).

Intercom counts an app's calls in fixed 10-second windows (10,000/min is 1,666 per window). Each
worker process paces its threads through one :class:`DynamoDBGovernor`; all of them draw from one
budget per window, kept in the jobs table (single-table design, next to the job records)::

    pk = "RATE#<app>"   sk = "W#<window start, epoch seconds>"
    used           calls granted in this window, by every worker together
    cap            the window's budget (configured limit x safety, lowered by what Intercom reports)
    blocked_until  epoch seconds: after a 429 nobody takes calls before this
    expires_at     TTL, an hour after the window

How a call is granted:

- Threads of one process take calls from a local block; when it runs low, one thread takes the next
  block from the shared window with one conditional ``UpdateItem`` (``ADD used :k`` if
  ``used <= cap - :k``, the stored cap is not below the one we assume, and the window is not
  blocked). Blocks are small (``block_size``, 20 by default, at most 1/16 of the budget) and shrink
  towards the end of a window to what this process will use before the window ends, so few granted
  calls go unused and concurrent imports take turns block by block (first come, first served:
  neither starves). The next block is taken when half of the current one is left, so the other
  threads do not wait for DynamoDB.
- A refused update returns the item as it was (``ReturnValuesOnConditionCheckFailure``): the window
  is exhausted (wait for the next window), blocked (wait until ``blocked_until``), has a lower cap
  (adopt it, try again) or has fewer calls left than asked (take what is left).
- Windows are aligned to multiples of ``window_seconds`` since the epoch, like Intercom's. Calls of a
  block that are not used before the window ends are dropped: they belonged to that window.

Adapting to what Intercom reports on every response (``observe``):

- ``X-RateLimit-Limit`` below the configured limit (Intercom lowered the app's limit) lowers the cap
  of this and later windows, and the shared window's cap so other workers learn it at once.
- ``X-RateLimit-Remaining`` lower than our own calls can explain (another app is using the
  workspace budget) and about used up by the calls the workers already hold closes the shared
  window (``cap = used``): everybody waits for the next window instead of collecting 429s.
- A 429 blocks this process until ``X-RateLimit-Reset`` (or the window's end) and writes
  ``blocked_until`` into the shared window item(s), so every worker backs off to the reset: no
  retry storm.

If DynamoDB cannot be reached, a process falls back to ``cap / fallback_share`` calls per window on
its own (logged) and tries the table again in the next window; a 429 still blocks it locally.

The parts: ``config.py`` (the knobs, a frozen :class:`GovernorConfig`; the window length; the app key),
``window.py`` (this process's view of the current window), ``shared.py`` (the window items in DynamoDB),
``stats.py`` (the counters) and ``limiter.py`` (:class:`DynamoDBGovernor`, which joins them under one lock).
"""

from intercom_importer.governor.config import (
    DEFAULT_BLOCK_SIZE,
    DEFAULT_SAFETY,
    INTERCOM_WINDOW_SECONDS,
    WINDOW_SECONDS_VARIABLE,
    GovernorConfig,
    window_seconds_from_env,
)
from intercom_importer.governor.limiter import DynamoDBGovernor
from intercom_importer.governor.stats import GovernorStats
from intercom_importer.intercom.connection import app_key  # the key of an app's budget

__all__ = [
    "DEFAULT_BLOCK_SIZE",
    "DEFAULT_SAFETY",
    "INTERCOM_WINDOW_SECONDS",
    "WINDOW_SECONDS_VARIABLE",
    "DynamoDBGovernor",
    "GovernorConfig",
    "GovernorStats",
    "app_key",
    "window_seconds_from_env",
]
