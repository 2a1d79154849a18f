"""What follows a sent alert: answers, help requests, and the staff's follow-ups (#12.5).

Split from composing and approving (``bot.services.alerts``): these use cases start from an
alert already sent and from its recipients. Answers are idempotent (T-33) and accepted only
from members who actually received the alert (T-10); every follow-up goes through
``authorize()`` (M-04) and a refusal is audited and counted (T-11).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from bot.domain.alerts import (
    Alert,
    AlertStatus,
    Answer,
    AnswerOutcome,
    HelpRequest,
    RecipientAnswer,
)
from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Member
from bot.domain.notices import AlertAllClear, HelpAcked, HelpRequested, HelpSeen
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.domain.ports import Clock, UnitOfWork
from bot.services.alert_tallies import AlertTallies
from bot.services.authz import Action, authorize, is_allowed
from bot.services.members import region_helpers
from bot.services.vigilance import DenialWatch

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class AlertAnswers:
    """Who asked for help and who has not answered a sent alert (issue #12.5), by codename.

    ``help`` pairs each help request with its asker's codename (the request id is what the
    "write to them" button carries); ``no_answer`` received the alert and said nothing;
    ``not_received`` never got it (still waiting, failed, or blocked the bot).
    """

    alert: Alert
    help: tuple[tuple[HelpRequest, str], ...]
    no_answer: tuple[str, ...]
    not_received: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllClear:
    """What an "all clear" did: rows queued now, recipients it is for, alert rows cancelled.

    ``queued`` is 0 on a repeated press (the outbox keys already exist), so the handler can
    say it was sent before.
    """

    alert: Alert
    queued: int
    recipients: int
    cancelled: int


@dataclass(frozen=True, slots=True)
class AlertResponses:
    """Use cases after an alert is sent; holds ports only (no Telegram, no SQL)."""

    uow: UnitOfWork
    clock: Clock
    tallies: AlertTallies
    #: Shared with the other services by the composition root (T-11); None: a private one.
    denial_watch: DenialWatch | None = None
    denials: DenialWatch = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Use the shared ``DenialWatch``, or make a private one."""
        watch = self.denial_watch or DenialWatch(uow=self.uow, clock=self.clock)
        object.__setattr__(self, "denials", watch)  # frozen: set once, here

    async def _audit(self, actor: Member, action: str, result: str, target: str) -> None:
        await self.uow.audit.record(
            action=action,
            result=result,
            now=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            target=target,
        )

    async def answer(self, member: Member, alert_id: int, answer: Answer) -> AnswerOutcome:
        """Record *Estoy bien* / *Necesito ayuda*; help reaches the region's coordinators.

        Raises:
            NotAllowed: the member is not active.
            NotFound: the member never received this alert (forged or foreign callback,
                T-10); audited.
        """
        authorize(member, Action.ANSWER_ALERT)
        request = None
        deferred = False
        async with self.uow.transaction():
            alert = await self.uow.alerts.get(alert_id)
            now = self.clock.now()
            stored = (
                None
                if alert is None
                else await self.uow.alerts.record_answer(alert_id, member.id, answer, now)
            )
            if alert is not None and stored:
                await self._audit(member, "alert_answer", str(answer), f"alert:{alert.id}")
                if answer is Answer.HELP:
                    request = await self._escalate(alert, member, now)
                # Counting costs a pass over every recipient: while an edit still waits for
                # the coordinator's chat, leave the counts to the caller's refresh_tally.
                deferred = await self.uow.alerts.tally_waiting(alert.id)
                if not deferred:
                    await self.tallies.enqueue(alert)
        if alert is None or stored is None:
            # Nothing was written above; the denial is audited in its own transaction.
            await self.denials.denied(member, "alert_answer", f"alert:{alert_id}")
            raise NotFound("alert")
        return AnswerOutcome(
            alert=alert,
            answer=answer,
            changed=stored,
            help_request=request,
            tally_deferred=deferred,
        )

    async def _escalate(self, alert: Alert, member: Member, now: datetime) -> HelpRequest:
        request = await self.uow.alerts.add_help(
            HelpRequest(
                id=0,
                alert_id=alert.id,
                member_id=member.id,
                region=member.region or "",
                created_at=now,
            )
        )
        # One escalation waiting per coordinator and alert: a request that finds one still
        # waiting replaces it by one naming everybody (issue #13: Telegram takes one message a
        # second in a chat, a storm of help requests would queue for minutes). The outbox
        # unites "asked" with the replaced rows' in the same transaction: nobody is dropped.
        await self.uow.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"help:{request.id}:{helper.id}",
                    kind=OutboxKind.HELP,
                    member_id=helper.id,
                    notice=HelpRequested(alert=alert.id, asked=((request.id, member.codename),)),
                    correlation=f"help-escalation:{alert.id}:{helper.id}",
                )
                for helper in await region_helpers(self.uow.members, member.region)
            ]
        )
        _LOGGER.info("Help request %d escalated for alert %d", request.id, alert.id)
        return request

    async def ack_help(self, actor: Member, help_id: int) -> HelpRequest:
        """A coordinator takes a help request; the others are told it is handled.

        Raises:
            NotFound: unknown request, or outside the actor's regions (audited, T-10/T-11).
            Conflict: someone acknowledged it first (the request says who).
        """
        request = await self.uow.alerts.get_help(help_id)
        target = frozenset({request.region}) if request else frozenset[str]()
        if request is None or not is_allowed(actor, Action.ACK_HELP, target):
            await self.denials.denied(actor, "help_ack", f"help:{help_id}")
            raise NotFound("help")
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.uow.alerts.ack_help(help_id, actor.id, now):
                raise Conflict("help already acknowledged")
            await self._audit(actor, "help_ack", "ok", f"help:{help_id}")
            asker = await self.uow.members.get(request.member_id)
            await self.uow.outbox.enqueue_many(
                [
                    OutboxMessage(
                        idempotency_key=f"help-acked:{help_id}:{helper.id}",
                        kind=OutboxKind.HELP,
                        member_id=helper.id,
                        notice=HelpAcked(
                            help=help_id,
                            codename=asker.codename if asker else "",
                            by=actor.codename,
                        ),
                        correlation=f"help:{help_id}",
                    )
                    for helper in await region_helpers(self.uow.members, request.region)
                    if helper.id != actor.id
                ]
            )
        return replace(request, acked_by=actor.id, acked_at=now)

    # ------------------------------------------------------------------ follow-ups (#12.5)

    async def _follow_up(self, actor: Member, alert_id: int, action: str) -> Alert:
        """A sent alert ``actor`` may follow up (its author, or staff of all its regions).

        Raises:
            NotFound: unknown, not sent (pending, rejected, withdrawn), or out of scope; a
                refusal is audited and counted (T-10, T-11), one error for all.
        """
        alert = await self.uow.alerts.get(alert_id)
        if alert is None or not is_allowed(actor, Action.FOLLOW_UP_ALERT, alert):
            await self.denials.denied(actor, action, f"alert:{alert_id}")
            raise NotFound("alert")
        if alert.status is not AlertStatus.SENDING:
            raise NotFound("alert")
        return alert

    async def answers_for(self, actor: Member, alert_id: int) -> AlertAnswers:
        """Codenames of who asked for help and who has not answered (audited read, M-16).

        Raises:
            NotFound: as ``_follow_up``.
        """
        alert = await self._follow_up(actor, alert_id, "alert_answers")
        names = {member.id: member.codename for member in await self.uow.members.list_all()}
        requests = await self.uow.alerts.help_for(alert.id)
        answers: list[RecipientAnswer] = await self.uow.alerts.answers(alert.id)
        helped = {request.member_id for request in requests}
        await self._audit(actor, "alert_answers", "ok", f"alert:{alert.id}")
        return AlertAnswers(
            alert=alert,
            help=tuple((r, names.get(r.member_id, "?")) for r in requests),
            no_answer=tuple(
                sorted(
                    names.get(a.member_id, "?")
                    for a in answers
                    if a.received and a.answer is None and a.member_id not in helped
                )
            ),
            not_received=tuple(
                sorted(names.get(a.member_id, "?") for a in answers if not a.received)
            ),
        )

    async def all_clear_reach(self, actor: Member, alert_id: int) -> tuple[int, int]:
        """For the confirmation step: ``(received, waiting)`` recipients of the alert.

        Raises:
            NotFound: as ``_follow_up``.
        """
        alert = await self._follow_up(actor, alert_id, "alert_all_clear")
        answers = await self.uow.alerts.answers(alert.id)
        received = sum(answer.received for answer in answers)
        return received, (await self.uow.alerts.tally(alert.id)).queued

    async def all_clear(self, actor: Member, alert_id: int) -> AllClear:
        """Send "the danger is over" to everyone the alert reached (issue #12.5).

        Alert rows still waiting (quiet hours, retries) are cancelled: nobody should get a
        warning after its all clear. One outbox row per recipient with the key
        ``alert-clear:<alert>:<member>``, so pressing twice sends once (R-01, T-33). During
        quiet hours it arrives silently.

        Raises:
            NotFound: as ``_follow_up``.
        """
        alert = await self._follow_up(actor, alert_id, "alert_all_clear")
        now = self.clock.now()
        quiet = self.tallies.quiet_now()
        async with self.uow.transaction():
            cancelled = await self.uow.alerts.cancel_waiting(alert.id, now)
            reached = [a.member_id for a in await self.uow.alerts.answers(alert.id) if a.received]
            queued = await self.uow.outbox.enqueue_many(
                [
                    OutboxMessage(
                        idempotency_key=f"alert-clear:{alert.id}:{member_id}",
                        kind=OutboxKind.ALERT,
                        member_id=member_id,
                        notice=AlertAllClear(alert=alert.id, silent=quiet),
                        correlation=f"alert-clear:{alert.id}",
                    )
                    for member_id in reached
                ]
            )
            result = "ok" if queued or cancelled else "repeat"
            await self._audit(actor, "alert_all_clear", result, f"alert:{alert.id}")
        if cancelled:
            await self.tallies.refresh_tally(alert.id)
        return AllClear(alert=alert, queued=queued, recipients=len(reached), cancelled=cancelled)

    async def reach_out(self, actor: Member, help_id: int) -> tuple[HelpRequest, bool]:
        """Tell an informant who asked for help that a coordinator saw it (issue #12.5).

        A fixed neutral text, once per alert and informant (outbox key), whoever presses;
        returns the request and whether it was queued now (False: sent before).

        Raises:
            NotFound: unknown request, or its alert is not the actor's to follow up
                (audited, T-10/T-11).
        """
        request = await self.uow.alerts.get_help(help_id)
        if request is None:
            await self.denials.denied(actor, "help_reach", f"help:{help_id}")
            raise NotFound("help")
        alert = await self._follow_up(actor, request.alert_id, "help_reach")
        async with self.uow.transaction():
            queued = await self.uow.outbox.enqueue(
                OutboxMessage(
                    idempotency_key=f"help-reach:{alert.id}:{request.member_id}",
                    kind=OutboxKind.HELP,
                    member_id=request.member_id,
                    notice=HelpSeen(alert=alert.id),
                    correlation=f"help:{request.id}",
                )
            )
            await self._audit(actor, "help_reach", "ok" if queued else "repeat", f"help:{help_id}")
        return request, queued
