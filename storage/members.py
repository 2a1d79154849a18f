"""Members, their encrypted Telegram link, invites and per-account counters.

The Telegram ID is stored only sealed (``telegram_enc``) plus a keyed hash
(``telegram_hmac``) to find the member on each update; the codename likewise. Unlinking
deletes both, which is what makes the panic button a crypto-shred (M-13).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from bot.domain.errors import Conflict, NotFound
from bot.domain.models import Lang, Member, MemberState, NewInvite, Role, can_reenrol
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_SELECT = """
SELECT m.id, m.role, m.codename_enc, m.lang, m.lang_chosen, m.state, m.blocked,
       m.telegram_hmac IS NOT NULL AS linked, m.last_seen_day,
       substr(m.created_at, 1, 10) AS enrolled_day,
       EXISTS (SELECT 1 FROM member_pins p
               WHERE p.member_id = m.id AND p.pin_enc IS NOT NULL) AS pin_set,
       (SELECT group_concat(name, char(31)) FROM (
            SELECT r.name FROM member_regions mr JOIN regions r ON r.id = mr.region_id
            WHERE mr.member_id = m.id ORDER BY r.name)) AS regions
FROM members m
"""


@dataclass(frozen=True, slots=True)
class SqliteMemberRepository:
    """Implements ``bot.domain.ports.MemberRepository``."""

    db: Database
    keys: KeyMaterial

    @property
    def _sealer(self) -> Sealer:
        return Sealer(self.keys.cipher, "members")

    def _member(self, row: sqlite3.Row) -> Member:
        regions = tuple(row["regions"].split("\x1f")) if row["regions"] else ()
        return Member(
            id=row["id"],
            role=Role(row["role"]),
            codename=self._sealer.open("codename", row["id"], row["codename_enc"]),
            lang=Lang(row["lang"]),
            lang_chosen=bool(row["lang_chosen"]),
            regions=regions,
            state=MemberState(row["state"]),
            telegram_linked=bool(row["linked"]),
            blocked=bool(row["blocked"]),
            pin_set=bool(row["pin_set"]),
            last_seen=date.fromisoformat(row["last_seen_day"]) if row["last_seen_day"] else None,
            enrolled=date.fromisoformat(row["enrolled_day"]),
        )

    async def get(self, member_id: int) -> Member | None:
        """A member by internal id."""
        row = await self.db.fetchone(_SELECT + "WHERE m.id = ?", (member_id,))
        return self._member(row) if row else None

    async def by_telegram_id(self, telegram_id: int) -> Member | None:
        """The member linked to this account (keyed-hash lookup, constant work)."""
        digest = self.keys.index("telegram", str(telegram_id))
        row = await self.db.fetchone(_SELECT + "WHERE m.telegram_hmac = ?", (digest,))
        return self._member(row) if row else None

    async def by_codename(self, codename: str) -> Member | None:
        """A member by exact codename."""
        digest = self.keys.index("codename", codename)
        row = await self.db.fetchone(_SELECT + "WHERE m.codename_hmac = ?", (digest,))
        return self._member(row) if row else None

    async def by_codename_any_case(self, codename: str) -> Member | None:
        """A member by codename ignoring case (see the port): every codename is opened.

        Codenames are sealed, so there is no index to fold; opening all of them (about a
        microsecond each) is the same work for any input, and it runs only for the staff's
        chat commands that name a member.
        """
        wanted = codename.casefold()
        exact: int | None = None
        folded: list[int] = []
        sealer = self._sealer
        for row in await self.db.fetchall("SELECT id, codename_enc FROM members"):
            name = sealer.open("codename", row["id"], row["codename_enc"])
            if name == codename:
                exact = row["id"]
            if name.casefold() == wanted:
                folded.append(row["id"])
        if exact is None and len(folded) != 1:
            return None
        return await self.get(exact if exact is not None else folded[0])

    async def list_all(self) -> list[Member]:
        """Every member by id."""
        return [self._member(row) for row in await self.db.fetchall(_SELECT + "ORDER BY m.id")]

    async def in_regions(self, regions: Sequence[str], roles: Sequence[Role]) -> list[Member]:
        """Linked, active members with one of ``roles`` in any of ``regions``."""
        if not regions or not roles:
            return []
        region_marks = ",".join("?" * len(regions))
        role_marks = ",".join("?" * len(roles))
        sql = (
            _SELECT
            + "WHERE m.state = 'active' AND m.telegram_hmac IS NOT NULL"
            + f" AND m.role IN ({role_marks}) AND m.id IN (SELECT mr.member_id FROM"
            + " member_regions mr JOIN regions r ON r.id = mr.region_id"
            + f" WHERE r.name IN ({region_marks})) ORDER BY m.id"
        )
        rows = await self.db.fetchall(sql, [*map(str, roles), *regions])
        return [self._member(row) for row in rows]

    async def telegram_id(self, member_id: int) -> int | None:
        """Decrypted Telegram ID of a linked member."""
        row = await self.db.fetchone("SELECT telegram_enc FROM members WHERE id = ?", (member_id,))
        if row is None or row["telegram_enc"] is None:
            return None
        return int(self._sealer.open("telegram", member_id, row["telegram_enc"]))

    async def set_lang(self, member_id: int, lang: Lang) -> None:
        """Store an explicit language choice."""
        await self.db.execute(
            "UPDATE members SET lang = ?, lang_chosen = 1 WHERE id = ?", (str(lang), member_id)
        )

    async def set_state(self, member_id: int, state: MemberState) -> None:
        """Change the member's state."""
        await self.db.execute("UPDATE members SET state = ? WHERE id = ?", (str(state), member_id))

    async def unlink(self, member_id: int, now: datetime | None = None) -> None:
        """Remove the Telegram link for good (ciphertext and keyed hash); note when, so the
        retention purge can delete the pseudonym later (``storage.retention``). Without
        ``now``: the database's clock."""
        await self.db.execute(
            "UPDATE members SET telegram_enc = NULL, telegram_hmac = NULL, linked_at = NULL,"
            " state = 'unlinked', last_seen_day = NULL,"
            " unlinked_at = coalesce(?, strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now'))"
            " WHERE id = ?",
            (ts(now) if now is not None else None, member_id),
        )

    async def set_blocked(self, member_id: int, blocked: bool) -> None:
        """Record a block/unblock of the bot by the member."""
        await self.db.execute(
            "UPDATE members SET blocked = ? WHERE id = ?", (int(blocked), member_id)
        )

    async def mark_seen(self, member_id: int, day: date) -> None:
        """Record the day (only the day) the member last used the bot; never moves back."""
        await self.db.execute(
            "UPDATE members SET last_seen_day = ? WHERE id = ?"
            " AND (last_seen_day IS NULL OR last_seen_day < ?)",
            (day.isoformat(), member_id, day.isoformat()),
        )


@dataclass(frozen=True, slots=True)
class SqliteInviteRepository:
    """Implements ``bot.domain.ports.InviteRepository`` (M-03)."""

    db: Database
    keys: KeyMaterial

    async def _region_ids(self, names: Sequence[str]) -> list[int]:
        """The ids of ``names`` (inside the caller's transaction).

        Raises:
            NotFound: one of them does not exist.
        """
        ids: list[int] = []
        for name in names:
            region = await self.db.fetchone("SELECT id FROM regions WHERE name = ?", (name,))
            if region is None:
                raise NotFound("region")
            ids.append(int(region["id"]))
        return ids

    async def _link_regions_and_code(
        self,
        member_id: int,
        region_ids: Sequence[int],
        code: str,
        expires_at: datetime,
        now: datetime,
    ) -> None:
        await self.db.executemany(
            "INSERT INTO member_regions (member_id, region_id) VALUES (?, ?)",
            [(member_id, region_id) for region_id in region_ids],
        )
        await self.db.execute(
            "INSERT INTO invites (code_hmac, member_id, created_at, expires_at)"
            " VALUES (?, ?, ?, ?)",
            (self.keys.index("invite", code), member_id, ts(now), ts(expires_at)),
        )

    async def create(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int:
        """Create the member-to-be, its region links and the hashed invite in one transaction."""
        sealer = Sealer(self.keys.cipher, "members")
        try:
            async with self.db.transaction() as conn:
                region_ids = await self._region_ids(invite.regions)
                member_id = await self.db.next_id("members")
                await conn.execute(
                    "INSERT INTO members (id, role, codename_enc, codename_hmac, lang,"
                    " lang_chosen, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        member_id,
                        str(invite.role),
                        sealer.seal("codename", member_id, invite.codename),
                        self.keys.index("codename", invite.codename),
                        str(invite.lang or Lang.ES),
                        int(invite.lang is not None),
                        ts(now),
                    ),
                )
                await self._link_regions_and_code(member_id, region_ids, code, expires_at, now)
        except sqlite3.IntegrityError:
            raise Conflict("codename taken") from None
        return member_id

    async def reenrol(
        self, invite: NewInvite, code: str, expires_at: datetime, now: datetime
    ) -> int | None:
        """A new code for an existing, unlinked member of the same role (issue #14.7).

        Older unused codes are revoked (one live invite per member), the member is active
        again with the invite's regions and, when the invite names one, its language.
        """
        members = SqliteMemberRepository(self.db, self.keys)
        async with self.db.transaction() as conn:
            member = await members.by_codename(invite.codename)
            if member is None or not can_reenrol(member, invite.role):
                return None
            region_ids = await self._region_ids(invite.regions)
            await conn.execute(
                "UPDATE invites SET revoked = 1 WHERE member_id = ? AND used_at IS NULL",
                (member.id,),
            )
            if invite.lang is None:
                await conn.execute(
                    "UPDATE members SET state = 'active', unlinked_at = NULL WHERE id = ?",
                    (member.id,),
                )
            else:
                await conn.execute(
                    "UPDATE members SET state = 'active', unlinked_at = NULL, lang = ?,"
                    " lang_chosen = 1 WHERE id = ?",
                    (str(invite.lang), member.id),
                )
            await conn.execute("DELETE FROM member_regions WHERE member_id = ?", (member.id,))
            await self._link_regions_and_code(member.id, region_ids, code, expires_at, now)
        return member.id

    async def redeem(self, code: str, telegram_id: int, now: datetime) -> Member | None:
        """Consume the invite with one conditional UPDATE and link the account.

        The ``UPDATE … WHERE used_at IS NULL AND expires_at > now AND revoked = 0`` changes
        exactly one row for exactly one caller, however many redeem the same code at once.
        An account already linked to another member cannot redeem (one account, one member).
        """
        digest = self.keys.index("telegram", str(telegram_id))
        sealer = Sealer(self.keys.cipher, "members")
        async with self.db.transaction() as conn:
            taken = await self.db.fetchone(
                "SELECT 1 FROM members WHERE telegram_hmac = ?", (digest,)
            )
            if taken is not None:
                return None
            # A member suspended before redeeming (the invite went to the wrong person) keeps
            # the invite unusable: suspending must not be undone by the link it guards.
            cursor = await conn.execute(
                "UPDATE invites SET used_at = ? WHERE code_hmac = ? AND used_at IS NULL"
                " AND revoked = 0 AND expires_at > ? AND member_id IN"
                " (SELECT id FROM members WHERE state = 'active') RETURNING member_id",
                (ts(now), self.keys.index("invite", code), ts(now)),
            )
            row = cursor.first()
            if row is None:
                return None
            member_id = int(row[0])
            await conn.execute(
                "UPDATE members SET telegram_enc = ?, telegram_hmac = ?, linked_at = ?"
                " WHERE id = ?",
                (
                    sealer.seal("telegram", member_id, str(telegram_id)),
                    digest,
                    ts(now),
                    member_id,
                ),
            )
        return await SqliteMemberRepository(self.db, self.keys).get(member_id)


@dataclass(frozen=True, slots=True)
class SqliteAccountCounters:
    """Implements ``bot.domain.ports.AccountCounters`` with fixed windows per account."""

    db: Database
    keys: KeyMaterial

    async def hit(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """Count one event; a window older than ``window`` starts afresh."""
        digest = self.keys.index("account", str(telegram_id))
        async with self.db.transaction() as conn:
            row = await self.db.fetchone(
                "SELECT window_start, count FROM account_counters"
                " WHERE account_hmac = ? AND kind = ?",
                (digest, kind),
            )
            if row is None or parse_ts(row["window_start"]) + window <= now:
                count = 1
                await conn.execute(
                    "INSERT OR REPLACE INTO account_counters"
                    " (account_hmac, kind, window_start, count) VALUES (?, ?, ?, 1)",
                    (digest, kind, ts(now)),
                )
            else:
                count = int(row["count"]) + 1
                await conn.execute(
                    "UPDATE account_counters SET count = ? WHERE account_hmac = ? AND kind = ?",
                    (count, digest, kind),
                )
        return count

    async def current(self, telegram_id: int, kind: str, now: datetime, window: timedelta) -> int:
        """The current window's count without counting."""
        digest = self.keys.index("account", str(telegram_id))
        row = await self.db.fetchone(
            "SELECT window_start, count FROM account_counters WHERE account_hmac = ? AND kind = ?",
            (digest, kind),
        )
        if row is None or parse_ts(row["window_start"]) + window <= now:
            return 0
        return int(row["count"])
