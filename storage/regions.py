"""Regions: plaintext names (needed for scoping, docs/threat-model.md §4)."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import Conflict
from bot.domain.models import Region
from bot.domain.registrations import RegionEdit, RegionUsage
from storage.codec import parse_ts, ts
from storage.database import Database


async def region_named(db: Database, name: str, *, other_than: int | None = None) -> Region | None:
    """The region called ``name`` in any case, accented capitals included (#16.3).

    The column's ``COLLATE NOCASE`` folds ASCII letters only: ``RÍO ENE`` and ``Río Ene``
    were two regions, and ``--region "RÍO ENE"`` found neither. Regions are few (tens),
    so every name is compared with ``str.casefold``. ``other_than`` skips one region (a
    rename may change the case of its own name).
    """
    wanted = name.casefold()
    for row in await db.fetchall("SELECT id, name FROM regions ORDER BY id"):
        if row["name"].casefold() == wanted and row["id"] != other_than:
            return Region(id=row["id"], name=row["name"])
    return None


@dataclass(frozen=True, slots=True)
class SqliteRegionRepository:
    """Implements ``bot.domain.ports.RegionRepository``."""

    db: Database

    async def add(self, name: str, now: datetime) -> Region:
        """Create a region (``Conflict`` if the name exists, case-insensitive)."""
        try:
            async with self.db.transaction() as conn:
                if await region_named(self.db, name) is not None:
                    raise Conflict("region exists")
                cursor = await conn.execute(
                    "INSERT INTO regions (name, created_at) VALUES (?, ?)", (name, ts(now))
                )
                region_id = cursor.lastrowid
        except sqlite3.IntegrityError:
            raise Conflict("region exists") from None
        assert region_id is not None  # noqa: S101 - INSERT always sets it
        return Region(id=region_id, name=name)

    async def get(self, name: str) -> Region | None:
        """A region by name, in any case (``region_named``)."""
        return await region_named(self.db, name)

    async def list_all(self) -> list[Region]:
        """Every region, by name."""
        rows = await self.db.fetchall("SELECT id, name FROM regions ORDER BY name")
        return [Region(id=row["id"], name=row["name"]) for row in rows]

    async def usage(self) -> dict[int, RegionUsage]:
        """How many members (unlinked ones too), operations, claims and safety alerts (kept
        30 days, with their help requests) use each region, by region id: every table whose
        foreign key would refuse the region's removal."""
        rows = await self.db.fetchall(
            "SELECT r.id,"
            " (SELECT COUNT(*) FROM member_regions WHERE region_id = r.id) AS members,"
            " (SELECT COUNT(*) FROM operations WHERE region_id = r.id) AS operations,"
            " (SELECT COUNT(*) FROM claims WHERE region_id = r.id) AS claims,"
            " (SELECT COUNT(*) FROM (SELECT alert_id FROM alert_regions WHERE region_id = r.id"
            " UNION SELECT alert_id FROM help_requests WHERE region_id = r.id)) AS alerts"
            " FROM regions AS r"
        )
        return {
            row["id"]: RegionUsage(
                members=row["members"],
                operations=row["operations"],
                claims=row["claims"],
                alerts=row["alerts"],
            )
            for row in rows
        }

    async def remove(self, region_id: int) -> None:
        """Delete the region with this id; the caller checked ``usage`` in the same
        transaction (the foreign keys refuse a used one anyway)."""
        await self.db.execute("DELETE FROM regions WHERE id = ?", (region_id,))


@dataclass(frozen=True, slots=True)
class SqliteRegionEdits:
    """Implements ``bot.domain.ports.RegionEditStore``: plaintext, like region names."""

    db: Database

    async def put(self, member_id: int, edit: RegionEdit, now: datetime) -> None:
        """Store the member's region change, replacing any other."""
        await self.db.execute(
            "INSERT INTO region_edits (member_id, region_id, name, created_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET"
            " region_id = excluded.region_id, name = excluded.name,"
            " created_at = excluded.created_at",
            (member_id, edit.region_id, edit.name, ts(now)),
        )

    async def get(self, member_id: int) -> RegionEdit | None:
        """The member's region change, if any."""
        row = await self.db.fetchone(
            "SELECT region_id, name, created_at FROM region_edits WHERE member_id = ?",
            (member_id,),
        )
        if row is None:
            return None
        return RegionEdit(
            region_id=row["region_id"], name=row["name"], created_at=parse_ts(row["created_at"])
        )

    async def drop(self, member_id: int) -> None:
        """Forget the member's region change."""
        await self.db.execute("DELETE FROM region_edits WHERE member_id = ?", (member_id,))
