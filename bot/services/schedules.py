"""Schedules: turn due occurrences into outbox rows, run check-ins, manage schedules (#15).

The JobQueue is only a clock (R-08): :meth:`ScheduleService.tick` reads what is due from the
database, and in one transaction per batch of schedules advances each schedule's ``next_due``
with a compare-and-set, records the occurrence and writes its outbox rows (keys
``sched:<schedule>:<due>:<member>``). A crash before the commit leaves everything as it was
(the next tick does it again); after it, the occurrence is recorded and ``next_due`` moved
on, so nothing is sent twice. After downtime every missed occurrence is handled in order,
once: sent late if still useful (``Schedule.useful_for``), otherwise recorded as expired.

Check-ins (issue #15.4): each recipient has a line per occurrence; *Estoy bien* confirms,
*Necesito ayuda* reaches the region's coordinators at once as a help escalation (the same
coalesced outbox rows as an alert's, ``merge="asked"``); when the window closes the
coordinators are told once who did not confirm; an answer after that is recorded and tells
them the warning is cleared for that person.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bot.domain.alerts import QuietHours
from bot.domain.errors import NotAllowed, NotFound, ValidationError
from bot.domain.models import Claim, Member, Region, Role
from bot.domain.notices import (
    Checkin,
    Digest,
    NoticeError,
    Reminder,
    decode_notice,
)
from bot.domain.outbox import OutboxMessage
from bot.domain.ports import (
    Clock,
    UnitOfWork,
)
from bot.domain.schedules import (
    DEFAULT_REMINDER_OFFSETS,
    DEFAULT_WINDOW,
    MAX_CATCH_UP,
    QUIET_KINDS,
    Handled,
    NewSchedule,
    Occurrence,
    OccurrenceState,
    Schedule,
    ScheduleError,
    ScheduleKind,
    ScheduleState,
    TargetKind,
    checkin_correlation,
)
from bot.services.authz import Action, authorize, is_allowed
from bot.services.checkins import CheckinLine, CheckinService

_LOGGER = logging.getLogger(__name__)

#: The notice kinds a schedule stores by name (``schedules.template``); the typed notices
#: are in ``bot.domain.notices``, their renderers in ``handlers.schedules_render``.
TEMPLATE_CHECKIN = Checkin.TEMPLATE
TEMPLATE_REMINDER = Reminder.TEMPLATE
TEMPLATE_DIGEST = Digest.TEMPLATE

#: Items named per digest section (the count says how many there are in all).
DIGEST_ITEMS = 10
#: A digest leaves the coordinator's chat after this long (a seized phone shows less).
DIGEST_KEPT = timedelta(hours=12)

#: What a reminder is about; the informant's list names it, the push never does (T-22).
REMINDER_TOPICS = ("appointment", "document", "payment")

#: Due schedules handled per transaction of a tick.
TICK_BATCH = 500
#: Batches per tick at most (the rest next tick, 30 s later).
MAX_BATCHES = 100


def _stamp(when: datetime) -> str:
    """The occurrence time as it appears in idempotency keys (UTC, to the second)."""
    return when.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


@dataclass(frozen=True, slots=True)
class TickReport:
    """What one tick did: occurrences queued, expired, without recipient; windows closed."""

    queued: int = 0
    expired: int = 0
    no_recipient: int = 0
    warned: int = 0


@dataclass(frozen=True, slots=True)
class ScheduleService:
    """Use cases of schedules; holds ports only (no Telegram, no SQL)."""

    uow: UnitOfWork
    clock: Clock
    quiet_hours: QuietHours | None
    #: What follows a sent check-in; its windows close in this tick.
    checkins: CheckinService
    #: Local hour of the coordinators' daily digest (``CHASKI_DIGEST_HOUR``).
    digest_hour: int = 7
    #: Days in one status after which the digest calls an open claim stalled.
    stalled_days: int = 30

    # ------------------------------------------------------------------ managing

    async def _scope(self, schedule: Schedule | NewSchedule) -> frozenset[str]:
        """The regions a schedule concerns (who may manage it, whose coordinators hear)."""
        region = await self._region_of(schedule.target_kind, schedule.target)
        return frozenset({region}) if region else frozenset()

    async def _region_of(self, target_kind: TargetKind, target: str) -> str | None:
        if target_kind is TargetKind.REGION:
            return target
        if target_kind is TargetKind.MEMBER:
            member = await self.uow.members.get(int(target))
            return member.region if member else None
        claim = await self.uow.claims.get(int(target))
        return claim.region if claim else None

    async def _require(self, actor: Member | None, schedule: Schedule | NewSchedule) -> None:
        """Coordinators manage schedules of their regions, administrators all (M-04).

        ``actor`` None is the operator's CLI (on the server, like every ``chaski`` command).
        """
        if actor is None:
            return
        if not is_allowed(actor, Action.MANAGE_SCHEDULES, await self._scope(schedule)):
            await self._audit(actor, "schedule", "denied", "schedule")
            raise NotAllowed(Action.MANAGE_SCHEDULES)

    async def _audit(self, actor: Member | None, action: str, result: str, target: str) -> None:
        await self.uow.audit.record(
            action=action,
            result=result,
            now=self.clock.now(),
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=target,
        )

    async def create(self, actor: Member | None, new: NewSchedule) -> Schedule:
        """Store a schedule and arm it (its first occurrence at or after now).

        Raises:
            ValidationError: a malformed rule, or a one-off already in the past.
            NotAllowed: outside the actor's regions (audited).
        """
        try:
            draft = Schedule(
                id=0,
                kind=new.kind,
                target_kind=new.target_kind,
                target=new.target,
                template=new.template,
                params=dict(new.params),
                cron=new.cron,
                run_at=new.run_at,
                window=new.window,
                created_by=actor.id if actor else None,
            )
            now = self.clock.now()
            first = draft.first_due(now, self.clock.tz)
            if draft.kind is not ScheduleKind.DIGEST:  # a digest is built at each occurrence
                decode_notice(draft.template, {**draft.params, "schedule": "0", "occurrence": "0"})
        except (ScheduleError, NoticeError) as exc:
            raise ValidationError(str(exc)) from None
        if first is None or (draft.run_at is not None and first < now):
            raise ValidationError("the schedule has no occurrence in the future")
        await self._require(actor, draft)
        async with self.uow.transaction():
            stored = await self.uow.schedules.add(
                Schedule(
                    id=0,
                    kind=draft.kind,
                    target_kind=draft.target_kind,
                    target=draft.target,
                    template=draft.template,
                    params=draft.params,
                    cron=draft.cron,
                    run_at=draft.run_at,
                    window=draft.window,
                    next_due=first,
                    created_by=draft.created_by,
                ),
                now,
            )
            await self._audit(actor, "schedule_create", "ok", f"schedule:{stored.id}")
        return stored

    async def get(self, actor: Member | None, schedule_id: int) -> Schedule:
        """A schedule the actor may manage.

        Raises:
            NotFound: unknown, or outside the actor's regions (one answer for both).
        """
        schedule = await self.uow.schedules.get(schedule_id)
        if schedule is None:
            raise NotFound("schedule")
        try:
            await self._require(actor, schedule)
        except NotAllowed:
            raise NotFound("schedule") from None
        return schedule

    async def list_for(self, actor: Member | None) -> list[Schedule]:
        """Active and paused schedules the actor may manage, by id."""
        found = await self.uow.schedules.in_states([ScheduleState.ACTIVE, ScheduleState.PAUSED])
        if actor is None:
            return found
        return [
            s for s in found if is_allowed(actor, Action.MANAGE_SCHEDULES, await self._scope(s))
        ]

    async def pause(self, actor: Member | None, schedule_id: int) -> Schedule:
        """Stop firing until resumed; occurrences while paused are skipped, not caught up."""
        schedule = await self.get(actor, schedule_id)
        async with self.uow.transaction():
            if not await self.uow.schedules.set_state(
                schedule.id, ScheduleState.PAUSED, self.clock.now()
            ):
                raise NotFound("schedule")
            await self._audit(actor, "schedule_pause", "ok", f"schedule:{schedule.id}")
        return schedule

    async def resume(self, actor: Member | None, schedule_id: int) -> Schedule:
        """Fire again from the next occurrence after now (a paused stretch is not caught up)."""
        schedule = await self.get(actor, schedule_id)
        now = self.clock.now()
        # Strictly after now: resuming at 19:00 sharp does not fire 19:00's occurrence.
        next_due = (
            schedule.due_after(now, self.clock.tz) if schedule.recurring else schedule.next_due
        )
        async with self.uow.transaction():
            if not await self.uow.schedules.set_state(schedule.id, ScheduleState.ACTIVE, now):
                raise NotFound("schedule")
            await self.uow.schedules.set_next_due(schedule.id, next_due, now)
            await self._audit(actor, "schedule_resume", "ok", f"schedule:{schedule.id}")
        return schedule

    async def cancel(self, actor: Member | None, schedule_id: int) -> Schedule:
        """Stop for good; what was already queued for the outbox still goes."""
        schedule = await self.get(actor, schedule_id)
        async with self.uow.transaction():
            if not await self.uow.schedules.set_state(
                schedule.id, ScheduleState.CANCELLED, self.clock.now()
            ):
                raise NotFound("schedule")
            await self._audit(actor, "schedule_cancel", "ok", f"schedule:{schedule.id}")
        return schedule

    async def _reachable(self, actor: Member, target: Member | None) -> Member:
        """``target`` if the actor may schedule for them (their region in scope), else
        NotFound, audited: one answer for unknown and out of scope (M-04)."""
        region = frozenset({target.region}) if target and target.region else frozenset[str]()
        if target is None or not is_allowed(actor, Action.MANAGE_SCHEDULES, region):
            await self._audit(actor, "schedule_member", "denied", "member")
            raise NotFound("member")
        return target

    async def member_for(self, actor: Member, codename: str) -> Member:
        """A member of the actor's regions by codename, as typed in chat (any case)."""
        return await self._reachable(actor, await self.uow.members.by_codename_any_case(codename))

    async def member_by_id(self, actor: Member, member_id: int) -> Member:
        """A member of the actor's regions by id (from a button, re-checked, M-04)."""
        return await self._reachable(actor, await self.uow.members.get(member_id))

    async def regions_for(self, actor: Member) -> list[Region]:
        """Regions ``actor`` may schedule for: their own; every region for an administrator."""
        return [
            region
            for region in await self.uow.regions.list_all()
            if actor.role is Role.ADMIN or region.name in actor.regions
        ]

    async def daily_checkin(
        self,
        actor: Member | None,
        region: str,
        hour: int,
        minute: int = 0,
        *,
        weekday: str | None = None,
    ) -> Schedule:
        """A check-in for a region's informants every day (or every ``weekday``, ``mon`` …
        ``sun``) at ``hour:minute`` local time."""
        if not (0 <= hour <= 23 and 0 <= minute <= 59):
            raise ValidationError("time of day")
        if weekday is not None and weekday not in {
            "mon",
            "tue",
            "wed",
            "thu",
            "fri",
            "sat",
            "sun",
        }:
            raise ValidationError("weekday")
        return await self.create(
            actor,
            NewSchedule(
                kind=ScheduleKind.CHECKIN,
                target_kind=TargetKind.REGION,
                target=region,
                template=TEMPLATE_CHECKIN,
                cron=f"{minute} {hour} * * {weekday or '*'}",
                window=DEFAULT_WINDOW,
            ),
        )

    async def claim_for(self, actor: Member, reference: str) -> Claim:
        """A claim of the actor's regions by reference, as typed in chat (any case).

        Raises:
            NotFound: unknown, or outside the actor's regions (one answer, audited, M-04).
        """
        wanted = reference.strip().upper()
        owner = (await self.uow.claims.owners([wanted])).get(wanted)
        claims = await self.uow.claims.list_for_member(owner) if owner is not None else []
        claim = next((c for c in claims if c.reference == wanted), None)
        scope = frozenset({claim.region}) if claim else frozenset[str]()
        if claim is None or not is_allowed(actor, Action.MANAGE_SCHEDULES, scope):
            await self._audit(actor, "schedule_claim", "denied", "claim")
            raise NotFound("claim")
        return claim

    async def claim_by_id(self, actor: Member, claim_id: int) -> Claim:
        """A claim of the actor's regions by id (from a button, re-checked, M-04)."""
        claim = await self.uow.claims.get(claim_id)
        scope = frozenset({claim.region}) if claim else frozenset[str]()
        if claim is None or not is_allowed(actor, Action.MANAGE_SCHEDULES, scope):
            await self._audit(actor, "schedule_claim", "denied", f"claim:{claim_id}")
            raise NotFound("claim")
        return claim

    async def reminders(
        self,
        actor: Member | None,
        member: Member | Claim,
        event_at: datetime,
        topic: str,
        offsets: Sequence[timedelta] = DEFAULT_REMINDER_OFFSETS,
    ) -> list[Schedule]:
        """One-off reminders before an event (by default a day and two hours before), for a
        member, or for a claim (its informant, whoever holds it when they fire).

        Offsets already past are left out; all the others or none are stored.

        Raises:
            ValidationError: unknown topic, or no reminder time left in the future.
            NotAllowed: the member is outside the actor's regions (audited).
        """
        if topic not in REMINDER_TOPICS:
            raise ValidationError("topic")
        now = self.clock.now()
        times = sorted(event_at - offset for offset in offsets if event_at - offset > now)
        if not times:
            raise ValidationError("the event is too close or past")
        created = []
        async with self.uow.transaction():
            for when in times:
                created.append(
                    await self.create(
                        actor,
                        NewSchedule(
                            kind=ScheduleKind.REMINDER,
                            target_kind=(
                                TargetKind.CLAIM
                                if isinstance(member, Claim)
                                else TargetKind.MEMBER
                            ),
                            target=str(member.id),
                            template=TEMPLATE_REMINDER,
                            params={"topic": topic, "event": event_at.isoformat()},
                            run_at=when,
                        ),
                    )
                )
        return created

    async def upcoming_for(self, member: Member) -> list[tuple[datetime, str, datetime]]:
        """The member's own reminders still to come: (when, topic, event), soonest first."""
        authorize(member, Action.VIEW_OWN_REMINDERS)
        found = []
        for schedule in await self.uow.schedules.for_member(member.id):
            if schedule.kind is not ScheduleKind.REMINDER or schedule.next_due is None:
                continue
            if schedule.state is not ScheduleState.ACTIVE:
                continue
            try:
                event = datetime.fromisoformat(schedule.params.get("event", ""))
            except ValueError:
                continue
            found.append((schedule.next_due, schedule.params.get("topic", ""), event))
        return sorted(found)

    # ------------------------------------------------------------------ the digest

    async def ensure_digest(self) -> Schedule:
        """The one daily digest schedule, at ``digest_hour`` (created or re-timed at start).

        Stored like every schedule, so a day the bot was down is handled once like any
        missed occurrence (sent late within a day, else recorded as expired).
        """
        rule = f"0 {self.digest_hour} * * *"
        existing = await self.uow.schedules.of_kind(ScheduleKind.DIGEST)
        if existing:
            digest = existing[0]
            if digest.cron != rule:
                now = self.clock.now()
                retimed = Schedule(
                    id=digest.id,
                    kind=digest.kind,
                    target_kind=digest.target_kind,
                    target=digest.target,
                    template=digest.template,
                    cron=rule,
                )
                await self.uow.schedules.set_rule(
                    digest.id, rule, retimed.first_due(now, self.clock.tz), now
                )
            return digest
        return await self.create(
            None,
            NewSchedule(
                kind=ScheduleKind.DIGEST,
                target_kind=TargetKind.REGION,
                target="*",
                template=TEMPLATE_DIGEST,
                cron=rule,
            ),
        )

    async def _digests(
        self, schedule: Schedule, due: datetime, now: datetime
    ) -> list[OutboxMessage]:
        """One digest row per coordinator or administrator with something to report."""
        facts = await self.uow.schedules.digest_facts(
            self.clock.today(),
            now - timedelta(days=self.stalled_days),
            now - timedelta(days=1),
            now,
        )
        staff = [
            m
            for m in await self.uow.members.list_all()
            if m.active and m.role in {Role.COORDINATOR, Role.ADMIN}
        ]
        references: dict[int, str] = {}
        names: dict[int, str] = {}

        async def reference(claim_id: int) -> str:
            if claim_id not in references:
                claim = await self.uow.claims.get(claim_id)
                references[claim_id] = claim.reference if claim else "?"
            return references[claim_id]

        async def codename(member_id: int) -> str:
            if member_id not in names:
                member = await self.uow.members.get(member_id)
                names[member_id] = member.codename if member else "?"
            return names[member_id]

        release = self._release(schedule, max(now, due))
        rows = []
        for reader in staff:

            def mine(region: str, reader: Member = reader) -> bool:
                return reader.role is Role.ADMIN or region in reader.regions

            overdue = [(c, d) for c, r, d in facts.overdue if mine(r)]
            stalled = [(c, d) for c, r, d in facts.stalled if mine(r)]
            pending = {a for a, r in facts.pending_alerts if mine(r)}
            help_ = list(dict.fromkeys(m for m, r in facts.open_help if mine(r)))
            blocked = list(dict.fromkeys(m for m, r in facts.blocked if mine(r)))
            missed = list(dict.fromkeys(m for m, r in facts.missed_checkins if mine(r)))
            if not (overdue or stalled or pending or help_ or blocked or missed):
                continue  # nothing to say: nothing sent (issue #15.3)
            digest = Digest(
                overdue=tuple([(await reference(c), d) for c, d in overdue[:DIGEST_ITEMS]]),
                overdue_n=len(overdue),
                stalled=tuple([(await reference(c), d) for c, d in stalled[:DIGEST_ITEMS]]),
                stalled_n=len(stalled),
                stalled_days=self.stalled_days,
                pending_n=len(pending),
                help=tuple([await codename(m) for m in help_[:DIGEST_ITEMS]]),
                help_n=len(help_),
                blocked=tuple([await codename(m) for m in blocked[:DIGEST_ITEMS]]),
                blocked_n=len(blocked),
                missed=tuple([await codename(m) for m in missed[:DIGEST_ITEMS]]),
                missed_n=len(missed),
            )
            rows.append(
                OutboxMessage(
                    idempotency_key=f"sched:{schedule.id}:{_stamp(due)}:{reader.id}",
                    kind=schedule.outbox_kind,
                    member_id=reader.id,
                    notice=digest,
                    correlation=f"digest:{_stamp(due)}",
                    not_before=release if release > now else None,
                    delete_after=DIGEST_KEPT,
                )
            )
        return rows

    # ------------------------------------------------------------------ the tick

    async def _recipients(
        self, plans: Sequence[tuple[Schedule, Sequence[datetime]]]
    ) -> dict[int, list[int]]:
        """Who each planned schedule reaches now (member ids), read once per batch.

        Read at each occurrence, not when the schedule was made: an unlinked or suspended
        member gets nothing, a region's new informants are included.
        """
        reachable, owners = await self.uow.schedules.reachable(
            [int(s.target) for s, _ in plans if s.target_kind is TargetKind.MEMBER],
            [int(s.target) for s, _ in plans if s.target_kind is TargetKind.CLAIM],
        )
        regions: dict[str, list[int]] = {}
        found: dict[int, list[int]] = {}
        for schedule, _ in plans:
            if schedule.target_kind is TargetKind.REGION:
                if schedule.target not in regions:
                    informants = await self.uow.members.in_regions(
                        [schedule.target], [Role.INFORMANT]
                    )
                    regions[schedule.target] = [m.id for m in informants]
                found[schedule.id] = regions[schedule.target]
            elif schedule.target_kind is TargetKind.MEMBER:
                member_id = int(schedule.target)
                found[schedule.id] = [member_id] if member_id in reachable else []
            else:
                owner = owners.get(int(schedule.target))
                found[schedule.id] = [owner] if owner is not None else []
        return found

    def _release(self, schedule: Schedule, when: datetime) -> datetime:
        """When a row may leave: quiet hours defer reminders and digests, never check-ins."""
        if schedule.kind in QUIET_KINDS and self.quiet_hours is not None:
            held = self.quiet_hours.release(when, self.clock.tz)
            if held is not None:
                return held
        return when

    async def tick(self) -> TickReport:
        """Handle every due occurrence once, then tell coordinators of closed check-ins.

        Due schedules are taken ``TICK_BATCH`` at a time, each batch in one transaction (a
        handful of trips and one commit for hundreds of occurrences), until none is left or
        ``MAX_BATCHES`` were done (the next tick carries on).
        """
        counts = dict.fromkeys(OccurrenceState, 0)
        for _ in range(MAX_BATCHES):
            batch = await self.uow.schedules.due(self.clock.now(), TICK_BATCH)
            async with self.uow.transaction():
                for state, count in (await self._handle_batch(batch)).items():
                    counts[state] += count
            if len(batch) < TICK_BATCH:
                break
        queued = counts[OccurrenceState.QUEUED]
        expired = counts[OccurrenceState.EXPIRED]
        nobody = counts[OccurrenceState.NO_RECIPIENT]
        warned = await self.checkins.close_windows()
        if queued or expired or nobody or warned:
            _LOGGER.info(
                "Schedules tick: %d occurrence(s) queued, %d expired, %d without recipient,"
                " %d check-in window(s) closed",
                queued,
                expired,
                nobody,
                warned,
            )
        return TickReport(queued=queued, expired=expired, no_recipient=nobody, warned=warned)

    async def _handle_batch(self, batch: Sequence[Schedule]) -> dict[OccurrenceState, int]:
        """Every occurrence up to now of each schedule of ``batch``, oldest first (caller's
        transaction).

        ``next_due`` moves first, by compare-and-set: a schedule paused, cancelled or moved
        on by another tick since it was read is left alone, before anything is written.
        """
        counts = dict.fromkeys(OccurrenceState, 0)
        now = self.clock.now()
        plans: list[tuple[Schedule, list[datetime]]] = []
        moves: list[tuple[int, datetime, datetime | None, ScheduleState]] = []
        for schedule in batch:
            dues: list[datetime] = []
            due = schedule.next_due
            while due is not None and due <= now and len(dues) < MAX_CATCH_UP:
                dues.append(due)
                due = schedule.due_after(due, self.clock.tz)
            if not dues or schedule.next_due is None:
                continue
            final = ScheduleState.ACTIVE if due is not None else ScheduleState.DONE
            moves.append((schedule.id, schedule.next_due, due, final))
            plans.append((schedule, dues))
        moved = await self.uow.schedules.advance_many(moves, now) if moves else set()
        plans = [(schedule, dues) for schedule, dues in plans if schedule.id in moved]
        recipients = await self._recipients(plans) if plans else {}
        items: list[tuple[int, Handled]] = []
        sends: list[tuple[Schedule, datetime, list[int], datetime | None] | None] = []
        rows: list[OutboxMessage] = []
        for schedule, dues in plans:
            for due in dues:
                if now - due > schedule.useful_for():
                    items.append((schedule.id, Handled(due, OccurrenceState.EXPIRED)))
                    sends.append(None)
                elif schedule.kind is ScheduleKind.DIGEST:
                    counts[await self._handle_digest(schedule, due, now, rows)] += 1
                elif not recipients.get(schedule.id):
                    items.append((schedule.id, Handled(due, OccurrenceState.NO_RECIPIENT)))
                    sends.append(None)
                else:
                    member_ids = recipients[schedule.id]
                    window_ends = (
                        now + schedule.response_window
                        if schedule.kind is ScheduleKind.CHECKIN
                        else None
                    )
                    handled = Handled(
                        due, OccurrenceState.QUEUED, member_ids=member_ids, window_ends=window_ends
                    )
                    items.append((schedule.id, handled))
                    sends.append((schedule, due, member_ids, window_ends))
        ids = await self.uow.schedules.record_many(items, now) if items else []
        for (_, handled), send, occurrence_id in zip(items, sends, ids, strict=True):
            counts[handled.state] += 1
            if send is not None and occurrence_id is not None:
                rows.extend(self._rows(occurrence_id, *send, now=now))
        # One insert for the whole batch (ids, sealing and rows in one trip).
        await self.uow.outbox.enqueue_many(rows)
        return counts

    def _rows(
        self,
        occurrence_id: int,
        schedule: Schedule,
        due: datetime,
        member_ids: Sequence[int],
        window_ends: datetime | None,
        *,
        now: datetime,
    ) -> list[OutboxMessage]:
        """The outbox rows of one occurrence: keyed by schedule, time and member (R-01)."""
        release = self._release(schedule, max(now, due))
        params = dict(schedule.params) | {
            "schedule": str(schedule.id),
            "occurrence": str(occurrence_id),
        }
        # The schedule names its notice kind and values (checked by ``create``); a stored
        # one this version cannot read is logged by template and skipped, not guessed at.
        try:
            notice = decode_notice(schedule.template, params)
        except NoticeError as exc:
            _LOGGER.warning("schedule %s: %s", schedule.id, exc)
            return []
        correlation = (
            checkin_correlation(occurrence_id)
            if schedule.kind is ScheduleKind.CHECKIN
            else f"sched:{occurrence_id}"
        )
        return [
            OutboxMessage(
                idempotency_key=f"sched:{schedule.id}:{_stamp(due)}:{member_id}",
                kind=schedule.outbox_kind,
                member_id=member_id,
                notice=notice,
                correlation=correlation,
                not_before=release if release > now else None,
                expires_at=window_ends,
            )
            for member_id in member_ids
        ]

    async def _handle_digest(
        self, schedule: Schedule, due: datetime, now: datetime, rows: list[OutboxMessage]
    ) -> OccurrenceState:
        """Record the day's digest occurrence and queue a digest for whoever has news."""
        digests = await self._digests(schedule, due, now)
        state = OccurrenceState.QUEUED if digests else OccurrenceState.NO_RECIPIENT
        if await self.uow.schedules.record(schedule.id, Handled(due, state), now) is not None:
            rows.extend(digests)
        return state

    async def checkin_states(
        self, actor: Member | None, schedule_id: int, limit: int = 5
    ) -> list[tuple[Occurrence, list[CheckinLine]]]:
        """The newest occurrences of a check-in schedule with each member's state (audited)."""
        schedule = await self.get(actor, schedule_id)
        now = self.clock.now()
        result = [
            (occurrence, await self.checkins.lines(occurrence, now))
            for occurrence in await self.uow.schedules.occurrences(schedule.id, limit)
        ]
        await self._audit(actor, "checkin_states", "ok", f"schedule:{schedule.id}")
        return result


def window_of(hours: float) -> timedelta:
    """A response window in hours, as typed by a coordinator or the CLI."""
    return timedelta(hours=hours)
