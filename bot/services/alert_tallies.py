"""The sender's live summary of a sent alert, and when an alert held by quiet hours leaves.

Both sides of an alert move its counts: dispatching it (every recipient queued) and every
answer (safe, need help). Each asks this one place to queue a coalesced edit of the
summary, so the rule "one pending edit per summary, never an older count after a newer one"
lives once. When a non-urgent alert leaves during quiet hours is asked by composing (the
preview), by the tally (it says until when) and by the all clear.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.alerts import RECENT_WINDOW, Alert, AlertStatus, AlertTally, QuietHours, Severity
from bot.domain.models import Member
from bot.domain.notices import AlertTallyChanged
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.domain.ports import Clock, UnitOfWork
from bot.services.authz import Action, is_allowed


@dataclass(frozen=True, slots=True)
class AlertTallies:
    """Counts of sent alerts and their summaries' edits; holds ports only."""

    uow: UnitOfWork
    clock: Clock
    quiet_hours: QuietHours | None

    def quiet_now(self) -> bool:
        """Whether it is quiet hours now (an all clear then arrives silently)."""
        return self.quiet_hours is not None and self.quiet_hours.contains(
            self.clock.now().astimezone(self.clock.tz)
        )

    def release(self, severity: Severity, now: datetime) -> datetime | None:
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
            return self.release(alert.severity, now)
        if alert.status is not AlertStatus.SENDING or alert.decided_at is None:
            return None
        release = self.release(alert.severity, alert.decided_at)
        return release if release is not None and release > now else None

    async def recent_for(self, actor: Member) -> list[tuple[Alert, AlertTally]]:
        """Alerts of the last day that ``actor`` may see, each with its tally."""
        since = self.clock.now() - RECENT_WINDOW
        result: list[tuple[Alert, AlertTally]] = []
        for alert in await self.uow.alerts.recent(since):
            if is_allowed(actor, Action.VIEW_ALERTS, alert):  # its author too (#12.5)
                result.append((alert, await self.uow.alerts.tally(alert.id)))
        return result

    async def enqueue(self, alert: Alert) -> bool:
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
            return alert is not None and await self.enqueue(alert)

    async def refresh_tallies(self) -> int:
        """The tally tick: one coalesced summary edit per changed recent alert."""
        since = self.clock.now() - RECENT_WINDOW
        changed = 0
        for alert in await self.uow.alerts.recent(since, AlertStatus.SENDING):
            changed += await self.refresh_tally(alert.id)
        return changed
