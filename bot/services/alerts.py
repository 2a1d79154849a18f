"""Safety alerts: compose, approve (M-14), fan out through the outbox (R-01), tally, escalate.

Every check goes through ``authorize()`` (M-04). Nothing reaches the outbox before an alert
is ``sending``, and its rows are written in the same transaction as that state change, so a
crash leaves either no alert rows or all of them (R-01). Answers are idempotent (T-33) and
accepted only from members who actually received the alert (T-10).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.alerts import (
    RECENT_WINDOW,
    TEMPLATES,
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    AlertTally,
    Answer,
    AnswerOutcome,
    Approval,
    HelpRequest,
    QuietHours,
    RecipientAnswer,
    RejectReason,
    Severity,
    clean_param,
    free_text,
    listed_place,
    required_approval,
    template_params,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Member, Region, Role
from bot.domain.notices import (
    AlertAllClear,
    AlertSent,
    AlertTallyChanged,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalNeeded,
    Decision,
    HelpAcked,
    HelpRequested,
    HelpSeen,
)
from bot.domain.outbox import KIND_EXPIRY, OutboxKind, OutboxMessage
from bot.domain.ports import Clock, UnitOfWork
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch

_LOGGER = logging.getLogger(__name__)

#: An urgent alert still waiting for approval this long is escalated to the administrators.
ESCALATE_AFTER = timedelta(minutes=5)

#: Per-coordinator broadcast rate cap (M-14): alerts created per hour.
MAX_ALERTS_PER_HOUR = 10


def correlation(alert_id: int) -> str:
    """The outbox correlation that groups one alert's recipient rows."""
    return f"alert:{alert_id}"


@dataclass(frozen=True, slots=True)
class AlertPreview:
    """What the sender confirms: the draft, who would get it, whose approval it needs and
    who could give it (codenames; empty while approval is needed: nobody can, issue #12.4)."""

    draft: AlertDraft
    recipients: int
    approval: Approval
    approvers: tuple[str, ...] = ()
    #: When it would leave if sent now: the end of quiet hours, or None (at once).
    planned: datetime | None = None

    @property
    def needs_approval(self) -> bool:
        """Whether a second person must approve before anything is sent."""
        return self.approval is not Approval.NONE

    @property
    def stranded(self) -> bool:
        """Approval is needed and nobody may give it: confirming is refused."""
        return self.needs_approval and not self.approvers


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
class AlertService:
    """Use cases of safety alerts; holds ports only (no Telegram, no SQL)."""

    uow: UnitOfWork
    clock: Clock
    approval_threshold: int
    quiet_hours: QuietHours | None
    #: Audits and counts every refusal (T-11); the composition root shares one instance
    #: with the PIN and unlink services. None: a private one (unit tests).
    denial_watch: DenialWatch | None = None
    denials: DenialWatch = field(init=False, repr=False)

    def __post_init__(self) -> None:
        """Use the shared ``DenialWatch``, or make a private one."""
        watch = self.denial_watch or DenialWatch(uow=self.uow, clock=self.clock)
        object.__setattr__(self, "denials", watch)  # frozen: set once, here

    # ------------------------------------------------------------------ composing

    async def _audit(self, actor: Member, action: str, result: str, target: str) -> None:
        await self.uow.audit.record(
            action=action,
            result=result,
            now=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            target=target,
        )

    async def _require(self, actor: Member, action: Action, target: frozenset[str]) -> None:
        """Authorize, auditing and counting a denial (T-11) before re-raising it."""
        if not is_allowed(actor, action, target):
            await self.denials.denied(actor, str(action), f"member:{actor.id}")
            raise NotAllowed(action)

    async def sendable_regions(self, actor: Member) -> list[Region]:
        """Regions ``actor`` may target: their own; every region for an administrator."""
        return [
            region
            for region in await self.uow.regions.list_all()
            if actor.role is Role.ADMIN or region.name in actor.regions
        ]

    async def start_draft(self, actor: Member) -> AlertDraft:
        """Begin a new composition, replacing any earlier draft.

        Raises:
            NotAllowed: the actor may not send alerts.
        """
        await self._require(actor, Action.SEND_ALERT, frozenset(actor.regions))
        draft = AlertDraft(
            member_id=actor.id,
            nonce=secrets.token_hex(4),
            content=AlertContent(),
            regions=(),
            severity=None,
            updated_at=self.clock.now(),
        )
        await self.uow.alerts.save_draft(draft)
        return draft

    async def draft(self, actor: Member) -> AlertDraft:
        """The actor's current, fresh draft.

        Raises:
            NotAllowed: the actor may not send alerts.
            NotFound: no draft, or it went stale (the handler says "menú vencido").
        """
        await self._require(actor, Action.SEND_ALERT, frozenset(actor.regions))
        draft = await self.uow.alerts.get_draft(actor.id)
        if draft is None or draft.stale(self.clock.now()):
            raise NotFound("draft")
        return draft

    async def _save(self, draft: AlertDraft) -> AlertDraft:
        await self.uow.alerts.save_draft(draft)
        return draft

    async def choose_template(self, actor: Member, key: str) -> AlertDraft:
        """Use a pre-translated template (values still to be given if it has placeholders).

        Raises:
            NotFound: no fresh draft, or an unknown template key (forged callback).
        """
        draft = await self.draft(actor)
        if key not in TEMPLATES:
            raise NotFound("template")
        return await self._save(
            replace(draft, content=AlertContent(template=key), updated_at=self.clock.now())
        )

    async def set_values(self, actor: Member, values: Sequence[str]) -> AlertDraft:
        """Fill the chosen template's placeholders, in order.

        Raises:
            NotFound: no fresh draft.
            ValidationError: no template chosen, wrong count or bad values (M-09).
        """
        draft = await self.draft(actor)
        key = draft.content.template
        if key is None:
            raise ValidationError("template: none chosen")
        params = template_params(TEMPLATES[key], values)
        # A place typed in another case becomes the listed name, so it needs no approval.
        places = await self._places()
        params = {
            name: value if name == "time" else listed_place(value, places)
            for name, value in params.items()
        }
        content = AlertContent(template=key, params=params)
        return await self._save(replace(draft, content=content, updated_at=self.clock.now()))

    async def places(self) -> list[Region]:
        """The places a template value may name without approval: the regions (#12.2)."""
        return await self.uow.regions.list_all()

    async def choose_place(self, actor: Member, region_id: int) -> AlertDraft:
        """The place button (issue #12.6): a listed place, so no approval is needed for it.

        Raises:
            NotFound: no fresh draft or unknown region (forged button).
            ValidationError: the chosen template has no place.
        """
        names = {region.id: region.name for region in await self.uow.regions.list_all()}
        name = names.get(region_id)
        if name is None:
            raise NotFound("region")
        return await self.set_value(actor, "place", name)

    async def set_value(self, actor: Member, name: str, value: str) -> AlertDraft:
        """Fill one placeholder of the chosen template (a button press, issue #12.6).

        Raises:
            NotFound: no fresh draft.
            ValidationError: no template chosen, a placeholder it does not have, or a value
                ``clean_param`` refuses (M-09).
        """
        draft = await self.draft(actor)
        key = draft.content.template
        if key is None or name not in TEMPLATES[key].placeholders:
            raise ValidationError(f"{name}: not a placeholder of the chosen template")
        cleaned = clean_param(name, value)
        if name != "time":
            cleaned = listed_place(cleaned, await self._places())
        content = AlertContent(template=key, params={**draft.content.params, name: cleaned})
        return await self._save(replace(draft, content=content, updated_at=self.clock.now()))

    async def set_free_text(self, actor: Member, text_es: str, text_qu: str) -> AlertDraft:
        """Use free text in both languages (it will need a second person's approval).

        Starts a draft if there is none, so ``/aviso_texto`` works on its own.

        Raises:
            ValidationError: either text empty, too long or with hidden characters (M-09).
        """
        es, qu = free_text(text_es, text_qu)
        try:
            draft = await self.draft(actor)
        except NotFound:
            draft = await self.start_draft(actor)
        content = AlertContent(text_es=es, text_qu=qu)
        return await self._save(replace(draft, content=content, updated_at=self.clock.now()))

    async def toggle_region(self, actor: Member, region_id: int) -> AlertDraft:
        """Add or remove one target region.

        Raises:
            NotFound: no fresh draft or unknown region.
            NotAllowed: a region outside the actor's scope (audited, T-11).
        """
        draft = await self.draft(actor)
        names = {region.id: region.name for region in await self.uow.regions.list_all()}
        name = names.get(region_id)
        if name is None:
            raise NotFound("region")
        await self._require(actor, Action.SEND_ALERT, frozenset({name}))
        chosen = set(draft.regions) ^ {name}
        regions = tuple(sorted(chosen))
        return await self._save(replace(draft, regions=regions, updated_at=self.clock.now()))

    async def set_severity(self, actor: Member, severity: Severity) -> AlertDraft:
        """Choose info, warning or urgent.

        Raises:
            NotFound: no fresh draft.
        """
        draft = await self.draft(actor)
        return await self._save(replace(draft, severity=severity, updated_at=self.clock.now()))

    async def preview(self, actor: Member) -> AlertPreview:
        """What confirming would do; the handler shows it in both languages.

        Raises:
            NotFound: no fresh draft.
            ValidationError: content, regions or severity still missing.
            NotAllowed: a chosen region is outside the actor's scope (re-checked, T-11).
        """
        draft = await self.draft(actor)
        if not draft.content.complete:
            raise ValidationError("content: incomplete")
        if not draft.regions:
            raise ValidationError("regions: none chosen")
        if draft.severity is None:
            raise ValidationError("severity: none chosen")
        await self._require(actor, Action.SEND_ALERT, frozenset(draft.regions))
        recipients = len(await self.uow.members.in_regions(draft.regions, [Role.INFORMANT]))
        approval = required_approval(
            draft.content,
            draft.regions,
            actor,
            recipients,
            self.approval_threshold,
            places=await self._places(),
        )
        planned = self._release(draft.severity, self.clock.now())
        if approval is Approval.NONE:
            return AlertPreview(draft, recipients, approval, planned=planned)
        would_be = Alert(
            id=0,
            creator_id=actor.id,
            nonce=draft.nonce,
            content=draft.content,
            severity=draft.severity,
            regions=draft.regions,
            status=AlertStatus.PENDING,
            recipients=recipients,
            created_at=self.clock.now(),
            approval=approval,
        )
        approvers = tuple(member.codename for member in await self._approvers(would_be))
        return AlertPreview(draft, recipients, approval, approvers, planned)

    async def _places(self) -> frozenset[str]:
        """The names administrators keep that a template value may use (issue #12.2)."""
        return frozenset(region.name for region in await self.uow.regions.list_all())

    async def _admins(self) -> list[Member]:
        return [m for m in await self.uow.members.list_all() if m.role is Role.ADMIN and m.active]

    async def _approvers(self, alert: Alert) -> list[Member]:
        """Everyone who may approve ``alert`` now (authorize decides; never the author)."""
        coordinators = await self.uow.members.in_regions(alert.regions, [Role.COORDINATOR])
        return [
            member
            for member in (*coordinators, *await self._admins())
            if is_allowed(member, Action.APPROVE_ALERT, alert)
        ]

    async def cancel_draft(self, actor: Member) -> None:
        """Drop the actor's draft (nothing was sent)."""
        await self.uow.alerts.delete_draft(actor.id)

    # ------------------------------------------------------------------ submitting

    async def confirm(self, actor: Member, nonce: str, tally_message_id: int | None) -> Alert:
        """Turn the draft into an alert: sent at once, or pending approval (M-14, T-14).

        Idempotent: a second confirmation of the same draft returns the same alert (T-33).
        ``tally_message_id`` is the sender's preview message, which becomes the live tally.

        Raises:
            NotFound: no fresh draft with this nonce (stale or forged preview).
            ValidationError: the draft is incomplete.
            NotAllowed: out of scope (T-11), or over the hourly broadcast cap (M-14).
        """
        # Checks (and their audited denials) happen before the write transaction, so a
        # refusal's audit row is committed rather than rolled back with the refused write.
        existing = await self.uow.alerts.by_nonce(actor.id, nonce)
        if existing is not None:
            return existing
        preview = await self.preview(actor)
        draft = preview.draft
        if draft.nonce != nonce or draft.severity is None:
            raise NotFound("draft")
        if preview.stranded:
            # Nobody could ever approve it: refuse rather than strand it (issue #12.4).
            await self._audit(actor, "alert_create", "no_approver", f"member:{actor.id}")
            raise ValidationError("approvers: none")
        now = self.clock.now()
        recent = await self.uow.alerts.recent(now - timedelta(hours=1))
        if sum(alert.creator_id == actor.id for alert in recent) >= MAX_ALERTS_PER_HOUR:
            await self._audit(actor, "alert_create", "rate_capped", f"member:{actor.id}")
            raise NotAllowed(Action.SEND_ALERT)
        try:
            async with self.uow.transaction():
                alert = await self.uow.alerts.add(
                    Alert(
                        id=0,
                        creator_id=actor.id,
                        nonce=nonce,
                        content=draft.content,
                        severity=draft.severity,
                        regions=draft.regions,
                        status=AlertStatus.PENDING,
                        recipients=preview.recipients,
                        created_at=now,
                        tally_message_id=tally_message_id,
                        approval=preview.approval,
                    )
                )
                await self.uow.alerts.delete_draft(actor.id)
                if preview.needs_approval:
                    await self._audit(actor, "alert_create", "pending", f"alert:{alert.id}")
                    await self._ask_for_approval(alert)
                    return alert
                await self._audit(actor, "alert_create", "ok", f"alert:{alert.id}")
                return await self._dispatch(alert, decided_by=None)
        except Conflict:
            # A concurrent confirmation of the same draft won the race (T-33).
            existing = await self.uow.alerts.by_nonce(actor.id, nonce)
            if existing is None:
                raise
            return existing

    async def _ask_for_approval(self, alert: Alert) -> None:
        """Tell the first approvers that an alert waits (neutral, no content; issue #12.4).

        A template alert beyond its author's regions asks the regions' coordinators first
        (administrators only when there are none); anything needing an administrator asks
        the administrators. An urgent alert still waiting is escalated later
        (``escalate_waiting``).
        """
        approvers = await self._approvers(alert)
        first = [m for m in approvers if m.role is Role.COORDINATOR] or approvers
        await self.uow.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"alert-approval:{alert.id}:{member.id}",
                    kind=OutboxKind.NOTIFICATION,
                    member_id=member.id,
                    notice=ApprovalNeeded(alert=alert.id),
                    correlation=correlation(alert.id),
                )
                for member in first
            ]
        )

    async def escalate_waiting(self) -> int:
        """The approval tick: urgent alerts waiting ``ESCALATE_AFTER`` reach the administrators.

        Idempotent through the outbox key (one note per alert and administrator, however
        often the tick runs); returns how many notes were queued.
        """
        now = self.clock.now()
        queued = 0
        for alert in await self.uow.alerts.pending():
            if alert.severity is not Severity.URGENT or now - alert.created_at < ESCALATE_AFTER:
                continue
            minutes = int((now - alert.created_at).total_seconds() // 60)
            async with self.uow.transaction():
                queued += await self.uow.outbox.enqueue_many(
                    [
                        OutboxMessage(
                            idempotency_key=f"alert-escalated:{alert.id}:{admin.id}",
                            kind=OutboxKind.HELP,
                            member_id=admin.id,
                            notice=ApprovalEscalated(alert=alert.id, minutes=minutes),
                            correlation=correlation(alert.id),
                        )
                        for admin in await self._approvers(alert)
                        if admin.role is Role.ADMIN
                    ]
                )
        if queued:
            _LOGGER.warning("Escalated %d urgent alert approval note(s)", queued)
        return queued

    def _release(self, severity: Severity, now: datetime) -> datetime | None:
        """Quiet hours defer non-urgent alerts to their end; urgent ones go at once."""
        if severity is Severity.URGENT or self.quiet_hours is None:
            return None
        return self.quiet_hours.release(now, self.clock.tz)

    def planned_for(self, alert: Alert) -> datetime | None:
        """When a held-back alert leaves (issue #12.5); None: at once, or already gone.

        A sending alert's rows were held from its dispatch (``decided_at``); a pending one
        would be held from now if approved now.
        """
        now = self.clock.now()
        if alert.status is AlertStatus.PENDING:
            return self._release(alert.severity, now)
        if alert.status is not AlertStatus.SENDING or alert.decided_at is None:
            return None
        release = self._release(alert.severity, alert.decided_at)
        return release if release is not None and release > now else None

    async def _dispatch(self, alert: Alert, decided_by: int | None) -> Alert:
        """Mark ``sending`` and write every recipient's outbox row, in the caller's transaction.

        Recipients are read now (not at composition): someone unlinked meanwhile gets nothing.
        """
        now = self.clock.now()
        recipients = await self.uow.members.in_regions(alert.regions, [Role.INFORMANT])
        if not await self.uow.alerts.decide(
            alert.id, AlertStatus.SENDING, decided_by, now, len(recipients)
        ):
            raise Conflict("alert no longer pending")
        await self.uow.alerts.add_deliveries(alert.id, [member.id for member in recipients])
        not_before = self._release(alert.severity, now)
        expires_at = (not_before or now) + KIND_EXPIRY[OutboxKind.ALERT]
        notice = alert_notice(alert)
        await self.uow.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"alert:{alert.id}:{member.id}",
                    kind=OutboxKind.ALERT,
                    member_id=member.id,
                    notice=notice,
                    correlation=correlation(alert.id),
                    not_before=not_before,
                    expires_at=expires_at,
                )
                for member in recipients
            ]
        )
        sent = replace(
            alert,
            status=AlertStatus.SENDING,
            decided_by=decided_by,
            decided_at=now,
            recipients=len(recipients),
        )
        await self._enqueue_tally(sent)
        return sent

    # ------------------------------------------------------------------ approval

    async def pending_for(self, actor: Member) -> list[Alert]:
        """Alerts ``actor`` may approve (never their own: self-approval is refused)."""
        return [
            alert
            for alert in await self.uow.alerts.pending()
            if is_allowed(actor, Action.APPROVE_ALERT, alert)
        ]

    async def approval_queue(self, actor: Member) -> list[tuple[Alert, str]]:
        """``pending_for`` with each author's codename: the approver must know who wrote it."""
        queue = []
        for alert in await self.pending_for(actor):
            author = await self.uow.members.get(alert.creator_id)
            queue.append((alert, author.codename if author else "?"))
        return queue

    async def _decidable(self, actor: Member, alert_id: int) -> Alert:
        alert = await self.uow.alerts.get(alert_id)
        if alert is None:
            raise NotFound("alert")
        if not is_allowed(actor, Action.APPROVE_ALERT, alert):
            result = "self_approval" if alert.creator_id == actor.id else "denied"
            await self.denials.denied(actor, "alert_approve", f"alert:{alert.id}", result)
            raise NotAllowed(Action.APPROVE_ALERT)
        if alert.status is not AlertStatus.PENDING:
            raise Conflict("alert already decided")
        return alert

    async def decidable(self, actor: Member, alert_id: int) -> Alert:
        """The pending alert ``actor`` may decide on: the *Rechazar* button asks this before
        offering reasons, so a late press hears "someone already decided" (issue #12.5).

        Raises:
            NotFound: unknown alert.
            NotAllowed: the creator themself, or out of scope (audited).
            Conflict: already approved, rejected or withdrawn.
        """
        return await self._decidable(actor, alert_id)

    async def approve(self, actor: Member, alert_id: int) -> Alert:
        """A second person approves: the alert's rows enter the outbox now (T-14).

        Raises:
            NotFound: unknown alert.
            NotAllowed: the creator themself, or out of scope (audited).
            Conflict: already approved or rejected.
        """
        alert = await self._decidable(actor, alert_id)  # a denial's audit row must commit
        async with self.uow.transaction():
            sent = await self._dispatch(alert, decided_by=actor.id)
            await self._audit(actor, "alert_approve", "ok", f"alert:{alert.id}")
            await self._tell_author(sent, actor, None)
        return sent

    async def _tell_author(self, alert: Alert, actor: Member, reason: RejectReason | None) -> None:
        """The author learns the decision, by whom and why (issue #12.4)."""
        rejected = alert.status is AlertStatus.REJECTED
        notice = ApprovalDecided(
            alert=alert.id,
            codename=actor.codename,
            decision=Decision.REJECTED if rejected else Decision.APPROVED,
            count=alert.recipients,
            reason=reason,
        )
        await self.uow.outbox.enqueue(
            OutboxMessage(
                idempotency_key=f"alert-decided:{alert.id}",
                kind=OutboxKind.NOTIFICATION,
                member_id=alert.creator_id,
                notice=notice,
                correlation=correlation(alert.id),
            )
        )

    async def reject(
        self, actor: Member, alert_id: int, reason: RejectReason = RejectReason.DOUBTFUL
    ) -> Alert:
        """A second person refuses, saying why: nothing is ever sent; the author is told.

        Raises:
            NotFound: unknown alert.
            NotAllowed: the creator themself, or out of scope (audited).
            Conflict: already approved, rejected or withdrawn.
        """
        alert = await self._decidable(actor, alert_id)
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.uow.alerts.decide(
                alert.id, AlertStatus.REJECTED, actor.id, now, alert.recipients, reason=reason
            ):
                raise Conflict("alert already decided")
            await self._audit(actor, "alert_reject", "ok", f"alert:{alert.id}")
            rejected = replace(
                alert,
                status=AlertStatus.REJECTED,
                decided_by=actor.id,
                decided_at=now,
                reason=reason,
            )
            await self._tell_author(rejected, actor, reason)
        return rejected

    async def withdraw(self, actor: Member, alert_id: int) -> Alert:
        """The author takes back an alert still waiting for approval (issue #12.4).

        Raises:
            NotFound: unknown alert, or someone else's (audited, one error for both).
            Conflict: no longer pending (approved, rejected or withdrawn already).
        """
        alert = await self.uow.alerts.get(alert_id)
        if alert is None or not is_allowed(actor, Action.WITHDRAW_ALERT, alert):
            await self.denials.denied(actor, "alert_withdraw", f"alert:{alert_id}")
            raise NotFound("alert")
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.uow.alerts.decide(
                alert.id, AlertStatus.WITHDRAWN, None, now, alert.recipients
            ):
                raise Conflict("alert already decided")
            await self._audit(actor, "alert_withdraw", "ok", f"alert:{alert.id}")
        return replace(alert, status=AlertStatus.WITHDRAWN, decided_at=now)

    # ------------------------------------------------------------------ tallies

    async def recent_for(self, actor: Member) -> list[tuple[Alert, AlertTally]]:
        """Alerts of the last day that ``actor`` may see, each with its tally."""
        since = self.clock.now() - RECENT_WINDOW
        result: list[tuple[Alert, AlertTally]] = []
        for alert in await self.uow.alerts.recent(since):
            if is_allowed(actor, Action.VIEW_ALERTS, alert):  # its author too (#12.5)
                result.append((alert, await self.uow.alerts.tally(alert.id)))
        return result

    async def _enqueue_tally(self, alert: Alert) -> bool:
        """Queue one edit of the sender's summary if any count changed (coalescing).

        The row carries the tally's version: it cancels the edit still waiting for this
        message, so however many answers arrive, one edit with the latest counts is pending.
        """
        if alert.tally_message_id is None or alert.status is not AlertStatus.SENDING:
            return False
        tally = await self.uow.alerts.tally(alert.id)
        version = await self.uow.alerts.bump_tally(alert.id, tally.signature())
        if version is None:
            return False
        planned = self.planned_for(alert)
        notice = AlertTallyChanged(
            alert=alert.id,
            message_id=alert.tally_message_id,
            severity=alert.severity,
            tally=tally,
            # Held by quiet hours: the summary says until when (#12.5).
            planned=planned.astimezone(self.clock.tz).strftime("%H:%M") if planned else None,
        )
        return await self.uow.outbox.enqueue(
            OutboxMessage(
                idempotency_key=f"tally:{alert.id}:{version}",
                kind=OutboxKind.TALLY,
                member_id=alert.creator_id,
                notice=notice,
                correlation=f"tally:{alert.id}",
                # One pending edit per tally message, never an older count after a newer one.
                version=version,
            )
        )

    async def refresh_tally(self, alert_id: int) -> bool:
        """Queue a summary edit for one alert if its counts changed."""
        async with self.uow.transaction():
            alert = await self.uow.alerts.get(alert_id)
            return alert is not None and await self._enqueue_tally(alert)

    async def refresh_tallies(self) -> int:
        """The tally tick: one coalesced summary edit per changed recent alert."""
        since = self.clock.now() - RECENT_WINDOW
        changed = 0
        for alert in await self.uow.alerts.recent(since, AlertStatus.SENDING):
            changed += await self.refresh_tally(alert.id)
        return changed

    # ------------------------------------------------------------------ answers and help

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
                    await self._enqueue_tally(alert)
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

    async def _helpers(self, region: str | None) -> list[Member]:
        """The region's coordinators; administrators if the region has none (never nobody)."""
        coordinators = (
            await self.uow.members.in_regions([region], [Role.COORDINATOR]) if region else []
        )
        if coordinators:
            return coordinators
        return [m for m in await self.uow.members.list_all() if m.role is Role.ADMIN and m.active]

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
                for helper in await self._helpers(member.region)
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
                    for helper in await self._helpers(request.region)
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
        quiet = self.quiet_hours is not None and self.quiet_hours.contains(
            now.astimezone(self.clock.tz)
        )
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
            await self.refresh_tally(alert.id)
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


def alert_notice(alert: Alert) -> AlertSent:
    """The outbox notice of an alert's rows: everything the renderer needs, in both languages.

    Stored sealed by the outbox; rendered per recipient language at send time.
    """
    return AlertSent(alert=alert.id, severity=alert.severity, content=alert.content)
