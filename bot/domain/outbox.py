"""The outbox contract: every proactive message is a row first (R-01), sent by one sender.

Alerts, help escalations, notifications, reminders, check-ins, tally edits and scheduled
deletions all become ``OutboxMessage`` rows written in the same transaction as the event that
caused them. The sender leases rows, renders each one in its recipient's language at send
time, calls Telegram outside any transaction, and records the outcome (R-02..R-07). The
recipient is a member id; the chat id is resolved (decrypted) at send time, so unlinking a
member cancels whatever was still queued for them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum, StrEnum
from typing import Protocol

from bot.domain.models import Lang
from bot.domain.notices import ChatMenu, Notice


class OutboxKind(StrEnum):
    """What a row is for; decides priority and expiry."""

    DELETION = "deletion"
    ALERT = "alert"
    HELP = "help"
    CHECKIN = "checkin"
    NOTIFICATION = "notification"
    REMINDER = "reminder"
    TALLY = "tally"
    HOUSEKEEPING = "housekeeping"


class Priority(IntEnum):
    """Lower sends first (R-07): deletions and safety first, housekeeping last."""

    SAFETY = 0
    INTERACTIVE = 1
    NORMAL = 2
    LOW = 3


KIND_PRIORITY: Mapping[OutboxKind, Priority] = {
    OutboxKind.DELETION: Priority.SAFETY,
    OutboxKind.ALERT: Priority.SAFETY,
    OutboxKind.HELP: Priority.SAFETY,
    OutboxKind.CHECKIN: Priority.INTERACTIVE,
    OutboxKind.TALLY: Priority.INTERACTIVE,
    OutboxKind.NOTIFICATION: Priority.NORMAL,
    OutboxKind.REMINDER: Priority.LOW,
    OutboxKind.HOUSEKEEPING: Priority.LOW,
}

#: Per-kind "too old to send" (R-05): a late reminder confuses, a deletion past 48 h fails.
KIND_EXPIRY: Mapping[OutboxKind, timedelta] = {
    OutboxKind.DELETION: timedelta(hours=47),
    OutboxKind.ALERT: timedelta(hours=6),
    OutboxKind.HELP: timedelta(hours=6),
    OutboxKind.CHECKIN: timedelta(hours=12),
    OutboxKind.TALLY: timedelta(hours=6),
    OutboxKind.NOTIFICATION: timedelta(hours=24),
    OutboxKind.REMINDER: timedelta(hours=12),
    OutboxKind.HOUSEKEEPING: timedelta(hours=24),
}


class OutboxStatus(StrEnum):
    """Row states (R-02); every transition is a compare-and-set."""

    QUEUED = "queued"
    SENDING = "sending"
    SENT = "sent"
    ERRORED = "errored"
    DEAD = "dead"
    BLOCKED = "blocked"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


FINAL_STATUSES = frozenset(
    {
        OutboxStatus.SENT,
        OutboxStatus.DEAD,
        OutboxStatus.BLOCKED,
        OutboxStatus.EXPIRED,
        OutboxStatus.CANCELLED,
    }
)


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A message to send (or a deletion to perform) on the bot's own initiative.

    ``notice`` is the typed message (``bot.domain.notices``); the outbox stores it as its
    ``template`` name and ``params`` (stored encrypted, rendered in the recipient's language
    at send time). ``correlation`` groups rows of one cause (``alert:12``) for tallies.
    ``not_before`` defers a row (quiet hours); ``delete_after`` schedules the sent
    message's deletion.

    ``version`` makes rows of one ``correlation`` replace each other (a live tally: one
    message edited again and again): a new version cancels the older ones still waiting, so
    at most one edit per message is pending, and an older version is never sent after a
    newer one (not even after a 429 requeue or a restart). Higher is newer.

    ``merge`` (the notice type's ``MERGE``) names a parameter holding a JSON object that must
    survive that replacement (a help escalation naming everyone it covers): the outbox
    unites it with the same parameter of every row of the ``correlation`` not yet final, in
    the transaction that cancels the waiting ones, and numbers the row as the correlation's
    next version itself (``version`` is then ignored). Nobody named in a replaced row is
    dropped; someone named in a row already on its way may be named again.
    """

    idempotency_key: str
    kind: OutboxKind
    member_id: int
    notice: Notice
    correlation: str | None = None
    not_before: datetime | None = None
    expires_at: datetime | None = None
    delete_after: timedelta | None = None
    version: int | None = None

    @property
    def template(self) -> str:
        """The stored name of the notice's kind (``outbox.template``)."""
        return self.notice.TEMPLATE

    @property
    def params(self) -> Mapping[str, str]:
        """The notice serialised, as the outbox stores it (sealed)."""
        return self.notice.to_params()

    @property
    def merge(self) -> str | None:
        """The parameter united across replaced rows of the correlation, if any."""
        return self.notice.MERGE


class Outcome(StrEnum):
    """How Telegram answered one attempt (mapped from its exceptions in handlers)."""

    SENT = "sent"
    RATE_LIMITED = "rate_limited"
    TRANSIENT = "transient"
    PERMANENT = "permanent"
    BLOCKED = "blocked"
    STOP_ALL = "stop_all"
    GONE = "gone"  # deletion target already gone: treated as done (T-20)
    TOO_OLD = "too_old"  # deletion past Telegram's 48 h window (T-19)


@dataclass(frozen=True, slots=True)
class SendResult:
    """Outcome of one Telegram call; only codes and ids, never content."""

    outcome: Outcome
    message_id: int | None = None
    retry_after_s: float | None = None
    error_code: str | None = None


class Notifier(Protocol):
    """Talks to Telegram for the outbox sender (implemented in ``handlers.notifier``)."""

    async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
        """Render ``notice`` in ``lang`` and send it (edits are notices too)."""

    async def delete(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        """Delete messages in a chat (1..100 ids per call)."""

    async def set_menu(self, chat_id: int, lang: Lang, menu: ChatMenu) -> SendResult:
        """Set the chat's command menu for ``menu.role`` in ``lang``, or remove it (None)."""


class Outbox(Protocol):
    """Writes rows; joins the caller's transaction when there is one (R-01)."""

    async def enqueue(self, message: OutboxMessage) -> bool:
        """Add one row; False if a row with that idempotency key exists already."""

    async def enqueue_many(self, messages: Sequence[OutboxMessage]) -> int:
        """Add rows; returns how many were new."""

    async def enqueue_at_commit(self, messages: Sequence[OutboxMessage]) -> None:
        """Add rows due later (a duplicate key is skipped) with the caller's commit.

        For the reply path, where nobody needs the count: the rows cost no trip of their own.
        """

    async def cancel_for_member(self, member_id: int) -> int:
        """Cancel every queued row for a member (unlinked, blocked); returns the count."""


def default_expiry(message: OutboxMessage, now: datetime) -> datetime:
    """``expires_at`` when the producer gave none (R-05, ``KIND_EXPIRY``).

    Deletions count from now (Telegram's 48 h window runs from when the message was sent,
    which is about when its deletion is scheduled); other kinds from when they become due.
    """
    if message.expires_at is not None:
        return message.expires_at
    expiry = KIND_EXPIRY[message.kind]
    if message.kind is OutboxKind.DELETION or message.not_before is None:
        return now + expiry
    return max(now, message.not_before) + expiry


@dataclass(frozen=True, slots=True)
class LeasedRow:
    """A row the sender leased: everything needed to send it, params already opened.

    ``template`` and ``params`` are the stored notice (``bot.domain.notices.decode_notice``
    reads it back). ``params`` is None when the sealed parameters could not be decrypted
    (fail closed: the row goes ``dead`` instead of being sent with missing content).
    ``lease_until`` is the lease token the compare-and-set update must match.
    """

    id: int
    kind: OutboxKind
    member_id: int
    template: str
    params: Mapping[str, str] | None
    attempts: int
    lease_until: datetime
    correlation: str | None = None
    delete_after: timedelta | None = None
    version: int | None = None


@dataclass(frozen=True, slots=True)
class Recipient:
    """Where and how a member is reached right now (resolved at send time)."""

    chat_id: int
    lang: Lang
    active: bool = True
    blocked: bool = False


@dataclass(frozen=True, slots=True)
class RowUpdate:
    """One compare-and-set transition of a leased row out of ``sending`` (R-02).

    ``None`` fields keep their stored value. ``lease_until`` must equal the stored lease, so
    a result arriving after the lease was recovered and re-leased changes nothing.
    """

    row_id: int
    lease_until: datetime
    status: OutboxStatus
    attempts: int
    next_attempt_at: datetime | None = None
    error_code: str | None = None
    message_id: int | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxCounts:
    """Row counts by status and kind, and when the oldest waiting row was created."""

    by_status_kind: Mapping[tuple[OutboxStatus, OutboxKind], int]
    oldest_waiting_at: datetime | None
