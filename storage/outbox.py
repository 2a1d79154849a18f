"""The ``outbox`` table: enqueue inside the caller's transaction, lease, CAS results (R-01..R-03).

``SqliteOutbox`` implements both the producer port (``bot.domain.outbox.Outbox``) and the
sender's store (``bot.services.outbox.OutboxStore``); ``SqliteRecipientDirectory`` resolves
members to chats at send time. Template parameters are sealed per row (M-07): an alert text or
a codename never sits in the file in clear. Everything is batched (one statement or one
``executemany`` per batch) because a broadcast is a thousand rows at once.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.domain.models import Lang
from bot.domain.outbox import (
    FINAL_STATUSES,
    KIND_PRIORITY,
    LeasedRow,
    OutboxCounts,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Recipient,
    RowUpdate,
    default_expiry,
)
from bot.domain.ports import Clock
from storage.codec import Sealer, parse_ts, ts
from storage.crypto import DecryptionError
from storage.database import Database, Step, next_id_in
from storage.keys import KeyMaterial

_LOGGER = logging.getLogger(__name__)

#: Ids per ``IN (...)`` list: far below SQLite's variable limit.
_CHUNK = 500

_INSERT = (
    "INSERT INTO outbox (id, idempotency_key, kind, priority, member_id, template, params_enc,"
    " correlation, status, attempts, next_attempt_at, not_before, expires_at, delete_after_s,"
    " created_at, updated_at, version)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', 0, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (idempotency_key) DO NOTHING"
)

#: A new version of a correlation cancels its older versions still waiting (one pending edit).
_SUPERSEDE_OLDER = (
    "UPDATE outbox SET status = 'cancelled', last_error_code = 'superseded', updated_at = ?"
    " WHERE correlation = ? AND version < ? AND status IN ('queued', 'errored')"
)

#: Before each lease: a waiting versioned row with a newer version is stale (a 429 requeue,
#: a retry after a transient error, a restart): cancelled, never sent after the newer one.
#: What a merging row unites with: every row of its correlation not final yet (issue #13).
_MERGE_SOURCES = (
    "SELECT id, params_enc FROM outbox WHERE correlation = ?"
    " AND status IN ('queued', 'errored', 'sending') AND params_enc IS NOT NULL"
)

_LAST_VERSION = "SELECT COALESCE(MAX(version), 0) FROM outbox WHERE correlation = ?"

_CANCEL_STALE = (
    "UPDATE outbox SET status = 'cancelled', last_error_code = 'superseded', updated_at = :now"
    # "+status": read through the partial index of versioned rows, not every waiting row.
    " WHERE version IS NOT NULL AND correlation IS NOT NULL AND +status IN ('queued', 'errored')"
    " AND EXISTS (SELECT 1 FROM outbox AS newer WHERE newer.correlation = outbox.correlation"
    "   AND newer.version > outbox.version)"
)

_LEASE = (
    "UPDATE outbox SET status = 'sending', lease_until = :lease, updated_at = :now"
    " WHERE id IN (SELECT id FROM outbox"
    "   WHERE status IN ('queued', 'errored') AND next_attempt_at <= :now"
    "   AND (not_before IS NULL OR not_before <= :now) AND expires_at > :now"
    # One version of a correlation in flight at a time: the next one (the newest, since each
    # cancels the older ones waiting) goes once this one is recorded (issue #13.3).
    "   AND (version IS NULL OR NOT EXISTS (SELECT 1 FROM outbox AS busy"
    "     WHERE busy.correlation = outbox.correlation AND busy.version IS NOT NULL"
    "     AND busy.status = 'sending'))"
    "   ORDER BY priority, id LIMIT :limit)"
    " RETURNING id, kind, member_id, template, params_enc, attempts, correlation,"
    " delete_after_s, priority, version"
)

#: A wipe's rows (``bot.services.outbox.wipe_messages``, correlation ``wipe:<member>``) carry
#: a sealed chat id; once such a row is final its parameters are erased, so the link does not
#: outlive the wipe (M-13). A range, not LIKE, so the correlation index serves it.
_SCRUB_WIPE_ROW = (
    "UPDATE outbox SET params_enc = NULL WHERE id = ?"
    " AND correlation >= 'wipe:' AND correlation < 'wipe;'"
    " AND status IN ('sent', 'dead', 'blocked', 'expired', 'cancelled')"
)

_FINISH = (
    "UPDATE outbox SET status = ?, attempts = ?, next_attempt_at = COALESCE(?, next_attempt_at),"
    " lease_until = NULL, last_error_code = ?,"
    " telegram_message_id = COALESCE(?, telegram_message_id), sent_at = COALESCE(?, sent_at),"
    " updated_at = ? WHERE id = ? AND status = 'sending' AND lease_until = ?"
)


#: A message ready to insert: the message, its serialised notice and its version.
_Prepared = tuple[OutboxMessage, dict[str, str], int | None]


def _any_due(messages: Sequence[OutboxMessage], now: datetime) -> bool:
    """Whether any of ``messages`` may be sent at ``now`` (the ones that wake the sender)."""
    return any(m.not_before is None or m.not_before <= now for m in messages)


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


class SqliteOutbox:
    """Implements ``Outbox`` (producers) and ``OutboxStore`` (the sender) over SQLite."""

    __slots__ = ("_clock", "_db", "_on_enqueue", "_sealer")

    def __init__(
        self,
        db: Database,
        keys: KeyMaterial,
        clock: Clock,
        *,
        on_enqueue: Callable[[], None] | None = None,
    ) -> None:
        """``on_enqueue`` is called after new rows are written (wakes the sender at once)."""
        self._db = db
        self._sealer = Sealer(keys.cipher, "outbox")
        self._clock = clock
        self._on_enqueue = on_enqueue

    # ------------------------------------------------------------------ producers (Outbox)

    async def enqueue(self, message: OutboxMessage) -> bool:
        """Add one row; False if its idempotency key exists already."""
        return await self.enqueue_many([message]) == 1

    async def enqueue_many(self, messages: Sequence[OutboxMessage]) -> int:
        """Add rows in the caller's transaction (or an own one); returns how many were new.

        Ids are allocated up front because each row's sealed parameters are bound to its id
        (M-07); a row skipped as a duplicate just leaves a gap. Id allocation, sealing and
        the inserts run as one step on the writer's thread (one trip, joined with what the
        caller's transaction still owes).
        """
        if not messages:
            return 0
        now = self._clock.now()
        added = await self._db.run(self._insert(messages, now))
        # Only rows due now wake the sender: woken for a later row (every /estado's deletion)
        # it would run a lease that finds nothing; its idle poll picks such rows up when due.
        if added and _any_due(messages, now) and self._on_enqueue is not None:
            self._on_enqueue()
        return added

    async def enqueue_at_commit(self, messages: Sequence[OutboxMessage]) -> None:
        """Add rows due later with the caller's commit, without a trip of their own.

        The reply path of every ``/estado`` (its deletion row): inside a transaction the
        insert is deferred to the ``COMMIT`` (``Database.defer``), so that transaction joins
        the group commit. A row due now goes through ``enqueue_many``, which wakes the sender.
        """
        now = self._clock.now()
        if _any_due(messages, now):
            await self.enqueue_many(messages)
        elif messages:
            await self._db.defer(self._insert(messages, now))

    def _insert(self, messages: Sequence[OutboxMessage], now: datetime) -> Step[int]:
        """The step that allocates ids, seals and inserts ``messages``; gives the new count."""
        stamp = ts(now)

        def row(row_id: int, prepared: _Prepared) -> tuple[Any, ...]:
            message, params, version = prepared
            due = max(now, message.not_before) if message.not_before else now
            params_enc = (
                self._sealer.seal("params", row_id, json.dumps(params, ensure_ascii=False))
                if params
                else None
            )
            delete_after_s = (
                max(1, int(message.delete_after.total_seconds()))
                if message.delete_after is not None
                else None
            )
            return (
                row_id,
                message.idempotency_key,
                str(message.kind),
                int(KIND_PRIORITY[message.kind]),
                message.member_id,
                message.template,
                params_enc,
                message.correlation,
                ts(due),
                ts(message.not_before) if message.not_before else None,
                ts(default_expiry(message, now)),
                delete_after_s,
                stamp,
                stamp,
                version,
            )

        def insert(conn: sqlite3.Connection) -> int:
            batch = [self._prepared(conn, m) for m in messages]
            for message, _, version in batch:
                if version is not None and message.correlation is not None:
                    conn.execute(_SUPERSEDE_OLDER, (stamp, message.correlation, version)).close()
            first_id = next_id_in(conn, "outbox")
            before = conn.total_changes
            conn.executemany(
                _INSERT, [row(first_id + offset, p) for offset, p in enumerate(batch)]
            ).close()
            return conn.total_changes - before

        return insert

    def _prepared(self, conn: sqlite3.Connection, message: OutboxMessage) -> _Prepared:
        """``message`` with its notice serialised and its version; a merging notice becomes
        the correlation's next version, its ``merge`` object united with the same object of
        the rows it replaces (and of one in flight, which a 429 could send back to wait and
        the new version would then cancel): nobody is dropped."""
        params = dict(message.params)
        if message.merge is None or message.correlation is None:
            return message, params, message.version
        united: dict[str, object] = {}
        for row_id, blob in conn.execute(_MERGE_SOURCES, (message.correlation,)).fetchall():
            try:
                older = json.loads(self._sealer.open("params", row_id, blob))
                united.update(json.loads(older.get(message.merge, "{}")))
            except (DecryptionError, ValueError, AttributeError):
                # The sender declares such a row dead anyway (fail closed); nothing to keep.
                _LOGGER.warning("outbox row %d: parameters unreadable, not merged", row_id)
        united.update(json.loads(params.get(message.merge, "{}")))
        (last,) = conn.execute(_LAST_VERSION, (message.correlation,)).fetchone()
        params[message.merge] = json.dumps(united, ensure_ascii=False)
        return message, params, int(last) + 1

    async def cancel_for_member(self, member_id: int) -> int:
        """Cancel every waiting row for a member (unlinked, blocked, panic).

        A wipe's deletions are not cancelled: they are what the unlink asked for, and a
        duress wipe's rows must survive the unlink that follows it (issue #11.1, #11.2).
        """
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error_code = 'cancelled',"
            " updated_at = ? WHERE member_id = ? AND status IN ('queued', 'errored')"
            " AND (correlation IS NULL OR correlation < 'wipe:' OR correlation >= 'wipe;')",
            (ts(self._clock.now()), member_id),
        )
        return int(cursor.rowcount)

    # ------------------------------------------------------------------ the sender's store

    async def lease(self, now: datetime, limit: int, lease_until: datetime) -> list[LeasedRow]:
        """Move up to ``limit`` due rows to ``sending`` in one short transaction.

        Ordered by priority, then id (R-07). Parameters are decrypted after the commit, so
        the write lock is held for one UPDATE only; a row whose parameters fail to open
        comes back with ``params`` None and the sender declares it dead (fail closed).
        """
        lease = ts(lease_until)
        async with self._db.transaction() as conn:
            await conn.execute(_CANCEL_STALE, {"now": ts(now)})
            cursor = await conn.execute(
                _LEASE, {"lease": lease, "now": ts(now), "limit": max(1, limit)}
            )
            fetched = cursor.rows
        fetched.sort(key=lambda row: (row["priority"], row["id"]))
        stored_lease = parse_ts(lease)
        return [self._leased(row, stored_lease) for row in fetched]

    def _leased(self, row: sqlite3.Row, lease_until: datetime) -> LeasedRow:
        params: Mapping[str, str] | None = {}
        if row["params_enc"] is not None:
            try:
                decoded = json.loads(self._sealer.open("params", row["id"], row["params_enc"]))
                params = {str(key): str(value) for key, value in decoded.items()}
            except (DecryptionError, ValueError, AttributeError):
                params = None
        delete_after_s = row["delete_after_s"]
        return LeasedRow(
            id=row["id"],
            kind=OutboxKind(row["kind"]),
            member_id=row["member_id"],
            template=row["template"],
            params=params,
            attempts=row["attempts"],
            lease_until=lease_until,
            correlation=row["correlation"],
            delete_after=timedelta(seconds=delete_after_s) if delete_after_s else None,
            version=row["version"],
        )

    async def finish(self, updates: Sequence[RowUpdate], now: datetime) -> set[int]:
        """Apply compare-and-set transitions out of ``sending``; returns the ids updated.

        One SELECT finds which rows still hold the same lease, one ``executemany`` updates
        them: two statements per batch, in the caller's transaction (or an own one).
        """
        if not updates:
            return set()
        stamp = ts(now)
        async with self._db.transaction() as conn:
            holding: dict[int, str] = {}
            wipes: set[int] = set()
            ids = [update.row_id for update in updates]
            for chunk in _chunks(ids):
                marks = ",".join("?" * len(chunk))
                cursor = await conn.execute(
                    "SELECT id, lease_until, correlation >= 'wipe:' AND correlation < 'wipe;'"  # noqa: S608
                    f" FROM outbox WHERE id IN ({marks}) AND status = 'sending'",
                    list(chunk),
                )
                holding.update({row[0]: row[1] for row in cursor.rows})
                wipes.update(row[0] for row in cursor.rows if row[2])
            applied = [u for u in updates if holding.get(u.row_id) == ts(u.lease_until)]
            await conn.executemany(
                _FINISH,
                [
                    (
                        str(u.status),
                        u.attempts,
                        ts(u.next_attempt_at) if u.next_attempt_at else None,
                        u.error_code,
                        u.message_id,
                        ts(u.sent_at) if u.sent_at else None,
                        stamp,
                        u.row_id,
                        ts(u.lease_until),
                    )
                    for u in applied
                ],
            )
            # The panic wipe needs the ids of what the bot sent (M-13a): recorded in the
            # same transaction as ``sent`` (storage/chat_messages.py, purged after 48 h).
            await conn.executemany(
                "INSERT OR IGNORE INTO chat_messages (member_id, message_id, at)"
                " SELECT member_id, ?, ? FROM outbox WHERE id = ?",
                [
                    (u.message_id, stamp, u.row_id)
                    for u in applied
                    if u.status is OutboxStatus.SENT and u.message_id is not None
                ],
            )
            scrub = [
                (u.row_id,) for u in applied if u.row_id in wipes and u.status in FINAL_STATUSES
            ]
            if scrub:
                await conn.executemany(_SCRUB_WIPE_ROW, scrub)
        return {u.row_id for u in applied}

    async def recover_leases(self, now: datetime, *, all_leases: bool = False) -> int:
        """Return ``sending`` rows to ``queued`` without spending an attempt (R-03).

        At start-up every lease is orphaned (one bot instance per token), so ``all_leases``
        requeues them all; the periodic tick only requeues leases that ran out.
        """
        sql = (
            "UPDATE outbox SET status = 'queued', lease_until = NULL, updated_at = ?"
            " WHERE status = 'sending'"
        )
        params: list[str] = [ts(now)]
        if not all_leases:
            sql += " AND lease_until <= ?"
            params.append(ts(now))
        cursor = await self._db.execute(sql, params)
        return int(cursor.rowcount)

    async def expire_due(self, now: datetime) -> Mapping[OutboxKind, int]:
        """Mark waiting rows past ``expires_at`` as ``expired``; counts by kind (R-05)."""
        async with self._db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE outbox SET status = 'expired', last_error_code = 'too_old',"
                " updated_at = ? WHERE status IN ('queued', 'errored') AND expires_at <= ?"
                " RETURNING id, kind",
                (ts(now), ts(now)),
            )
            kinds = [OutboxKind(row[1]) for row in cursor.rows]
            # A wipe past Telegram's window is given up: its chat id goes (issue #11.1).
            scrub = [(row[0],) for row in cursor.rows if row[1] == OutboxKind.DELETION]
            if scrub:
                await conn.executemany(_SCRUB_WIPE_ROW, scrub)
        counts: dict[OutboxKind, int] = {}
        for kind in kinds:
            counts[kind] = counts.get(kind, 0) + 1
        return counts

    async def oldest_due(self, now: datetime) -> datetime | None:
        """``created_at`` of the oldest due row not yet sent (queue age, R-13)."""
        row = await self._db.fetchone(
            "SELECT MIN(created_at) FROM outbox WHERE status IN ('queued', 'errored')"
            " AND next_attempt_at <= ?",
            (ts(now),),
        )
        return parse_ts(row[0]) if row is not None and row[0] is not None else None

    async def counts(self) -> OutboxCounts:
        """Rows by status and kind, and the oldest waiting row."""
        rows = await self._db.fetchall(
            "SELECT status, kind, COUNT(*) FROM outbox GROUP BY status, kind"
        )
        oldest = await self._db.fetchone(
            "SELECT MIN(created_at) FROM outbox WHERE status IN ('queued', 'errored')"
        )
        return OutboxCounts(
            by_status_kind={
                (OutboxStatus(row[0]), OutboxKind(row[1])): int(row[2]) for row in rows
            },
            oldest_waiting_at=parse_ts(oldest[0]) if oldest and oldest[0] else None,
        )

    async def retry_dead(self, now: datetime) -> int:
        """Requeue every ``dead`` row with attempts reset (the admin's manual retry, R-05)."""
        cursor = await self._db.execute(
            "UPDATE outbox SET status = 'queued', attempts = 0, next_attempt_at = ?,"
            " updated_at = ? WHERE status = 'dead'",
            (ts(now), ts(now)),
        )
        return int(cursor.rowcount)


@dataclass(frozen=True, slots=True)
class SqliteRecipientDirectory:
    """Implements ``bot.services.outbox.RecipientDirectory``: one query per lease batch."""

    db: Database
    keys: KeyMaterial

    async def resolve(self, member_ids: Collection[int]) -> Mapping[int, Recipient]:
        """Linked members among ``member_ids`` with their chat, language and state.

        The Telegram ID is decrypted here, at send time, and lives only in memory; a member
        whose ciphertext fails to open is left out (their rows are cancelled, fail closed).
        """
        sealer = Sealer(self.keys.cipher, "members")
        ids = sorted(set(member_ids))
        found: dict[int, Recipient] = {}
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            rows = await self.db.fetchall(
                "SELECT id, lang, state, blocked, telegram_enc FROM members"  # noqa: S608
                f" WHERE id IN ({marks}) AND telegram_enc IS NOT NULL",
                list(chunk),
            )
            for row in rows:
                try:
                    chat_id = int(sealer.open("telegram", row["id"], row["telegram_enc"]))
                except (DecryptionError, ValueError):
                    # No traceback: a ValueError would quote the decrypted text.
                    _LOGGER.error("Member %d: Telegram link failed to open", row["id"])  # noqa: TRY400
                    continue
                found[row["id"]] = Recipient(
                    chat_id=chat_id,
                    lang=Lang(row["lang"]),
                    active=row["state"] == "active",
                    blocked=bool(row["blocked"]),
                )
        return found
