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
    AlertRepository,
    AlertStatus,
    AlertTally,
    Answer,
    AnswerOutcome,
    HelpRequest,
    QuietHours,
    Severity,
    free_text,
    needs_approval,
    template_params,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Member, Region, Role
from bot.domain.outbox import KIND_EXPIRY, Outbox, OutboxKind, OutboxMessage
from bot.domain.ports import AuditLog, Clock, MemberRepository, RegionRepository, UnitOfWork
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch

_LOGGER = logging.getLogger(__name__)

#: Outbox template names; their renderers are registered by ``handlers.alerts``.
TEMPLATE_ALERT = "alert"
TEMPLATE_TALLY = "alert_tally"
TEMPLATE_HELP = "alert_help"
TEMPLATE_HELP_ACKED = "alert_help_acked"
TEMPLATE_APPROVAL_NEEDED = "alert_approval_needed"

#: Per-coordinator broadcast rate cap (M-14): alerts created per hour.
MAX_ALERTS_PER_HOUR = 10


def correlation(alert_id: int) -> str:
    """The outbox correlation that groups one alert's recipient rows."""
    return f"alert:{alert_id}"


@dataclass(frozen=True, slots=True)
class AlertPreview:
    """What the sender confirms: the draft, who would get it and whether it needs approval."""

    draft: AlertDraft
    recipients: int
    needs_approval: bool


@dataclass(frozen=True, slots=True)
class AlertService:
    """Use cases of safety alerts; holds ports only (no Telegram, no SQL)."""

    alerts: AlertRepository
    members: MemberRepository
    regions: RegionRepository
    outbox: Outbox
    audit: AuditLog
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
        watch = self.denial_watch or DenialWatch(
            members=self.members,
            outbox=self.outbox,
            audit=self.audit,
            clock=self.clock,
            uow=self.uow,
        )
        object.__setattr__(self, "denials", watch)  # frozen: set once, here

    # ------------------------------------------------------------------ composing

    async def _audit(self, actor: Member, action: str, result: str, target: str) -> None:
        await self.audit.record(
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
            for region in await self.regions.list_all()
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
        await self.alerts.save_draft(draft)
        return draft

    async def draft(self, actor: Member) -> AlertDraft:
        """The actor's current, fresh draft.

        Raises:
            NotAllowed: the actor may not send alerts.
            NotFound: no draft, or it went stale (the handler says "menú vencido").
        """
        await self._require(actor, Action.SEND_ALERT, frozenset(actor.regions))
        draft = await self.alerts.get_draft(actor.id)
        if draft is None or draft.stale(self.clock.now()):
            raise NotFound("draft")
        return draft

    async def _save(self, draft: AlertDraft) -> AlertDraft:
        await self.alerts.save_draft(draft)
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
        content = AlertContent(template=key, params=params)
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
        names = {region.id: region.name for region in await self.regions.list_all()}
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
        recipients = len(await self.members.in_regions(draft.regions, [Role.INFORMANT]))
        approval = needs_approval(
            draft.content, draft.regions, actor, recipients, self.approval_threshold
        )
        return AlertPreview(draft=draft, recipients=recipients, needs_approval=approval)

    async def cancel_draft(self, actor: Member) -> None:
        """Drop the actor's draft (nothing was sent)."""
        await self.alerts.delete_draft(actor.id)

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
        existing = await self.alerts.by_nonce(actor.id, nonce)
        if existing is not None:
            return existing
        preview = await self.preview(actor)
        draft = preview.draft
        if draft.nonce != nonce or draft.severity is None:
            raise NotFound("draft")
        now = self.clock.now()
        recent = await self.alerts.recent(now - timedelta(hours=1))
        if sum(alert.creator_id == actor.id for alert in recent) >= MAX_ALERTS_PER_HOUR:
            await self._audit(actor, "alert_create", "rate_capped", f"member:{actor.id}")
            raise NotAllowed(Action.SEND_ALERT)
        try:
            async with self.uow.transaction():
                alert = await self.alerts.add(
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
                    )
                )
                await self.alerts.delete_draft(actor.id)
                if preview.needs_approval:
                    await self._audit(actor, "alert_create", "pending", f"alert:{alert.id}")
                    await self._ask_for_approval(alert)
                    return alert
                await self._audit(actor, "alert_create", "ok", f"alert:{alert.id}")
                return await self._dispatch(alert, decided_by=None)
        except Conflict:
            # A concurrent confirmation of the same draft won the race (T-33).
            existing = await self.alerts.by_nonce(actor.id, nonce)
            if existing is None:
                raise
            return existing

    async def _ask_for_approval(self, alert: Alert) -> None:
        """Tell everyone who may approve that an alert waits (neutral, no content)."""
        coordinators = await self.members.in_regions(alert.regions, [Role.COORDINATOR])
        admins = [m for m in await self.members.list_all() if m.role is Role.ADMIN and m.active]
        messages = [
            OutboxMessage(
                idempotency_key=f"alert-approval:{alert.id}:{member.id}",
                kind=OutboxKind.NOTIFICATION,
                member_id=member.id,
                template=TEMPLATE_APPROVAL_NEEDED,
                params={"alert": str(alert.id)},
                correlation=correlation(alert.id),
            )
            for member in (*coordinators, *admins)
            if is_allowed(member, Action.APPROVE_ALERT, alert)
        ]
        await self.outbox.enqueue_many(messages)

    def _release(self, severity: Severity, now: datetime) -> datetime | None:
        """Quiet hours defer non-urgent alerts to their end; urgent ones go at once."""
        if severity is Severity.URGENT or self.quiet_hours is None:
            return None
        return self.quiet_hours.release(now, self.clock.tz)

    async def _dispatch(self, alert: Alert, decided_by: int | None) -> Alert:
        """Mark ``sending`` and write every recipient's outbox row, in the caller's transaction.

        Recipients are read now (not at composition): someone unlinked meanwhile gets nothing.
        """
        now = self.clock.now()
        recipients = await self.members.in_regions(alert.regions, [Role.INFORMANT])
        if not await self.alerts.decide(
            alert.id, AlertStatus.SENDING, decided_by, now, len(recipients)
        ):
            raise Conflict("alert no longer pending")
        await self.alerts.add_deliveries(alert.id, [member.id for member in recipients])
        not_before = self._release(alert.severity, now)
        expires_at = (not_before or now) + KIND_EXPIRY[OutboxKind.ALERT]
        params = alert_params(alert)
        await self.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"alert:{alert.id}:{member.id}",
                    kind=OutboxKind.ALERT,
                    member_id=member.id,
                    template=TEMPLATE_ALERT,
                    params=params,
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
            for alert in await self.alerts.pending()
            if is_allowed(actor, Action.APPROVE_ALERT, alert)
        ]

    async def _decidable(self, actor: Member, alert_id: int) -> Alert:
        alert = await self.alerts.get(alert_id)
        if alert is None:
            raise NotFound("alert")
        if not is_allowed(actor, Action.APPROVE_ALERT, alert):
            result = "self_approval" if alert.creator_id == actor.id else "denied"
            await self.denials.denied(actor, "alert_approve", f"alert:{alert.id}", result)
            raise NotAllowed(Action.APPROVE_ALERT)
        if alert.status is not AlertStatus.PENDING:
            raise Conflict("alert already decided")
        return alert

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
        return sent

    async def reject(self, actor: Member, alert_id: int) -> Alert:
        """A second person refuses: nothing is ever sent.

        Raises:
            NotFound: unknown alert.
            NotAllowed: the creator themself, or out of scope (audited).
            Conflict: already approved or rejected.
        """
        alert = await self._decidable(actor, alert_id)
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.alerts.decide(
                alert.id, AlertStatus.REJECTED, actor.id, now, alert.recipients
            ):
                raise Conflict("alert already decided")
            await self._audit(actor, "alert_reject", "ok", f"alert:{alert.id}")
        return replace(alert, status=AlertStatus.REJECTED, decided_by=actor.id, decided_at=now)

    # ------------------------------------------------------------------ tallies

    async def recent_for(self, actor: Member) -> list[tuple[Alert, AlertTally]]:
        """Alerts of the last day that ``actor`` may see, each with its tally."""
        since = self.clock.now() - RECENT_WINDOW
        result: list[tuple[Alert, AlertTally]] = []
        for alert in await self.alerts.recent(since):
            if is_allowed(actor, Action.VIEW_ALERTS, frozenset(alert.regions)):
                result.append((alert, await self.alerts.tally(alert.id)))
        return result

    async def _enqueue_tally(self, alert: Alert) -> bool:
        """Queue one edit of the sender's summary if any count changed (coalescing).

        The row carries the tally's version: it cancels the edit still waiting for this
        message, so however many answers arrive, one edit with the latest counts is pending.
        """
        if alert.tally_message_id is None or alert.status is not AlertStatus.SENDING:
            return False
        tally = await self.alerts.tally(alert.id)
        version = await self.alerts.bump_tally(alert.id, tally.signature())
        if version is None:
            return False
        return await self.outbox.enqueue(
            OutboxMessage(
                idempotency_key=f"tally:{alert.id}:{version}",
                kind=OutboxKind.TALLY,
                member_id=alert.creator_id,
                template=TEMPLATE_TALLY,
                params=tally_params(alert, tally),
                correlation=f"tally:{alert.id}",
                # One pending edit per tally message, never an older count after a newer one.
                version=version,
            )
        )

    async def refresh_tally(self, alert_id: int) -> bool:
        """Queue a summary edit for one alert if its counts changed."""
        async with self.uow.transaction():
            alert = await self.alerts.get(alert_id)
            return alert is not None and await self._enqueue_tally(alert)

    async def refresh_tallies(self) -> int:
        """The tally tick: one coalesced summary edit per changed recent alert."""
        since = self.clock.now() - RECENT_WINDOW
        changed = 0
        for alert in await self.alerts.recent(since, AlertStatus.SENDING):
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
            alert = await self.alerts.get(alert_id)
            now = self.clock.now()
            stored = (
                None
                if alert is None
                else await self.alerts.record_answer(alert_id, member.id, answer, now)
            )
            if alert is not None and stored:
                await self._audit(member, "alert_answer", str(answer), f"alert:{alert.id}")
                if answer is Answer.HELP:
                    request = await self._escalate(alert, member, now)
                # Counting costs a pass over every recipient: while an edit still waits for
                # the coordinator's chat, leave the counts to the caller's refresh_tally.
                deferred = await self.alerts.tally_waiting(alert.id)
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
            await self.members.in_regions([region], [Role.COORDINATOR]) if region else []
        )
        if coordinators:
            return coordinators
        return [m for m in await self.members.list_all() if m.role is Role.ADMIN and m.active]

    async def _escalate(self, alert: Alert, member: Member, now: datetime) -> HelpRequest:
        request = await self.alerts.add_help(
            HelpRequest(
                id=0,
                alert_id=alert.id,
                member_id=member.id,
                region=member.region or "",
                created_at=now,
            )
        )
        await self.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"help:{request.id}:{helper.id}",
                    kind=OutboxKind.HELP,
                    member_id=helper.id,
                    template=TEMPLATE_HELP,
                    params={
                        "help": str(request.id),
                        "alert": str(alert.id),
                        "codename": member.codename,
                    },
                    correlation=f"help:{request.id}",
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
        request = await self.alerts.get_help(help_id)
        target = frozenset({request.region}) if request else frozenset[str]()
        if request is None or not is_allowed(actor, Action.ACK_HELP, target):
            await self.denials.denied(actor, "help_ack", f"help:{help_id}")
            raise NotFound("help")
        async with self.uow.transaction():
            now = self.clock.now()
            if not await self.alerts.ack_help(help_id, actor.id, now):
                raise Conflict("help already acknowledged")
            await self._audit(actor, "help_ack", "ok", f"help:{help_id}")
            asker = await self.members.get(request.member_id)
            await self.outbox.enqueue_many(
                [
                    OutboxMessage(
                        idempotency_key=f"help-acked:{help_id}:{helper.id}",
                        kind=OutboxKind.HELP,
                        member_id=helper.id,
                        template=TEMPLATE_HELP_ACKED,
                        params={
                            "help": str(help_id),
                            "codename": asker.codename if asker else "",
                            "by": actor.codename,
                        },
                        correlation=f"help:{help_id}",
                    )
                    for helper in await self._helpers(request.region)
                    if helper.id != actor.id
                ]
            )
        return replace(request, acked_by=actor.id, acked_at=now)


def alert_params(alert: Alert) -> dict[str, str]:
    """Outbox parameters of an alert row: everything the renderer needs, in both languages.

    Stored sealed by the outbox; rendered per recipient language at send time.
    """
    params = {"alert": str(alert.id), "severity": str(alert.severity)}
    content = alert.content
    if content.template is not None:
        params["template"] = content.template
        params.update({f"p_{name}": value for name, value in content.params.items()})
    else:
        params["text_es"] = content.text_es or ""
        params["text_qu"] = content.text_qu or ""
    return params


def tally_params(alert: Alert, tally: AlertTally) -> dict[str, str]:
    """Outbox parameters of a summary edit (counts only, never content or codenames)."""
    return {
        "alert": str(alert.id),
        "message_id": str(alert.tally_message_id or 0),
        "severity": str(alert.severity),
        "total": str(tally.total),
        "queued": str(tally.queued),
        "sent": str(tally.sent),
        "failed": str(tally.failed),
        "blocked": str(tally.blocked),
        "cancelled": str(tally.cancelled),
        "safe": str(tally.safe),
        "help": str(tally.help),
        "no_answer": str(tally.no_answer),
    }
