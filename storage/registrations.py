"""Changes administrators make to registrations (issue #16.3): role, regions, invites, regions.

Kept apart from ``storage.members`` (the hot path of every update) so that these rarely run,
staff-only statements stay in one place.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Region, Role
from bot.domain.registrations import OpenInvite
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial
from storage.regions import region_named


@dataclass(frozen=True, slots=True)
class SqliteRegistrationStore:
    """Implements ``bot.domain.ports.RegistrationStore``."""

    db: Database
    keys: KeyMaterial

    async def set_role(self, member_id: int, role: Role) -> None:
        """Change a member's role."""
        await self.db.execute("UPDATE members SET role = ? WHERE id = ?", (str(role), member_id))

    async def set_regions(self, member_id: int, names: Sequence[str]) -> None:
        """Replace a member's regions, in one transaction.

        Raises:
            NotFound: a region does not exist (nothing is changed).
        """
        async with self.db.transaction() as conn:
            ids: list[int] = []
            for name in names:
                row = await self.db.fetchone("SELECT id FROM regions WHERE name = ?", (name,))
                if row is None:
                    raise NotFound("region")
                ids.append(int(row["id"]))
            await conn.execute("DELETE FROM member_regions WHERE member_id = ?", (member_id,))
            await conn.executemany(
                "INSERT OR IGNORE INTO member_regions (member_id, region_id) VALUES (?, ?)",
                [(member_id, region_id) for region_id in ids],
            )

    async def open_invites(self, now: datetime) -> list[OpenInvite]:
        """Invites neither used nor revoked, oldest first (expired ones flagged)."""
        rows = await self.db.fetchall(
            "SELECT i.member_id, i.created_at, i.expires_at, m.role, m.codename_enc,"
            " (SELECT group_concat(name, char(31)) FROM (SELECT r.name FROM member_regions mr"
            "  JOIN regions r ON r.id = mr.region_id WHERE mr.member_id = m.id"
            "  ORDER BY r.name)) AS regions"
            " FROM invites i JOIN members m ON m.id = i.member_id"
            " WHERE i.used_at IS NULL AND i.revoked = 0 ORDER BY i.id"
        )
        sealer = Sealer(self.keys.cipher, "members")
        return [
            OpenInvite(
                member_id=int(row["member_id"]),
                codename=sealer.open("codename", row["member_id"], row["codename_enc"]),
                role=Role(row["role"]),
                regions=tuple(row["regions"].split("\x1f")) if row["regions"] else (),
                created_at=parse_ts(row["created_at"]),
                expires_at=parse_ts(row["expires_at"]),
                expired=row["expires_at"] <= ts(now),
            )
            for row in rows
        ]

    async def revoke_invites(self, member_id: int) -> int:
        """Revoke a member's unused invites; how many were revoked."""
        cursor = await self.db.execute(
            "UPDATE invites SET revoked = 1 WHERE member_id = ? AND used_at IS NULL"
            " AND revoked = 0",
            (member_id,),
        )
        return cursor.rowcount

    async def rename_region(self, old: str, new: str) -> Region:
        """Rename a region (members, claims and operations keep it: they hold its id).

        Raises:
            NotFound: no region ``old``. Conflict: ``new`` is another region's name.
        """
        try:
            async with self.db.transaction() as conn:
                region = await region_named(self.db, old)
                if region is None:
                    raise NotFound("region")
                if await region_named(self.db, new, other_than=region.id) is not None:
                    raise Conflict("region exists")
                await conn.execute("UPDATE regions SET name = ? WHERE id = ?", (new, region.id))
        except sqlite3.IntegrityError:
            raise Conflict("region exists") from None
        return Region(id=region.id, name=new)
