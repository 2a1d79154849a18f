"""The SQLite unit of work: one object holding every repository over one ``Database``.

Implements ``bot.domain.ports.UnitOfWork``. The composition root builds it once, so every
service reads and writes through the same repository objects, and ``transaction()`` is the
database's own (``BEGIN IMMEDIATE``, nested calls in the same task join the outer one):
a repository call joins whatever transaction the calling task has open, however deep it is
made (docs/architecture.md §4.2).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

from bot.domain.ports import Clock
from storage.alerts import SqliteAlertRepository
from storage.audit import SqliteAuditLog
from storage.chat_messages import SqliteChatMessageLog
from storage.claim_drafts import SqliteAmountRequests, SqliteClaimEdits, SqliteOperationEdits
from storage.claims import SqliteClaimRepository
from storage.database import Database
from storage.inbound import SqliteInboundLog
from storage.keys import AuditKeys, KeyMaterial
from storage.members import SqliteAccountCounters, SqliteInviteRepository, SqliteMemberRepository
from storage.outbox import SqliteOutbox
from storage.pin import SqlitePinRepository
from storage.regions import SqliteRegionEdits, SqliteRegionRepository
from storage.registrations import SqliteRegistrationStore
from storage.schedules import SqliteScheduleRepository


@dataclass(frozen=True, slots=True)
class SqliteUnitOfWork:
    """Every repository over one database; ``transaction()`` groups their writes (R-01).

    The claim repository answers as ``claims``, ``claim_ledger`` and ``claim_lister`` (one
    object, three ports), the audit log as ``audit`` and ``audit_reader``.
    """

    db: Database
    members: SqliteMemberRepository
    regions: SqliteRegionRepository
    invites: SqliteInviteRepository
    counters: SqliteAccountCounters
    claims: SqliteClaimRepository
    claim_edits: SqliteClaimEdits
    amount_requests: SqliteAmountRequests
    operation_edits: SqliteOperationEdits
    region_edits: SqliteRegionEdits
    audit: SqliteAuditLog
    registrations: SqliteRegistrationStore
    outbox: SqliteOutbox
    alerts: SqliteAlertRepository
    pins: SqlitePinRepository
    chat_log: SqliteChatMessageLog
    inbound: SqliteInboundLog
    schedules: SqliteScheduleRepository

    @classmethod
    def over(
        cls,
        db: Database,
        keys: KeyMaterial,
        audit_keys: AuditKeys | None,
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> SqliteUnitOfWork:
        """Build every repository over ``db``; ``on_enqueue`` is told of every outbox row."""
        return cls(
            db=db,
            members=SqliteMemberRepository(db, keys),
            regions=SqliteRegionRepository(db),
            invites=SqliteInviteRepository(db, keys),
            counters=SqliteAccountCounters(db, keys),
            claims=SqliteClaimRepository(db, keys),
            claim_edits=SqliteClaimEdits(db, keys),
            amount_requests=SqliteAmountRequests(db, keys),
            operation_edits=SqliteOperationEdits(db, keys),
            region_edits=SqliteRegionEdits(db),
            audit=SqliteAuditLog(db, audit_keys),
            registrations=SqliteRegistrationStore(db, keys),
            outbox=SqliteOutbox(db, keys, clock, on_enqueue=on_enqueue),
            alerts=SqliteAlertRepository(db, keys),
            pins=SqlitePinRepository(db, keys),
            chat_log=SqliteChatMessageLog(db, keys),
            inbound=SqliteInboundLog(db, keys),
            schedules=SqliteScheduleRepository(db, keys),
        )

    def transaction(self) -> AbstractAsyncContextManager[object]:
        """The database's write transaction; nested calls in the same task join it."""
        return self.db.transaction()

    @property
    def claim_ledger(self) -> SqliteClaimRepository:
        """The claim repository, as claims administration sees it."""
        return self.claims

    @property
    def claim_lister(self) -> SqliteClaimRepository:
        """The claim repository, as the oversight export sees it."""
        return self.claims

    @property
    def audit_reader(self) -> SqliteAuditLog:
        """The audit log, read back and checked."""
        return self.audit
