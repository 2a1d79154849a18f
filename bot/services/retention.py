"""The retention policy (docs/threat-model.md §4, M-15) and the nightly purge use case.

Only arithmetic on the clock lives here; ``storage.retention`` does the deleting. The lead
registers ``RetentionService.purge`` as a nightly job (any time; it is idempotent and a
missed night is caught up by the next run), and ``chaski purge`` runs it on demand.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.domain.ports import Clock
from bot.domain.retention import PurgeReport, RetentionCutoffs, RetentionStore

_LOGGER = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long each kind of row is kept after it stopped mattering (docs/threat-model.md §4)."""

    closed_claims: timedelta = timedelta(days=90)
    invites: timedelta = timedelta(days=7)
    counters: timedelta = timedelta(hours=24)
    processed_updates: timedelta = timedelta(days=7)
    chat_messages: timedelta = timedelta(hours=48)
    final_outbox: timedelta = timedelta(days=30)
    alerts: timedelta = timedelta(days=30)
    audit: timedelta = timedelta(days=365)

    def __post_init__(self) -> None:
        """Refuse limits that would delete live data: counters are 24-hour windows and
        Telegram redelivers updates for up to 24 hours, so nothing goes sooner."""
        for name in self.__dataclass_fields__:
            if getattr(self, name) < timedelta(hours=24):
                raise ValueError(f"retention for {name} must be at least 24 hours")

    def cutoffs(self, now: datetime) -> RetentionCutoffs:
        """The instants before which each kind of row is deleted."""
        if now.tzinfo is None:
            raise ValueError("now must be timezone-aware")
        return RetentionCutoffs(
            now=now,
            closed_claims=now - self.closed_claims,
            invites=now - self.invites,
            counters=now - self.counters,
            processed_updates=now - self.processed_updates,
            chat_messages=now - self.chat_messages,
            final_outbox=now - self.final_outbox,
            alerts=now - self.alerts,
            audit=now - self.audit,
        )


@dataclass(frozen=True, slots=True)
class RetentionService:
    """Runs the purge with the policy's cut-offs; logs counts only, never content."""

    store: RetentionStore
    clock: Clock
    policy: RetentionPolicy = field(default_factory=RetentionPolicy)

    async def purge(self, now: datetime | None = None) -> PurgeReport:
        """Delete everything past its retention; ``now`` defaults to the clock."""
        report = await self.store.purge(self.policy.cutoffs(now or self.clock.now()))
        _LOGGER.info(
            "Retention purge deleted %d row(s): %s; WAL truncated: %s",
            report.total,
            ", ".join(f"{table}={n}" for table, n in sorted(report.deleted.items()) if n)
            or "nothing",
            report.wal_checkpointed,
        )
        return report
