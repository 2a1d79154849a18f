"""The nightly retention purge (docs/threat-model.md §4, M-08, M-15, M-16, T-37).

Deletes, in short batched transactions so the bot keeps working:

- paid/rejected claims closed before the cut-off (``closed_at``, or ``updated_at`` when
  ``closed_at`` was never set), their events by ``ON DELETE CASCADE``, then operations no
  claim uses any more;
- invites used (or expired unused) before their cut-off; counter windows, processed update
  ids and chat message ids past theirs;
- outbox rows in a final state, alerts (their regions, deliveries and help requests
  cascade) and stale alert drafts. Every table named here is created by migrations
  0001-0005, which ``Database.open`` always applies, so the schema is fixed and nothing is
  probed at run time; schedule occurrences (their check-in answers cascade) and ended
  schedules after the alerts' cut-off (migration 0012);
- members unlinked before the closed-claims cut-off (90 days, the pseudonym's retention in
  docs/threat-model.md §4) who have no claim left and are named by no alert or help
  acknowledgement, with their region links, invites, PIN rows, outbox rows, drafts and
  deliveries by ``ON DELETE CASCADE`` (issue #11.10): an unlinked codename with nothing
  attached is a name kept for nothing. Run after the claims and alerts, so a member whose
  last claim or alert just went goes the same night;
- audit entries older than a year, through the one delete path migration 0005 opens: the
  ``audit_purge`` control row, set and cleared in the same transaction, plus a checkpoint
  entry naming the last purged hash (``storage.audit.CHECKPOINT_ACTION``).

``secure_delete`` (set by ``Database``) zeroes the freed cells; the final
``PRAGMA wal_checkpoint(TRUNCATE)`` copies the pages back into the database file and empties
the WAL, so old frames holding deleted rows do not linger there.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.outbox import FINAL_STATUSES
from bot.domain.retention import PurgeReport, RetentionCutoffs
from storage.audit import CHECKPOINT_ACTION, SqliteAuditLog, checkpoint_target
from storage.codec import ts
from storage.database import Database, Params
from storage.keys import AuditKeys

_LOGGER = logging.getLogger(__name__)

BATCH = 500
_CLOSED = ("paid", "rejected")


@dataclass(frozen=True, slots=True)
class SqliteRetentionStore:
    """Implements ``bot.domain.retention.RetentionStore``."""

    db: Database
    batch_size: int = BATCH
    #: The audit chain's keys: the checkpoint entry is keyed like every other (M-16).
    audit_keys: AuditKeys | None = None

    async def _count(self, sql: str, params: Params) -> int:
        row = await self.db.fetchone(sql, params)
        return int(row[0]) if row else 0

    async def _delete_batches(
        self,
        table: str,
        key: str,
        where: str,
        params: Sequence[object],
        cascades: Sequence[tuple[str, str]] = (),
    ) -> dict[str, int]:
        """Delete ``table`` rows matching ``where`` in batches; count cascaded children.

        ``cascades`` are ``(child_table, foreign_key)`` pairs deleted by ``ON DELETE
        CASCADE``: counted before each batch so the report says what really went.
        """
        counts = {table: 0, **{child: 0 for child, _ in cascades}}
        select = f"SELECT {key} FROM {table} WHERE {where} LIMIT ?"  # noqa: S608 - fixed names
        while True:
            async with self.db.transaction() as conn:
                rows = await self.db.fetchall(select, (*params, self.batch_size))
                ids = [row[0] for row in rows]
                if not ids:
                    return counts
                marks = ",".join("?" * len(ids))
                for child, fk in cascades:
                    counts[child] += await self._count(
                        f"SELECT count(*) FROM {child} WHERE {fk} IN ({marks})",  # noqa: S608
                        ids,
                    )
                cursor = await conn.execute(
                    f"DELETE FROM {table} WHERE {key} IN ({marks})",  # noqa: S608 - fixed names
                    ids,
                )
                counts[table] += cursor.rowcount

    async def _delete_where(self, table: str, where: str, params: Sequence[object]) -> int:
        """One DELETE for small tables without a rowid (counters, chat message ids)."""
        cursor = await self.db.execute(f"DELETE FROM {table} WHERE {where}", params)  # noqa: S608
        return cursor.rowcount

    async def _purge_audit(self, cutoffs: RetentionCutoffs) -> int:
        """Delete the chain's prefix older than the cut-off; append the checkpoint first."""
        async with self.db.transaction() as conn:
            first_kept = await self.db.fetchone(
                "SELECT min(id) FROM audit WHERE at >= ?", (ts(cutoffs.audit),)
            )
            bound = first_kept[0] if first_kept and first_kept[0] is not None else None
            last = await self.db.fetchone(
                "SELECT id, hash FROM audit WHERE ? IS NULL OR id < ? ORDER BY id DESC LIMIT 1",
                (bound, bound),
            )
            if last is None:
                return 0
            await conn.execute(
                "INSERT INTO audit_purge (id, before) VALUES (1, ?)", (ts(cutoffs.audit),)
            )
            # Chained to the newest entry before anything goes, so the ids stay increasing.
            await SqliteAuditLog(self.db, self.audit_keys).record(
                action=CHECKPOINT_ACTION,
                result="ok",
                now=cutoffs.now,
                target=checkpoint_target(int(last["id"]), str(last["hash"])),
            )
            cursor = await conn.execute("DELETE FROM audit WHERE id <= ?", (last["id"],))
            deleted = cursor.rowcount
            await conn.execute("DELETE FROM audit_purge")
        return deleted

    async def _checkpoint_wal(self) -> bool:
        """Copy the WAL into the database and truncate it; False if a reader kept it busy."""
        async with self.db.reader.execute("PRAGMA wal_checkpoint(TRUNCATE)") as cursor:
            row = await cursor.fetchone()
        busy = row is None or int(row[0]) != 0
        if busy:
            _LOGGER.warning("WAL checkpoint after purge was blocked by a reader; retried tomorrow")
        return not busy

    async def purge(self, cutoffs: RetentionCutoffs) -> PurgeReport:
        """Delete everything older than ``cutoffs``; idempotent."""
        deleted: dict[str, int] = {}
        deleted |= await self._delete_batches(
            "claims",
            "id",
            f"status IN ({','.join('?' * len(_CLOSED))}) AND coalesce(closed_at, updated_at) < ?",
            (*_CLOSED, ts(cutoffs.closed_claims)),
            cascades=[
                ("claim_events", "claim_id"),
                ("claim_payments", "claim_id"),
                ("claim_edits", "claim_id"),
                ("claim_amount_requests", "claim_id"),
            ],
        )
        deleted |= await self._delete_batches(
            "operations", "id", "id NOT IN (SELECT operation_id FROM claims)", ()
        )
        deleted |= await self._delete_batches(
            "invites", "id", "coalesce(used_at, expires_at) < ?", (ts(cutoffs.invites),)
        )
        deleted["account_counters"] = await self._delete_where(
            "account_counters", "window_start < ?", (ts(cutoffs.counters),)
        )
        deleted |= await self._delete_batches(
            "processed_updates", "update_id", "at < ?", (ts(cutoffs.processed_updates),)
        )
        deleted["chat_messages"] = await self._delete_where(
            "chat_messages", "at < ?", (ts(cutoffs.chat_messages),)
        )
        final = sorted(str(status) for status in FINAL_STATUSES)
        deleted |= await self._delete_batches(
            "outbox",
            "id",
            f"status IN ({','.join('?' * len(final))}) AND updated_at < ?",
            (*final, ts(cutoffs.final_outbox)),
        )
        deleted |= await self._delete_batches(
            "alerts",
            "id",
            "created_at < ?",
            (ts(cutoffs.alerts),),
            cascades=[
                ("alert_regions", "alert_id"),
                ("alert_deliveries", "alert_id"),
                ("help_requests", "alert_id"),
            ],
        )
        deleted |= await self._delete_batches(
            "alert_drafts", "member_id", "updated_at < ?", (ts(cutoffs.alerts),)
        )
        # A claim edit left half-done in the chat (issue #16.2) is as stale as a draft.
        edits = await self._delete_batches(
            "claim_edits", "member_id", "created_at < ?", (ts(cutoffs.alerts),)
        )
        deleted["claim_edits"] = deleted.get("claim_edits", 0) + edits["claim_edits"]
        # So is an operation created or corrected half-way in the chat (issue #16.3).
        deleted |= await self._delete_batches(
            "operation_edits", "member_id", "created_at < ?", (ts(cutoffs.alerts),)
        )
        # Schedules (issue #15): handled occurrences with their check-in answers, and
        # schedules that ended, after the alerts' 30 days.
        deleted |= await self._delete_batches(
            "schedule_occurrences",
            "id",
            "created_at < ?",
            (ts(cutoffs.alerts),),
            cascades=[("checkin_answers", "occurrence_id")],
        )
        deleted |= await self._delete_batches(
            "schedules",
            "id",
            "state IN ('cancelled', 'done') AND updated_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM schedule_occurrences o"
            "   WHERE o.schedule_id = schedules.id)",
            (ts(cutoffs.alerts),),
        )
        members = await self._delete_batches(
            "members",
            "id",
            "state = 'unlinked' AND telegram_hmac IS NULL AND unlinked_at < ?"
            " AND NOT EXISTS (SELECT 1 FROM claims WHERE claims.member_id = members.id)"
            " AND NOT EXISTS (SELECT 1 FROM alerts"
            "   WHERE alerts.creator_id = members.id OR alerts.decided_by = members.id)"
            " AND NOT EXISTS (SELECT 1 FROM help_requests WHERE acked_by = members.id)",
            (ts(cutoffs.closed_claims),),
            cascades=[
                (child, "member_id")
                for child in (
                    "member_regions",
                    "member_pins",
                    "pin_prompts",
                    "invites",
                    "outbox",
                    "alert_drafts",
                    "claim_edits",
                    "alert_deliveries",
                    "help_requests",
                    "chat_messages",
                    "checkin_answers",
                )
            ],
        )
        for table, count in members.items():  # added to what their own cut-offs deleted
            deleted[table] = deleted.get(table, 0) + count
        deleted["audit"] = await self._purge_audit(cutoffs)
        checkpointed = await self._checkpoint_wal()
        return PurgeReport(deleted=deleted, wal_checkpointed=checkpointed)
