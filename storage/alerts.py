"""Alerts, drafts, deliveries, answers and help requests in SQLite (texts sealed, M-07).

Alert texts and template values are parameters of a safety message: they are sealed like
every other sensitive field, bound to their row. Delivery outcomes are not copied here: the
outbox rows of an alert (correlation ``alert:<id>``) are the record of what was sent, and the
tally reads them, so the two can never disagree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from bot.domain.alerts import (
    Alert,
    AlertContent,
    AlertDraft,
    AlertStatus,
    AlertTally,
    Answer,
    Approval,
    HelpRequest,
    RecipientAnswer,
    RejectReason,
    Severity,
)
from bot.domain.errors import Conflict
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_ALERT_SELECT = """
SELECT a.id, a.creator_id, a.nonce, a.template, a.params_enc, a.text_es_enc, a.text_qu_enc,
       a.severity, a.status, a.recipients, a.created_at, a.decided_by, a.decided_at,
       a.tally_message_id, a.approval, a.reason,
       (SELECT group_concat(name, char(31)) FROM (
            SELECT r.name FROM alert_regions ar JOIN regions r ON r.id = ar.region_id
            WHERE ar.alert_id = a.id ORDER BY r.name)) AS regions
FROM alerts a
"""

_HELP_SELECT = """
SELECT h.id, h.alert_id, h.member_id, r.name AS region, h.created_at, h.acked_by, h.acked_at
FROM help_requests h LEFT JOIN regions r ON r.id = h.region_id
"""

#: Outbox statuses folded into the sender's tally columns.
_TALLY_COLUMN = {
    "queued": "queued",
    "sending": "queued",
    "errored": "queued",
    "sent": "sent",
    "dead": "failed",
    "expired": "failed",
    "blocked": "blocked",
    "cancelled": "cancelled",
}


#: How a withdrawn alert is stored (the 0003 status CHECK knows only three statuses).
_WITHDRAWN = "withdrawn"


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(value.split("\x1f")) if value else ()


def _status(row: sqlite3.Row) -> AlertStatus:
    if row["status"] == "rejected" and row["reason"] == _WITHDRAWN:
        return AlertStatus.WITHDRAWN
    return AlertStatus(row["status"])


def _reason(row: sqlite3.Row) -> RejectReason | None:
    reason = row["reason"]
    return RejectReason(reason) if reason and reason != _WITHDRAWN else None


@dataclass(frozen=True, slots=True)
class SqliteAlertRepository:
    """Implements ``bot.domain.alerts.AlertRepository``."""

    db: Database
    keys: KeyMaterial

    def _sealer(self, table: str) -> Sealer:
        return Sealer(self.keys.cipher, table)

    def _seal_content(
        self, table: str, row_id: int, content: AlertContent
    ) -> tuple[bytes | None, bytes | None, bytes | None]:
        sealer = self._sealer(table)
        params = (
            sealer.seal("params", row_id, json.dumps(dict(content.params), sort_keys=True))
            if content.params
            else None
        )
        return (
            params,
            sealer.seal_opt("text_es", row_id, content.text_es),
            sealer.seal_opt("text_qu", row_id, content.text_qu),
        )

    def _open_content(self, table: str, row: sqlite3.Row, row_id: int) -> AlertContent:
        sealer = self._sealer(table)
        raw = sealer.open_opt("params", row_id, row["params_enc"])
        params: Mapping[str, str] = json.loads(raw) if raw else {}
        return AlertContent(
            template=row["template"],
            params=params,
            text_es=sealer.open_opt("text_es", row_id, row["text_es_enc"]),
            text_qu=sealer.open_opt("text_qu", row_id, row["text_qu_enc"]),
        )

    # ------------------------------------------------------------------ drafts

    async def save_draft(self, draft: AlertDraft) -> None:
        """Insert or replace the member's draft (sealed to the member's id)."""
        params, text_es, text_qu = self._seal_content(
            "alert_drafts", draft.member_id, draft.content
        )
        await self.db.execute(
            "INSERT OR REPLACE INTO alert_drafts (member_id, nonce, template, params_enc,"
            " text_es_enc, text_qu_enc, regions, severity, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                draft.member_id,
                draft.nonce,
                draft.content.template,
                params,
                text_es,
                text_qu,
                "\x1f".join(draft.regions),
                str(draft.severity) if draft.severity else None,
                ts(draft.updated_at),
            ),
        )

    async def get_draft(self, member_id: int) -> AlertDraft | None:
        """The member's draft, if any."""
        row = await self.db.fetchone(
            "SELECT member_id, nonce, template, params_enc, text_es_enc, text_qu_enc, regions,"
            " severity, updated_at FROM alert_drafts WHERE member_id = ?",
            (member_id,),
        )
        if row is None:
            return None
        return AlertDraft(
            member_id=row["member_id"],
            nonce=row["nonce"],
            content=self._open_content("alert_drafts", row, member_id),
            regions=_split(row["regions"]),
            severity=Severity(row["severity"]) if row["severity"] else None,
            updated_at=parse_ts(row["updated_at"]),
        )

    async def delete_draft(self, member_id: int) -> None:
        """Forget the member's draft."""
        await self.db.execute("DELETE FROM alert_drafts WHERE member_id = ?", (member_id,))

    # ------------------------------------------------------------------ alerts

    def _alert(self, row: sqlite3.Row) -> Alert:
        return Alert(
            id=row["id"],
            creator_id=row["creator_id"],
            nonce=row["nonce"],
            content=self._open_content("alerts", row, row["id"]),
            severity=Severity(row["severity"]),
            regions=_split(row["regions"]),
            status=_status(row),
            recipients=row["recipients"],
            created_at=parse_ts(row["created_at"]),
            decided_by=row["decided_by"],
            decided_at=parse_ts(row["decided_at"]) if row["decided_at"] else None,
            tally_message_id=row["tally_message_id"],
            approval=Approval(row["approval"]),
            reason=_reason(row),
        )

    async def add(self, alert: Alert) -> Alert:
        """Store a new alert and its regions; ``Conflict`` on a reused (creator, nonce)."""
        try:
            async with self.db.transaction() as conn:
                alert_id = await self.db.next_id("alerts")
                params, text_es, text_qu = self._seal_content("alerts", alert_id, alert.content)
                await conn.execute(
                    "INSERT INTO alerts (id, creator_id, nonce, template, params_enc,"
                    " text_es_enc, text_qu_enc, severity, status, recipients, created_at,"
                    " tally_message_id, approval) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        alert_id,
                        alert.creator_id,
                        alert.nonce,
                        alert.content.template,
                        params,
                        text_es,
                        text_qu,
                        str(alert.severity),
                        str(alert.status),
                        alert.recipients,
                        ts(alert.created_at),
                        alert.tally_message_id,
                        str(alert.approval),
                    ),
                )
                await conn.executemany(
                    "INSERT INTO alert_regions (alert_id, region_id)"
                    " SELECT ?, id FROM regions WHERE name = ?",
                    [(alert_id, region) for region in alert.regions],
                )
        except sqlite3.IntegrityError:
            raise Conflict("alert exists") from None
        stored = await self.get(alert_id)
        assert stored is not None  # noqa: S101 - just inserted
        return stored

    async def get(self, alert_id: int) -> Alert | None:
        """An alert by id."""
        row = await self.db.fetchone(_ALERT_SELECT + "WHERE a.id = ?", (alert_id,))
        return self._alert(row) if row else None

    async def by_nonce(self, creator_id: int, nonce: str) -> Alert | None:
        """The creator's alert made from the draft with ``nonce``."""
        row = await self.db.fetchone(
            _ALERT_SELECT + "WHERE a.creator_id = ? AND a.nonce = ?", (creator_id, nonce)
        )
        return self._alert(row) if row else None

    async def decide(
        self,
        alert_id: int,
        status: AlertStatus,
        decided_by: int | None,
        now: datetime,
        recipients: int,
        *,
        reason: RejectReason | None = None,
    ) -> bool:
        """Compare-and-set from ``pending``: exactly one decision wins."""
        stored = str(reason) if reason else None
        if status is AlertStatus.WITHDRAWN:
            status, decided_by, stored = AlertStatus.REJECTED, None, _WITHDRAWN
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alerts SET status = ?, decided_by = ?, decided_at = ?, recipients = ?,"
                " reason = ? WHERE id = ? AND status = 'pending'",
                (str(status), decided_by, ts(now), recipients, stored, alert_id),
            )
            return cursor.rowcount == 1

    async def set_tally_message(self, alert_id: int, message_id: int) -> None:
        """Remember the sender's summary message."""
        await self.db.execute(
            "UPDATE alerts SET tally_message_id = ? WHERE id = ?", (message_id, alert_id)
        )

    async def add_deliveries(self, alert_id: int, member_ids: Sequence[int]) -> None:
        """One delivery record per recipient (a repeat is ignored)."""
        await self.db.executemany(
            "INSERT OR IGNORE INTO alert_deliveries (alert_id, member_id) VALUES (?, ?)",
            [(alert_id, member_id) for member_id in member_ids],
        )

    async def pending(self) -> list[Alert]:
        """Alerts waiting for approval, oldest first."""
        rows = await self.db.fetchall(
            _ALERT_SELECT + "WHERE a.status = 'pending' ORDER BY a.created_at, a.id"
        )
        return [self._alert(row) for row in rows]

    async def recent(self, since: datetime, status: AlertStatus | None = None) -> list[Alert]:
        """Alerts created since ``since`` (optionally in one status), newest first."""
        sql = _ALERT_SELECT + "WHERE a.created_at >= ?"
        params: list[object] = [ts(since)]
        if status is not None:
            sql += " AND a.status = ?"
            params.append(str(status))
        rows = await self.db.fetchall(sql + " ORDER BY a.created_at DESC, a.id DESC", params)
        return [self._alert(row) for row in rows]

    # ------------------------------------------------------------------ answers and tallies

    async def record_answer(
        self, alert_id: int, member_id: int, answer: Answer, now: datetime
    ) -> bool | None:
        """None unless the member's alert row was actually sent; False for a repeat (T-33)."""
        async with self.db.transaction() as conn:
            received = await self.db.fetchone(
                "SELECT 1 FROM alert_deliveries d JOIN outbox o"
                " ON o.idempotency_key = 'alert:' || d.alert_id || ':' || d.member_id"
                " WHERE d.alert_id = ? AND d.member_id = ? AND o.status = 'sent'",
                (alert_id, member_id),
            )
            if received is None:
                return None
            cursor = await conn.execute(
                "UPDATE alert_deliveries SET answer = ?, answered_at = ?"
                " WHERE alert_id = ? AND member_id = ?"
                " AND (answer IS NULL OR (answer = 'safe' AND ? = 'help'))",
                (str(answer), ts(now), alert_id, member_id, str(answer)),
            )
            return cursor.rowcount == 1

    async def tally(self, alert_id: int) -> AlertTally:
        """Count outbox outcomes by status and answers by kind."""
        counts = dict.fromkeys(("queued", "sent", "failed", "blocked", "cancelled"), 0)
        for row in await self.db.fetchall(
            "SELECT status, COUNT(*) AS n FROM outbox WHERE correlation = ? AND kind = 'alert'"
            " GROUP BY status",
            (f"alert:{alert_id}",),
        ):
            counts[_TALLY_COLUMN[row["status"]]] += row["n"]
        answers = await self.db.fetchone(
            "SELECT COUNT(*) AS total,"
            " COALESCE(SUM(answer = 'safe'), 0) AS safe,"
            " COALESCE(SUM(answer = 'help'), 0) AS help"
            " FROM alert_deliveries WHERE alert_id = ?",
            (alert_id,),
        )
        assert answers is not None  # noqa: S101 - an aggregate always returns a row
        return AlertTally(
            total=answers["total"], safe=answers["safe"], help=answers["help"], **counts
        )

    async def tally_waiting(self, alert_id: int) -> bool:
        """Whether a tally edit of this alert is queued (read through the versions index)."""
        row = await self.db.fetchone(
            "SELECT 1 FROM outbox WHERE correlation = ? AND version IS NOT NULL"
            " AND status IN ('queued', 'errored') LIMIT 1",
            (f"tally:{alert_id}",),
        )
        return row is not None

    async def bump_tally(self, alert_id: int, signature: str) -> int | None:
        """Store a changed signature and return the new version; None if unchanged."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE alerts SET tally_version = tally_version + 1, tally_sig = ?"
                " WHERE id = ? AND (tally_sig IS NULL OR tally_sig <> ?)"
                " RETURNING tally_version",
                (signature, alert_id, signature),
            )
            row = cursor.first()
        return int(row[0]) if row else None

    # ------------------------------------------------------------------ help requests

    def _help(self, row: sqlite3.Row) -> HelpRequest:
        return HelpRequest(
            id=row["id"],
            alert_id=row["alert_id"],
            member_id=row["member_id"],
            region=row["region"] or "",
            created_at=parse_ts(row["created_at"]),
            acked_by=row["acked_by"],
            acked_at=parse_ts(row["acked_at"]) if row["acked_at"] else None,
        )

    async def add_help(self, request: HelpRequest) -> HelpRequest:
        """Store a help request (one per member and alert)."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "INSERT INTO help_requests (alert_id, member_id, region_id, created_at)"
                " VALUES (?, ?, (SELECT id FROM regions WHERE name = ?), ?)",
                (request.alert_id, request.member_id, request.region, ts(request.created_at)),
            )
            help_id = cursor.lastrowid
        assert help_id is not None  # noqa: S101 - INSERT always sets it
        stored = await self.get_help(help_id)
        assert stored is not None  # noqa: S101 - just inserted
        return stored

    async def get_help(self, help_id: int) -> HelpRequest | None:
        """A help request by id."""
        row = await self.db.fetchone(_HELP_SELECT + "WHERE h.id = ?", (help_id,))
        return self._help(row) if row else None

    async def ack_help(self, help_id: int, member_id: int, now: datetime) -> bool:
        """Compare-and-set: the first acknowledgement wins."""
        async with self.db.transaction() as conn:
            cursor = await conn.execute(
                "UPDATE help_requests SET acked_by = ?, acked_at = ?"
                " WHERE id = ? AND acked_by IS NULL",
                (member_id, ts(now), help_id),
            )
            return cursor.rowcount == 1

    async def help_for(self, alert_id: int) -> list[HelpRequest]:
        """The alert's help requests, oldest first."""
        rows = await self.db.fetchall(
            _HELP_SELECT + "WHERE h.alert_id = ? ORDER BY h.created_at, h.id", (alert_id,)
        )
        return [self._help(row) for row in rows]

    # ------------------------------------------------------------------ follow-ups (#12.5)

    async def answers(self, alert_id: int) -> list[RecipientAnswer]:
        """Each recipient's answer; ``received`` from the recipient's alert row in the outbox."""
        rows = await self.db.fetchall(
            "SELECT d.member_id, d.answer, o.status = 'sent' AS received"
            " FROM alert_deliveries d LEFT JOIN outbox o"
            " ON o.idempotency_key = 'alert:' || d.alert_id || ':' || d.member_id"
            " WHERE d.alert_id = ? ORDER BY d.member_id",
            (alert_id,),
        )
        return [
            RecipientAnswer(
                member_id=row["member_id"],
                answer=Answer(row["answer"]) if row["answer"] else None,
                received=bool(row["received"]),
            )
            for row in rows
        ]

    async def cancel_waiting(self, alert_id: int, now: datetime) -> int:
        """Compare-and-set from ``queued``/``errored`` to ``cancelled`` (as unlinking does)."""
        cursor = await self.db.execute(
            "UPDATE outbox SET status = 'cancelled', last_error_code = 'cancelled',"
            " updated_at = ? WHERE correlation = ? AND kind = 'alert'"
            " AND status IN ('queued', 'errored')",
            (ts(now), f"alert:{alert_id}"),
        )
        return int(cursor.rowcount)
