"""Schedules, their occurrences and check-in answers in SQLite (parameters sealed, M-07).

Implements ``bot.domain.schedules.ScheduleRepository``. Whether a check-in reached its
member is not copied here: the occurrence's outbox rows (correlation ``checkin:<occurrence>``)
are the record of delivery, read when the states are shown, so the two never disagree.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta

from bot.domain.schedules import (
    CheckinAnswer,
    CheckinRecord,
    DigestFacts,
    Handled,
    Occurrence,
    OccurrenceState,
    Schedule,
    ScheduleKind,
    ScheduleRepository,
    ScheduleState,
    TargetKind,
    checkin_correlation,
)
from storage.codec import Sealer, parse_ts, ts
from storage.database import Database
from storage.keys import KeyMaterial

_SELECT = (
    "SELECT id, kind, target_kind, target, template, params_enc, cron, run_at, window_s,"
    " state, next_due, created_by, created_at FROM schedules"
)
#: Open claims past their promised date, the most overdue first.
_OVERDUE = (
    "SELECT c.id, r.name, c.promised_date FROM claims c JOIN regions r ON r.id = c.region_id"
    " WHERE c.status NOT IN ('paid', 'rejected') AND c.promised_date IS NOT NULL"
    " AND c.promised_date < ? ORDER BY c.promised_date, c.id"
)
#: Open claims whose last recorded change is older than the cut-off, the oldest first.
_STALLED = (
    "SELECT id, region, since FROM (SELECT c.id, r.name AS region,"
    " COALESCE((SELECT MAX(e.at) FROM claim_events e WHERE e.claim_id = c.id), c.updated_at)"
    " AS since FROM claims c JOIN regions r ON r.id = c.region_id"
    " WHERE c.status NOT IN ('paid', 'rejected')) WHERE since < ? ORDER BY since, id"
)
_PENDING_ALERTS = (
    "SELECT a.id, r.name FROM alerts a JOIN alert_regions ar ON ar.alert_id = a.id"
    " JOIN regions r ON r.id = ar.region_id WHERE a.status = 'pending' ORDER BY a.id"
)
#: Help requests nobody took: an alert's, or a check-in's "Necesito ayuda".
_OPEN_HELP = (
    "SELECT h.member_id, r.name FROM help_requests h JOIN regions r ON r.id = h.region_id"
    " WHERE h.acked_by IS NULL AND h.created_at >= ?"
    " UNION ALL SELECT c.member_id, r.name FROM checkin_answers c"
    " JOIN member_regions mr ON mr.member_id = c.member_id"
    " JOIN regions r ON r.id = mr.region_id"
    " WHERE c.answer = 'help' AND c.help_acked_at IS NULL AND c.answered_at >= ?"
)
_BLOCKED = (
    "SELECT m.id, r.name FROM members m JOIN member_regions mr ON mr.member_id = m.id"
    " JOIN regions r ON r.id = mr.region_id WHERE m.blocked = 1 AND m.state = 'active'"
    " ORDER BY m.id"
)
#: Check-in answers still missing when a window that closed in the last day closed.
_MISSED = (
    "SELECT c.member_id, r.name FROM checkin_answers c"
    " JOIN schedule_occurrences o ON o.id = c.occurrence_id"
    " JOIN member_regions mr ON mr.member_id = c.member_id"
    " JOIN regions r ON r.id = mr.region_id"
    " WHERE c.answer IS NULL AND o.window_ends > ? AND o.window_ends <= ?"
    " ORDER BY o.id, c.member_id"
)
#: A member's schedules: aimed at them, or at one of their claims.
_FOR_MEMBER = (
    " WHERE (target_kind = 'member' AND target = ?)"
    " OR (target_kind = 'claim' AND target IN"
    "   (SELECT CAST(id AS TEXT) FROM claims WHERE member_id = ?)) ORDER BY id"
)
_OCC_SELECT = (
    "SELECT id, schedule_id, due_at, state, recipients, window_ends, warned_at"
    " FROM schedule_occurrences"
)


_ADVANCE = (
    "UPDATE schedules SET next_due = ?, state = ?, updated_at = ?"
    " WHERE id = ? AND next_due = ? AND state = 'active'"
)
_RECORD = (
    "INSERT INTO schedule_occurrences (schedule_id, due_at, state, recipients,"
    " window_ends, created_at) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (schedule_id, due_at) DO NOTHING RETURNING id"
)
_ASK = (
    "INSERT INTO checkin_answers (occurrence_id, member_id) VALUES (?, ?) ON CONFLICT DO NOTHING"
)
#: A member a message can reach: active, with a linked account.
_REACHABLE = "state = 'active' AND telegram_hmac IS NOT NULL"
_REACHABLE_M = "m.state = 'active' AND m.telegram_hmac IS NOT NULL"
_CLAIM_OWNERS = "SELECT c.id, c.member_id FROM claims c JOIN members m ON m.id = c.member_id"
#: Ids per ``IN (...)`` list.
_CHUNK = 500


def _chunks(ids: Sequence[int]) -> list[Sequence[int]]:
    return [ids[start : start + _CHUNK] for start in range(0, len(ids), _CHUNK)]


def _opt(value: datetime | None) -> str | None:
    return ts(value) if value else None


def _record_params(schedule_id: int, handled: Handled, stamp: str) -> tuple[object, ...]:
    return (
        schedule_id,
        ts(handled.due_at),
        str(handled.state),
        len(handled.member_ids),
        _opt(handled.window_ends),
        stamp,
    )


def _opt_ts(value: str | None) -> datetime | None:
    return parse_ts(value) if value else None


def _occurrence(row: sqlite3.Row) -> Occurrence:
    return Occurrence(
        id=row["id"],
        schedule_id=row["schedule_id"],
        due_at=parse_ts(row["due_at"]),
        state=OccurrenceState(row["state"]),
        recipients=row["recipients"],
        window_ends=_opt_ts(row["window_ends"]),
        warned_at=_opt_ts(row["warned_at"]),
    )


@dataclass(frozen=True, slots=True)
class SqliteScheduleRepository:
    """Implements ``ScheduleRepository``."""

    db: Database
    keys: KeyMaterial

    @property
    def _sealer(self) -> Sealer:
        return Sealer(self.keys.cipher, "schedules")

    def _schedule(self, row: sqlite3.Row) -> Schedule:
        raw = (
            self._sealer.open("params", row["id"], row["params_enc"]) if row["params_enc"] else ""
        )
        window = row["window_s"]
        return Schedule(
            id=row["id"],
            kind=ScheduleKind(row["kind"]),
            target_kind=TargetKind(row["target_kind"]),
            target=row["target"],
            template=row["template"],
            params=json.loads(raw) if raw else {},
            cron=row["cron"],
            run_at=_opt_ts(row["run_at"]),
            window=timedelta(seconds=window) if window else None,
            state=ScheduleState(row["state"]),
            next_due=_opt_ts(row["next_due"]),
            created_by=row["created_by"],
            created_at=parse_ts(row["created_at"]),
        )

    async def add(self, schedule: Schedule, now: datetime) -> Schedule:
        """Store a new schedule; its parameters sealed and bound to its id (M-07)."""
        async with self.db.transaction():
            row_id = await self.db.next_id("schedules")
            params = (
                self._sealer.seal("params", row_id, json.dumps(dict(schedule.params)))
                if schedule.params
                else None
            )
            await self.db.execute(
                "INSERT INTO schedules (id, kind, target_kind, target, template, params_enc,"
                " cron, run_at, window_s, state, next_due, created_by, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row_id,
                    str(schedule.kind),
                    str(schedule.target_kind),
                    schedule.target,
                    schedule.template,
                    params,
                    schedule.cron,
                    ts(schedule.run_at) if schedule.run_at else None,
                    int(schedule.window.total_seconds()) if schedule.window else None,
                    str(schedule.state),
                    ts(schedule.next_due) if schedule.next_due else None,
                    schedule.created_by,
                    ts(now),
                    ts(now),
                ),
            )
        return replace(schedule, id=row_id, created_at=now)

    async def get(self, schedule_id: int) -> Schedule | None:
        """One schedule by id."""
        row = await self.db.fetchone(f"{_SELECT} WHERE id = ?", (schedule_id,))
        return self._schedule(row) if row else None

    async def in_states(self, states: Sequence[ScheduleState]) -> list[Schedule]:
        """Schedules in ``states``, by id."""
        marks = ", ".join("?" for _ in states) or "NULL"
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE state IN ({marks}) ORDER BY id",
            tuple(str(state) for state in states),
        )
        return [self._schedule(row) for row in rows]

    async def of_kind(self, kind: ScheduleKind) -> list[Schedule]:
        """Every schedule of one kind that is not cancelled or done."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE kind = ? AND state IN ('active', 'paused') ORDER BY id",
            (str(kind),),
        )
        return [self._schedule(row) for row in rows]

    async def set_rule(
        self, schedule_id: int, cron: str, next_due: datetime | None, now: datetime
    ) -> None:
        """Replace a recurring schedule's rule and its next occurrence."""
        await self.db.execute(
            "UPDATE schedules SET cron = ?, next_due = ?, updated_at = ? WHERE id = ?",
            (cron, ts(next_due) if next_due else None, ts(now), schedule_id),
        )

    async def digest_facts(
        self, today: date, stalled_since: datetime, since: datetime, now: datetime
    ) -> DigestFacts:
        """Everything a digest may report, with region names (the service slices per reader)."""
        overdue = await self.db.fetchall(_OVERDUE, (today.isoformat(),))
        stalled = await self.db.fetchall(_STALLED, (ts(stalled_since),))
        pending = await self.db.fetchall(_PENDING_ALERTS)
        open_help = await self.db.fetchall(_OPEN_HELP, (ts(since), ts(since)))
        blocked = await self.db.fetchall(_BLOCKED)
        missed = await self.db.fetchall(_MISSED, (ts(since), ts(now)))
        return DigestFacts(
            overdue=[(r[0], r[1], (today - date.fromisoformat(r[2])).days) for r in overdue],
            stalled=[(r[0], r[1], (now - parse_ts(r[2])).days) for r in stalled],
            pending_alerts=[(r[0], r[1]) for r in pending],
            open_help=[(r[0], r[1]) for r in open_help],
            blocked=[(r[0], r[1]) for r in blocked],
            missed_checkins=[(r[0], r[1]) for r in missed],
        )

    async def for_member(self, member_id: int) -> list[Schedule]:
        """Schedules aimed at one member directly or through one of their claims."""
        rows = await self.db.fetchall(
            f"{_SELECT}{_FOR_MEMBER}",
            (str(member_id), member_id),
        )
        return [self._schedule(row) for row in rows]

    async def due(self, now: datetime, limit: int) -> list[Schedule]:
        """Active schedules whose next occurrence has come, the most overdue first."""
        rows = await self.db.fetchall(
            f"{_SELECT} WHERE state = 'active' AND next_due IS NOT NULL AND next_due <= ?"
            " ORDER BY next_due, id LIMIT ?",
            (ts(now), limit),
        )
        return [self._schedule(row) for row in rows]

    async def set_state(self, schedule_id: int, state: ScheduleState, now: datetime) -> bool:
        """Change the state of a schedule that is not cancelled or done."""
        written = await self.db.execute(
            "UPDATE schedules SET state = ?, updated_at = ?"
            " WHERE id = ? AND state IN ('active', 'paused')",
            (str(state), ts(now), schedule_id),
        )
        return written.rowcount == 1

    async def advance(
        self,
        schedule_id: int,
        expected_due: datetime,
        next_due: datetime | None,
        state: ScheduleState,
        now: datetime,
    ) -> bool:
        """Compare-and-set the next occurrence (a concurrent pause or cancel wins)."""
        written = await self.db.execute(
            _ADVANCE, (_opt(next_due), str(state), ts(now), schedule_id, ts(expected_due))
        )
        return written.rowcount == 1

    async def set_next_due(
        self, schedule_id: int, next_due: datetime | None, now: datetime
    ) -> None:
        """Re-arm a schedule from a given occurrence (resume)."""
        await self.db.execute(
            "UPDATE schedules SET next_due = ?, updated_at = ? WHERE id = ?",
            (ts(next_due) if next_due else None, ts(now), schedule_id),
        )

    async def advance_many(
        self,
        moves: Sequence[tuple[int, datetime, datetime | None, ScheduleState]],
        now: datetime,
    ) -> set[int]:
        """``advance`` for many schedules in one trip; the ids that moved."""
        stamp = ts(now)

        def step(conn: sqlite3.Connection) -> set[int]:
            moved = set()
            for schedule_id, expected, following, state in moves:
                cursor = conn.execute(
                    _ADVANCE, (_opt(following), str(state), stamp, schedule_id, ts(expected))
                )
                if cursor.rowcount == 1:
                    moved.add(schedule_id)
            return moved

        return await self.db.run(step)

    async def record_many(
        self, items: Sequence[tuple[int, Handled]], now: datetime
    ) -> list[int | None]:
        """``record`` for many occurrences in one trip; each one's id, None if it existed."""
        stamp = ts(now)

        def step(conn: sqlite3.Connection) -> list[int | None]:
            ids: list[int | None] = []
            for schedule_id, handled in items:
                row = conn.execute(_RECORD, _record_params(schedule_id, handled, stamp)).fetchone()
                if row is None:
                    ids.append(None)
                    continue
                ids.append(int(row[0]))
                if handled.window_ends is not None and handled.member_ids:
                    conn.executemany(
                        _ASK, [(int(row[0]), member_id) for member_id in handled.member_ids]
                    )
            return ids

        return await self.db.run(step)

    async def reachable(
        self, member_ids: Sequence[int], claim_ids: Sequence[int]
    ) -> tuple[set[int], dict[int, int]]:
        """Active linked members among ``member_ids``, and each claim's such owner."""
        members: set[int] = set()
        owners: dict[int, int] = {}
        for chunk in _chunks(sorted(set(member_ids))):
            marks = ",".join("?" * len(chunk))
            rows = await self.db.fetchall(
                f"SELECT id FROM members WHERE id IN ({marks}) AND {_REACHABLE}",  # noqa: S608
                chunk,
            )
            members.update(int(r[0]) for r in rows)
        for chunk in _chunks(sorted(set(claim_ids))):
            marks = ",".join("?" * len(chunk))
            sql = f"{_CLAIM_OWNERS} WHERE c.id IN ({marks}) AND {_REACHABLE_M}"
            rows = await self.db.fetchall(sql, chunk)
            owners.update((int(r[0]), int(r[1])) for r in rows)
        return members, owners

    async def record(self, schedule_id: int, handled: Handled, now: datetime) -> int | None:
        """Record an occurrence once (UNIQUE schedule and time); a check-in's recipients too."""
        written = await self.db.execute(_RECORD, _record_params(schedule_id, handled, ts(now)))
        row = written.first()
        if row is None:
            return None
        occurrence_id = int(row[0])
        if handled.window_ends is not None and handled.member_ids:
            await self.db.executemany(
                _ASK,
                [(occurrence_id, member_id) for member_id in handled.member_ids],
            )
        return occurrence_id

    async def occurrences(self, schedule_id: int, limit: int) -> list[Occurrence]:
        """The newest occurrences of a schedule, newest first."""
        rows = await self.db.fetchall(
            f"{_OCC_SELECT} WHERE schedule_id = ? ORDER BY due_at DESC LIMIT ?",
            (schedule_id, limit),
        )
        return [_occurrence(row) for row in rows]

    async def occurrence(self, occurrence_id: int) -> Occurrence | None:
        """One occurrence by id."""
        row = await self.db.fetchone(f"{_OCC_SELECT} WHERE id = ?", (occurrence_id,))
        return _occurrence(row) if row else None

    async def windows_closed(self, now: datetime, limit: int) -> list[Occurrence]:
        """Check-in occurrences whose window closed and whose coordinators were not told."""
        rows = await self.db.fetchall(
            f"{_OCC_SELECT} WHERE window_ends IS NOT NULL AND warned_at IS NULL"
            " AND window_ends <= ? ORDER BY window_ends LIMIT ?",
            (ts(now), limit),
        )
        return [_occurrence(row) for row in rows]

    async def mark_warned(self, occurrence_id: int, now: datetime) -> bool:
        """Set ``warned_at`` once."""
        written = await self.db.execute(
            "UPDATE schedule_occurrences SET warned_at = ? WHERE id = ? AND warned_at IS NULL",
            (ts(now), occurrence_id),
        )
        return written.rowcount == 1

    async def checkins(self, occurrence_id: int) -> list[CheckinRecord]:
        """Each recipient's line; unreachable when its outbox row ended undelivered
        (blocked, dead, expired, or cancelled because the member blocked the bot)."""
        rows = await self.db.fetchall(
            "SELECT c.member_id, c.answer, c.answered_at, c.late,"
            " EXISTS (SELECT 1 FROM outbox o WHERE o.correlation = ? AND o.member_id = c.member_id"
            "   AND o.status IN ('blocked', 'dead', 'expired', 'cancelled')) AS unreached"
            " FROM checkin_answers c WHERE c.occurrence_id = ? ORDER BY c.member_id",
            (checkin_correlation(occurrence_id), occurrence_id),
        )
        return [
            CheckinRecord(
                occurrence_id=occurrence_id,
                member_id=row["member_id"],
                answer=CheckinAnswer(row["answer"]) if row["answer"] else None,
                answered_at=_opt_ts(row["answered_at"]),
                late=bool(row["late"]),
                unreachable=bool(row["unreached"]),
            )
            for row in rows
        ]

    async def ack_help(self, occurrence_id: int, member_id: int, by: int, now: datetime) -> bool:
        """Take a check-in's help request once (False: taken already, or none)."""
        written = await self.db.execute(
            "UPDATE checkin_answers SET help_acked_by = ?, help_acked_at = ?"
            " WHERE occurrence_id = ? AND member_id = ? AND answer = 'help'"
            " AND help_acked_at IS NULL",
            (by, ts(now), occurrence_id, member_id),
        )
        return written.rowcount == 1

    async def answer(
        self,
        occurrence_id: int,
        member_id: int,
        answer: CheckinAnswer,
        now: datetime,
        late: bool,
    ) -> bool | None:
        """Record an answer once; help may replace safe, never the reverse (T-33 style)."""
        async with self.db.transaction():
            row = await self.db.fetchone(
                "SELECT answer FROM checkin_answers WHERE occurrence_id = ? AND member_id = ?",
                (occurrence_id, member_id),
            )
            if row is None:
                return None
            if row["answer"] == answer or row["answer"] == CheckinAnswer.HELP:
                return False
            await self.db.execute(
                "UPDATE checkin_answers SET answer = ?, answered_at = ?, late = ?"
                " WHERE occurrence_id = ? AND member_id = ?",
                (str(answer), ts(now), int(late), occurrence_id, member_id),
            )
        return True


_: type[ScheduleRepository] = SqliteScheduleRepository
