"""Safety alerts: compose, approve (M-14), fan out through the outbox (R-01), escalate approvals.

Every check goes through ``authorize()`` (M-04). Nothing reaches the outbox before an alert
is ``sending``, and its rows are written in the same transaction as that state change, so a
crash leaves either no alert rows or all of them (R-01). What follows a sent alert (answers,
help, all clear) is ``bot.services.alert_answers``; its live counts ``alert_tallies``.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from bot.domain.alerts import (
    TEMPLATES,
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    Approval,
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
    AlertSent,
    ApprovalDecided,
    ApprovalEscalated,
    ApprovalNeeded,
    Decision,
)
from bot.domain.outbox import KIND_EXPIRY, OutboxKind, OutboxMessage
from bot.domain.ports import Clock, UnitOfWork
from bot.services.alert_tallies import AlertTallies
from bot.services.authz import Action, is_allowed
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
class AlertService:
    """Use cases of safety alerts; holds ports only (no Telegram, no SQL)."""

    uow: UnitOfWork
    clock: Clock
    approval_threshold: int
    #: Counts and quiet-hours release, shared with ``AlertResponses``.
    tallies: AlertTallies
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
        planned = self.tallies.release(draft.severity, self.clock.now())
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
        not_before = self.tallies.release(alert.severity, now)
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
        await self.tallies.enqueue(sent)
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


def alert_notice(alert: Alert) -> AlertSent:
    """The outbox notice of an alert's rows: everything the renderer needs, in both languages.

    Stored sealed by the outbox; rendered per recipient language at send time.
    """
    return AlertSent(alert=alert.id, severity=alert.severity, content=alert.content)
