"""Safety check-ins after they are sent: answers, help, and the coordinators' warnings.

A check-in is a schedule (``bot.services.schedules`` creates it and its tick fans it out);
what follows starts from an occurrence already sent to its informants: *Estoy bien* /
*Necesito ayuda* (idempotent, only from those asked, T-10, T-33), help escalated at once to
the region's coordinators, and, once the window closes, one warning naming who did not
confirm or could not be reached.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Member
from bot.domain.notices import CheckinHelp, CheckinHelpAcked, CheckinLate, CheckinMissed
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.domain.ports import Clock, UnitOfWork
from bot.domain.schedules import CheckinAnswer, CheckinRecord, CheckinState, Occurrence, TargetKind
from bot.services.authz import Action, authorize, is_allowed
from bot.services.members import region_helpers

#: Closed windows handled per tick at most (the rest the next tick).
WINDOWS_PER_TICK = 500


@dataclass(frozen=True, slots=True)
class CheckinLine:
    """One member's state in one check-in occurrence, with their codename."""

    codename: str
    state: CheckinState
    late: bool = False


@dataclass(frozen=True, slots=True)
class CheckinService:
    """Use cases of sent check-ins; holds ports only (no Telegram, no SQL)."""

    uow: UnitOfWork
    clock: Clock

    async def _audit(self, actor: Member, action: str, result: str, target: str) -> None:
        await self.uow.audit.record(
            action=action,
            result=result,
            now=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            target=target,
        )

    async def _occurrence_region(
        self, occurrence: Occurrence, member: Member | None
    ) -> str | None:
        schedule = await self.uow.schedules.get(occurrence.schedule_id)
        if schedule is not None and schedule.target_kind is TargetKind.REGION:
            return schedule.target
        return member.region if member else None

    async def close_windows(self) -> int:
        """Tell the coordinators, once per occurrence, who did not confirm in time."""
        closed = 0
        now = self.clock.now()
        for occurrence in await self.uow.schedules.windows_closed(now, WINDOWS_PER_TICK):
            async with self.uow.transaction():
                if not await self.uow.schedules.mark_warned(occurrence.id, now):
                    continue
                closed += 1
                lines = await self.lines(occurrence, now)
                missing = [ln.codename for ln in lines if ln.state is CheckinState.NOT_CONFIRMED]
                unreachable = [ln.codename for ln in lines if ln.state is CheckinState.UNREACHABLE]
                if not missing and not unreachable:
                    continue
                region = await self._occurrence_region(occurrence, None)
                if region is None:
                    first = await self.uow.members.get(
                        (await self.uow.schedules.checkins(occurrence.id))[0].member_id
                    )
                    region = first.region if first else None
                await self.uow.outbox.enqueue_many(
                    [
                        OutboxMessage(
                            idempotency_key=f"checkin-missed:{occurrence.id}:{helper.id}",
                            kind=OutboxKind.CHECKIN,
                            member_id=helper.id,
                            notice=CheckinMissed(
                                occurrence=occurrence.id,
                                schedule=occurrence.schedule_id,
                                missing=tuple(missing),
                                unreachable=tuple(unreachable),
                            ),
                            correlation=f"checkin-missed:{occurrence.id}",
                        )
                        for helper in await region_helpers(self.uow.members, region)
                    ]
                )
        return closed

    async def lines(self, occurrence: Occurrence, now: datetime) -> list[CheckinLine]:
        records: Sequence[CheckinRecord] = await self.uow.schedules.checkins(occurrence.id)
        names: Mapping[int, str] = {}
        lines = []
        for record in records:
            if record.member_id not in names:
                member = await self.uow.members.get(record.member_id)
                names = {**names, record.member_id: member.codename if member else "?"}
            lines.append(
                CheckinLine(
                    codename=names[record.member_id],
                    state=record.state(now, occurrence.window_ends),
                    late=record.late,
                )
            )
        return lines

    async def answer_checkin(
        self, member: Member, occurrence_id: int, answer: CheckinAnswer
    ) -> bool:
        """Record *Estoy bien* / *Necesito ayuda*; help is escalated at once.

        Returns whether anything changed (a repeated press changes nothing).

        Raises:
            NotAllowed: the member is not active.
            NotFound: the member was not asked in this occurrence (forged callback, T-10).
        """
        authorize(member, Action.ANSWER_CHECKIN)
        occurrence = await self.uow.schedules.occurrence(occurrence_id)
        if occurrence is None or occurrence.window_ends is None:
            await self._audit(member, "checkin_answer", "denied", f"occurrence:{occurrence_id}")
            raise NotFound("checkin")
        now = self.clock.now()
        late = now >= occurrence.window_ends
        async with self.uow.transaction():
            changed = await self.uow.schedules.answer(occurrence_id, member.id, answer, now, late)
            if changed is None:
                await self._audit(
                    member, "checkin_answer", "denied", f"occurrence:{occurrence_id}"
                )
                raise NotFound("checkin")
            if not changed:
                return False
            await self._audit(member, "checkin_answer", str(answer), f"occurrence:{occurrence_id}")
            region = await self._occurrence_region(occurrence, member)
            helpers = await region_helpers(self.uow.members, region)
            if answer is CheckinAnswer.HELP:
                await self.uow.outbox.enqueue_many(
                    [
                        OutboxMessage(
                            idempotency_key=f"checkin-help:{occurrence_id}:{member.id}:{h.id}",
                            kind=OutboxKind.HELP,
                            member_id=h.id,
                            notice=CheckinHelp(occurrence_id, ((member.id, member.codename),)),
                            # One escalation waiting per coordinator and occurrence, uniting
                            # everybody who asked meanwhile (as an alert's help, issue #13).
                            correlation=f"checkin-help:{occurrence_id}:{h.id}",
                        )
                        for h in helpers
                    ]
                )
            elif late and occurrence.warned_at is not None:
                await self.uow.outbox.enqueue_many(
                    [
                        OutboxMessage(
                            idempotency_key=f"checkin-late:{occurrence_id}:{member.id}:{h.id}",
                            kind=OutboxKind.CHECKIN,
                            member_id=h.id,
                            notice=CheckinLate(occurrence_id, member.codename),
                            correlation=f"checkin-late:{occurrence_id}",
                        )
                        for h in helpers
                    ]
                )
        return True

    async def ack_checkin_help(self, actor: Member, occurrence_id: int, member_id: int) -> Member:
        """A coordinator takes a check-in's help request; the others are told who did.

        Returns who asked.

        Raises:
            NotFound: unknown, or outside the actor's regions (audited, T-10).
            Conflict: someone took it first.
        """
        occurrence = await self.uow.schedules.occurrence(occurrence_id)
        asker = await self.uow.members.get(member_id)
        region = (
            await self._occurrence_region(occurrence, asker) if occurrence is not None else None
        )
        scope = frozenset({region}) if region else frozenset[str]()
        if occurrence is None or asker is None or not is_allowed(actor, Action.ACK_HELP, scope):
            await self._audit(actor, "checkin_help_ack", "denied", f"occurrence:{occurrence_id}")
            raise NotFound("help")
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.uow.schedules.ack_help(occurrence_id, member_id, actor.id, now):
                raise Conflict("help already taken")
            await self._audit(actor, "checkin_help_ack", "ok", f"occurrence:{occurrence_id}")
            await self.uow.outbox.enqueue_many(
                [
                    OutboxMessage(
                        idempotency_key=f"checkin-help-acked:{occurrence_id}:{member_id}:{h.id}",
                        kind=OutboxKind.HELP,
                        member_id=h.id,
                        notice=CheckinHelpAcked(asker.codename, actor.codename),
                        correlation=f"checkin-help:{occurrence_id}",
                    )
                    for h in await region_helpers(self.uow.members, region)
                    if h.id != actor.id
                ]
            )
        return asker
