"""Composition root shared by the bot and the CLI: keys, database, repositories, services.

Only this module, ``bot.app`` and ``bot.cli`` may import ``storage`` (tests/test_architecture.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot.config import Settings
from bot.domain.ports import Clock
from bot.services.claims import ClaimService
from bot.services.claims_import import ClaimImportService
from bot.services.clock import SystemClock
from bot.services.container import Services
from bot.services.invites import InviteService
from bot.services.registration import RegistrationService
from storage.audit import SqliteAuditLog
from storage.claims import SqliteClaimRepository
from storage.database import Database
from storage.keys import KeyMaterial, ensure_keys, load_keys
from storage.members import (
    SqliteAccountCounters,
    SqliteInviteRepository,
    SqliteMemberRepository,
)
from storage.regions import SqliteRegionRepository

_LOGGER = logging.getLogger(__name__)


class _UnwiredDeletions:
    """TEMPORARY until the outbox lands: logs that a deletion would be scheduled."""

    async def schedule_deletion(
        self, member_id: int, message_ids: Sequence[int], delete_at: datetime
    ) -> None:
        _LOGGER.warning("Deletion scheduling not wired yet (%d message(s))", len(message_ids))


@dataclass(slots=True)
class Wiring:
    """Open resources and the services built on them; ``close()`` releases them."""

    db: Database
    keys: KeyMaterial
    services: Services

    async def close(self) -> None:
        """Close the database."""
        await self.db.close()


def prepare_keys(settings: Settings) -> KeyMaterial:
    """Create keys on first run (telling the operator where), then load them fail-closed."""
    if ensure_keys(settings.key_dir, settings.database_path):
        _LOGGER.warning(
            "Created new encryption keys in %s; back this folder up offline, apart from the"
            " database: without it the data cannot be read",
            settings.key_dir,
        )
    return load_keys(settings.key_dir)


async def open_wiring(settings: Settings, *, clock: Clock | None = None) -> Wiring:
    """Load keys, open and migrate the database, build the services.

    ``clock`` lets tests and benchmarks control time; production uses the system clock.
    """
    keys = prepare_keys(settings)
    created = not settings.database_path.exists()
    db = await Database.open(settings.database_path)
    if created:
        _LOGGER.warning("Created new database %s", settings.database_path)
    clock = clock or SystemClock(settings.timezone)
    members = SqliteMemberRepository(db, keys)
    regions = SqliteRegionRepository(db)
    claims = SqliteClaimRepository(db, keys)
    audit = SqliteAuditLog(db)
    services = Services(
        clock=clock,
        registration=RegistrationService(
            members=members,
            invites=SqliteInviteRepository(db, keys),
            counters=SqliteAccountCounters(db, keys),
            audit=audit,
            clock=clock,
        ),
        invites=InviteService(
            invites=SqliteInviteRepository(db, keys), regions=regions, audit=audit, clock=clock
        ),
        claims=ClaimService(claims),
        claims_import=ClaimImportService(
            claims=claims, members=members, regions=regions, audit=audit, clock=clock
        ),
        deletions=_UnwiredDeletions(),
        delete_after=timedelta(minutes=settings.delete_after_minutes),
    )
    return Wiring(db=db, keys=keys, services=services)
