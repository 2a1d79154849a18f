"""Storage fixtures: a real SQLite file under ``tmp_path`` with real keys (architecture.md §7).

Keys come from ``storage.keys.ensure_keys``/``load_keys`` exactly as at start-up, in a folder
apart from the database's (the production rule), and every repository is built over the one
``Database`` so tests see the same transaction discipline as the bot.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import Lang, Member, NewInvite, Role
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
from tests.secrets_registry import remember

#: A fixed, aware instant every storage test starts from.
T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """Where the key files go (not the database's folder)."""
    return tmp_path / "keys"


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    """The database file (its folder is created by ``Database.open``)."""
    return tmp_path / "db" / "chaski.sqlite3"


@pytest.fixture
def keys(key_dir: Path, db_path: Path) -> KeyMaterial:
    """Fresh key material, created and loaded like the bot does on first run."""
    ensure_keys(key_dir, db_path)
    return load_keys(key_dir)


@pytest.fixture
async def db(db_path: Path) -> AsyncIterator[Database]:
    """An open, migrated database; closed after the test."""
    database = await Database.open(db_path)
    try:
        yield database
    finally:
        await database.close()


@dataclass(frozen=True, slots=True)
class Repos:
    """Every SQLite repository over one database and one key set."""

    db: Database
    keys: KeyMaterial
    members: SqliteMemberRepository
    invites: SqliteInviteRepository
    counters: SqliteAccountCounters
    regions: SqliteRegionRepository
    claims: SqliteClaimRepository
    audit: SqliteAuditLog

    async def invite(
        self,
        codename: str,
        *,
        region: str = "Pichari",
        role: Role = Role.INFORMANT,
        lang: Lang | None = None,
        now: datetime = T0,
        ttl: timedelta = timedelta(hours=72),
    ) -> tuple[str, int]:
        """Create an invite (region must exist); return ``(code, member_id)``."""
        code = secrets.token_urlsafe(32)
        remember(code)
        remember(codename)
        member_id = await self.invites.create(
            NewInvite(role, region, codename, lang, 72), code, now + ttl, now
        )
        return code, member_id

    async def member(
        self,
        codename: str,
        telegram_id: int,
        *,
        region: str = "Pichari",
        role: Role = Role.INFORMANT,
    ) -> Member:
        """Create and link a member through an invite."""
        code, _ = await self.invite(codename, region=region, role=role)
        remember(str(telegram_id))
        member = await self.invites.redeem(code, telegram_id, T0)
        assert member is not None
        return member


@pytest.fixture
async def repos(db: Database, keys: KeyMaterial) -> Repos:
    """All repositories, with the regions Pichari and Llochegua already created."""
    built = Repos(
        db=db,
        keys=keys,
        members=SqliteMemberRepository(db, keys),
        invites=SqliteInviteRepository(db, keys),
        counters=SqliteAccountCounters(db, keys),
        regions=SqliteRegionRepository(db),
        claims=SqliteClaimRepository(db, keys),
        audit=SqliteAuditLog(db),
    )
    await built.regions.add("Pichari", T0)
    await built.regions.add("Llochegua", T0)
    return built
