"""The ``heartbeat`` table: the running bot's one-row sign of life (``chaski status``)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.health import Heartbeat
from storage.codec import ts
from storage.database import Database

_UPSERT = (
    "INSERT INTO heartbeat (id, started_at, beat_at, polled_at, pid, host, version,"
    " beat_every_s, poll_timeout_s) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (id) DO UPDATE SET started_at = excluded.started_at,"
    " beat_at = excluded.beat_at, polled_at = excluded.polled_at, pid = excluded.pid,"
    " host = excluded.host, version = excluded.version,"
    " beat_every_s = excluded.beat_every_s, poll_timeout_s = excluded.poll_timeout_s"
)


@dataclass(frozen=True, slots=True)
class SqliteHeartbeat:
    """Implements ``bot.domain.health.HeartbeatStore``."""

    db: Database

    async def record(self, beat: Heartbeat) -> None:
        """Replace the row; a write whose result nobody reads (joins the group commit)."""
        await self.db.write(
            _UPSERT,
            (
                ts(beat.started_at),
                ts(beat.beat_at),
                ts(beat.polled_at) if beat.polled_at else None,
                beat.pid,
                beat.host,
                beat.version,
                beat.beat_every_s,
                beat.poll_timeout_s,
            ),
        )
