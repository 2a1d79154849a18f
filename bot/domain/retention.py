"""Retention cut-offs, the purge report and the storage port they travel through (M-15).

Pure values: ``bot.services.retention`` computes the cut-offs from the clock and the policy
(docs/threat-model.md §4), ``storage.retention`` deletes what is older. Keeping the dates here lets
tests state "older than the limit goes, newer stays" without a database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RetentionCutoffs:
    """Rows last relevant *before* these instants are deleted (all aware UTC)."""

    now: datetime
    #: Paid or rejected claims closed before this go, with their events (90 days); so do the
    #: pseudonyms of members unlinked before this who have no claim left (issue #11.10).
    closed_claims: datetime
    #: Invites used, or expired unused, before this (7 days).
    invites: datetime
    #: Unregistered-contact and invite-failure counter windows started before this (24 h).
    counters: datetime
    #: Inbound ``update_id`` records (7 days; Telegram redelivers for at most 24 h).
    processed_updates: datetime
    #: Message ids kept for the panic wipe: useless after Telegram's 48 h deletion window.
    chat_messages: datetime
    #: Outbox rows in a final state last updated before this (30 days).
    final_outbox: datetime
    #: Alerts (with their regions, deliveries, help requests) and stale drafts (30 days).
    alerts: datetime
    #: Audit entries (1 year); a checkpoint entry keeps the remaining chain verifiable.
    audit: datetime


@dataclass(frozen=True, slots=True)
class PurgeReport:
    """Rows deleted per table (cascaded rows under their own table) and WAL state."""

    deleted: Mapping[str, int]
    #: True when the WAL was checkpointed and truncated afterwards (no old frames remain).
    wal_checkpointed: bool

    @property
    def total(self) -> int:
        """Rows deleted over all tables."""
        return sum(self.deleted.values())


class RetentionStore(Protocol):
    """Deletes everything older than the cut-offs, then scrubs the WAL."""

    async def purge(self, cutoffs: RetentionCutoffs) -> PurgeReport:
        """Delete expired rows; safe to run again (deleting nothing the second time)."""
        ...
