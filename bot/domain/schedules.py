"""Schedules: reminders, safety check-ins and digests the bot sends by itself (issue #15).

A schedule is a row in the database, never only a job in the scheduler's memory: it says
what to send (``template`` and ``params``), to whom (a member, a claim's informant, a
region's informants) and when (one moment, or a cron rule read in the programme's time
zone). Its ``next_due`` is the first occurrence not yet handled; the schedules tick handles
every occurrence up to now exactly once, in the transaction that advances ``next_due``, and
records it (``Occurrence``): queued to the outbox, or expired when it would come too late to
be of use (after downtime). Occurrence times come from APScheduler's triggers, so daylight
saving and month lengths are theirs to get right, not ours.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

from bot.domain.outbox import KIND_EXPIRY, OutboxKind


class ScheduleKind(StrEnum):
    """What a schedule sends; decides the outbox kind, expiry and quiet hours."""

    REMINDER = "reminder"
    CHECKIN = "checkin"
    DIGEST = "digest"


class TargetKind(StrEnum):
    """Who a schedule's occurrences reach."""

    MEMBER = "member"
    CLAIM = "claim"
    REGION = "region"


class ScheduleState(StrEnum):
    """A schedule's life: only ``active`` ones fire; ``done`` when a one-off has fired."""

    ACTIVE = "active"
    PAUSED = "paused"
    CANCELLED = "cancelled"
    DONE = "done"


class OccurrenceState(StrEnum):
    """What became of one occurrence when its time was handled."""

    #: Rows written to the outbox (possibly held by quiet hours).
    QUEUED = "queued"
    #: Handled too late to be of use (the bot was down): recorded, nothing sent.
    EXPIRED = "expired"
    #: Nobody to send it to (the member was unlinked, the region is empty).
    NO_RECIPIENT = "no_recipient"


class CheckinAnswer(StrEnum):
    """A member's answer to a check-in."""

    SAFE = "safe"
    HELP = "help"


class CheckinState(StrEnum):
    """How one member's check-in ended (issue #15.4), derived from answer, outbox and time."""

    WAITING = "waiting"
    CONFIRMED = "confirmed"
    NEEDS_HELP = "needs_help"
    NOT_CONFIRMED = "not_confirmed"
    UNREACHABLE = "unreachable"


#: Outbox kind of each schedule kind (priority and expiry follow from it).
OUTBOX_KIND: Mapping[ScheduleKind, OutboxKind] = {
    ScheduleKind.REMINDER: OutboxKind.REMINDER,
    ScheduleKind.CHECKIN: OutboxKind.CHECKIN,
    ScheduleKind.DIGEST: OutboxKind.NOTIFICATION,
}

#: Kinds that quiet hours defer (never drop): check-ins are about safety and go at once.
QUIET_KINDS = frozenset({ScheduleKind.REMINDER, ScheduleKind.DIGEST})

#: Default response window of a check-in (issue #15.4).
DEFAULT_WINDOW = timedelta(hours=2)

#: Default reminder offsets before the event: one day and two hours (issue #15.2).
DEFAULT_REMINDER_OFFSETS: tuple[timedelta, ...] = (timedelta(days=1), timedelta(hours=2))

#: A tick handles at most this many occurrences of one schedule; the rest wait for the next
#: tick (a rule firing every minute over a week of downtime must not stall the loop).
MAX_CATCH_UP = 500


def checkin_correlation(occurrence_id: int) -> str:
    """The outbox correlation of one check-in occurrence's rows (read for unreachable)."""
    return f"checkin:{occurrence_id}"


class ScheduleError(ValueError):
    """A schedule that cannot be: a malformed cron rule, a one-off and a rule together."""


@functools.lru_cache(maxsize=1024)
def cron_trigger(rule: str, tz: ZoneInfo) -> CronTrigger:
    """APScheduler's trigger for a five-field crontab rule (``m h dom mon dow``) in ``tz``.

    Cached: a trigger is immutable, and parsing one costs more than using it (thousands of
    schedules share a handful of rules such as ``0 19 * * *``).

    Raises:
        ScheduleError: the rule is not a valid crontab expression.
    """
    try:
        return CronTrigger.from_crontab(rule, timezone=tz)
    except ValueError as exc:
        raise ScheduleError(str(exc)) from None


@functools.lru_cache(maxsize=4096)
def _fire_after(rule: str, tz: ZoneInfo, previous: datetime) -> datetime | None:
    """The rule's first time strictly after ``previous`` (UTC); cached, as it is pure.

    A tick over thousands of schedules sharing a rule and a due time asks this once.
    """
    local = previous.astimezone(tz)
    fire = cron_trigger(rule, tz).get_next_fire_time(local, local)
    return fire.astimezone(UTC) if fire is not None else None


@dataclass(frozen=True, slots=True)
class Schedule:
    """One stored schedule; exactly one of ``cron`` and ``run_at`` is set."""

    id: int
    kind: ScheduleKind
    target_kind: TargetKind
    target: str
    template: str
    params: Mapping[str, str] = field(default_factory=dict)
    cron: str | None = None
    run_at: datetime | None = None
    window: timedelta | None = None
    state: ScheduleState = ScheduleState.ACTIVE
    next_due: datetime | None = None
    created_by: int | None = None
    created_at: datetime | None = None

    def __post_init__(self) -> None:
        """A schedule has one rhythm: a moment or a rule."""
        if (self.cron is None) == (self.run_at is None):
            raise ScheduleError("a schedule needs exactly one of cron and run_at")

    @property
    def recurring(self) -> bool:
        """Whether it fires by a rule (again and again) rather than once."""
        return self.cron is not None

    @property
    def outbox_kind(self) -> OutboxKind:
        """The outbox kind its rows get."""
        return OUTBOX_KIND[self.kind]

    @property
    def response_window(self) -> timedelta:
        """How long a check-in's recipients have to answer."""
        return self.window or DEFAULT_WINDOW

    def useful_for(self) -> timedelta:
        """How late an occurrence may still be sent (R-05): a check-in within its window,
        anything else within its outbox kind's expiry."""
        if self.kind is ScheduleKind.CHECKIN:
            return min(self.response_window, KIND_EXPIRY[OutboxKind.CHECKIN])
        return KIND_EXPIRY[self.outbox_kind]

    def first_due(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """The first occurrence at or after ``now`` (a one-off: its moment, even if past)."""
        if self.run_at is not None:
            fire = DateTrigger(self.run_at).get_next_fire_time(None, now)
        else:
            assert self.cron is not None  # noqa: S101 - __post_init__ guarantees it
            fire = cron_trigger(self.cron, tz).get_next_fire_time(None, now)
        return fire.astimezone(UTC) if fire is not None else None

    def due_after(self, previous: datetime, tz: ZoneInfo) -> datetime | None:
        """The occurrence after ``previous``; None for a one-off (it fires once)."""
        if self.cron is None:
            return None
        return _fire_after(self.cron, tz, previous.astimezone(UTC))


@dataclass(frozen=True, slots=True)
class NewSchedule:
    """What a coordinator (or the CLI) asks for; the service computes ``next_due``."""

    kind: ScheduleKind
    target_kind: TargetKind
    target: str
    template: str
    params: Mapping[str, str] = field(default_factory=dict)
    cron: str | None = None
    run_at: datetime | None = None
    window: timedelta | None = None


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One handled occurrence of a schedule (its ``due_at`` is unique per schedule)."""

    id: int
    schedule_id: int
    due_at: datetime
    state: OccurrenceState
    recipients: int = 0
    #: Check-ins: when the answers are no longer awaited (then the coordinators are told).
    window_ends: datetime | None = None
    #: Check-ins: when the coordinators were told who did not answer (once).
    warned_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckinRecord:
    """One member's line of one check-in occurrence."""

    occurrence_id: int
    member_id: int
    answer: CheckinAnswer | None = None
    answered_at: datetime | None = None
    #: The answer came after the window had closed.
    late: bool = False
    #: The outbox could not reach the member (blocked the bot, dead letter).
    unreachable: bool = False

    def state(self, now: datetime, window_ends: datetime | None) -> CheckinState:
        """Confirmed / needs help / unreachable / not confirmed (window passed) / waiting."""
        if self.answer is CheckinAnswer.HELP:
            return CheckinState.NEEDS_HELP
        if self.answer is CheckinAnswer.SAFE:
            return CheckinState.CONFIRMED
        if self.unreachable:
            return CheckinState.UNREACHABLE
        if window_ends is not None and now >= window_ends:
            return CheckinState.NOT_CONFIRMED
        return CheckinState.WAITING


@dataclass(frozen=True, slots=True)
class Handled:
    """An occurrence to record: its time, what became of it, and who it was for."""

    due_at: datetime
    state: OccurrenceState
    member_ids: Sequence[int] = ()
    window_ends: datetime | None = None


@dataclass(frozen=True, slots=True)
class DigestFacts:
    """What a coordinators' digest may report, programme-wide; sliced per coordinator.

    Each entry carries its region's name, so one read serves every coordinator. Claims are
    ids (their references are sealed; the service opens the few it shows), members ids.
    """

    #: (claim id, region, days past the promised date)
    overdue: Sequence[tuple[int, str, int]] = ()
    #: (claim id, region, days in its current status)
    stalled: Sequence[tuple[int, str, int]] = ()
    #: (alert id, region) of alerts waiting for approval
    pending_alerts: Sequence[tuple[int, str]] = ()
    #: (member id, region) of help requests nobody took
    open_help: Sequence[tuple[int, str]] = ()
    #: (member id, region) of members who blocked the bot
    blocked: Sequence[tuple[int, str]] = ()
    #: (member id, region) of check-in answers missing at a closed window
    missed_checkins: Sequence[tuple[int, str]] = ()


class ScheduleRepository(Protocol):
    """Schedules, their occurrences and check-in answers (implemented in ``storage``)."""

    async def add(self, schedule: Schedule, now: datetime) -> Schedule:
        """Store a new schedule (its ``id`` is ignored); returns it with its id."""

    async def get(self, schedule_id: int) -> Schedule | None:
        """One schedule by id."""

    async def in_states(self, states: Sequence[ScheduleState]) -> list[Schedule]:
        """Schedules in ``states``, by id."""

    async def of_kind(self, kind: ScheduleKind) -> list[Schedule]:
        """Every schedule of one kind that is not cancelled or done."""

    async def set_rule(
        self, schedule_id: int, cron: str, next_due: datetime | None, now: datetime
    ) -> None:
        """Replace a recurring schedule's rule and its next occurrence."""

    async def digest_facts(
        self, today: date, stalled_since: datetime, since: datetime, now: datetime
    ) -> DigestFacts:
        """Everything a digest may report (``since``: the last day's help and check-ins)."""

    async def for_member(self, member_id: int) -> list[Schedule]:
        """Schedules aimed at one member directly or through one of their claims."""

    async def due(self, now: datetime, limit: int) -> list[Schedule]:
        """Active schedules whose ``next_due`` has come, oldest first."""

    async def set_state(self, schedule_id: int, state: ScheduleState, now: datetime) -> bool:
        """Change a schedule's state; False if it is unknown or already final."""

    async def advance(
        self,
        schedule_id: int,
        expected_due: datetime,
        next_due: datetime | None,
        state: ScheduleState,
        now: datetime,
    ) -> bool:
        """Compare-and-set ``next_due`` from ``expected_due`` (False: another tick moved it)."""

    async def set_next_due(
        self, schedule_id: int, next_due: datetime | None, now: datetime
    ) -> None:
        """Re-arm a resumed schedule from now."""

    async def advance_many(
        self,
        moves: Sequence[tuple[int, datetime, datetime | None, ScheduleState]],
        now: datetime,
    ) -> set[int]:
        """``advance`` for many schedules in one trip; the ids that moved."""

    async def record_many(
        self, items: Sequence[tuple[int, Handled]], now: datetime
    ) -> list[int | None]:
        """``record`` for many occurrences in one trip; each one's id, None if it existed."""

    async def reachable(
        self, member_ids: Sequence[int], claim_ids: Sequence[int]
    ) -> tuple[set[int], dict[int, int]]:
        """Active linked members among ``member_ids``, and each claim's such owner."""

    async def record(self, schedule_id: int, handled: Handled, now: datetime) -> int | None:
        """Record an occurrence (and a check-in's recipients); None if it was recorded before."""

    async def occurrences(self, schedule_id: int, limit: int) -> list[Occurrence]:
        """The newest occurrences of a schedule, newest first."""

    async def occurrence(self, occurrence_id: int) -> Occurrence | None:
        """One occurrence by id."""

    async def windows_closed(self, now: datetime, limit: int) -> list[Occurrence]:
        """Check-in occurrences whose window closed and whose coordinators were not told."""

    async def mark_warned(self, occurrence_id: int, now: datetime) -> bool:
        """Set ``warned_at`` once; False if it was set already."""

    async def checkins(self, occurrence_id: int) -> list[CheckinRecord]:
        """Every recipient's record of one check-in occurrence (unreachable from the outbox)."""

    async def ack_help(self, occurrence_id: int, member_id: int, by: int, now: datetime) -> bool:
        """Take a check-in's help request once (False: taken already, or none)."""

    async def answer(
        self,
        occurrence_id: int,
        member_id: int,
        answer: CheckinAnswer,
        now: datetime,
        late: bool,
    ) -> bool | None:
        """Record an answer (help may replace safe, never the reverse).

        None: the member was not asked in this occurrence; False: nothing changed.
        """
