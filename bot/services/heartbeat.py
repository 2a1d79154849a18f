"""The bot's heartbeat: who runs, since when, and when Telegram last answered a poll.

The transport notes each answered ``getUpdates`` (``handlers.heartbeat``) in memory; a job
hands that moment here every ``BEAT_EVERY_S`` seconds and one small row is rewritten, so
``chaski status`` (another process) can tell a running, polling bot from a stopped one or
one that hears nothing, at the cost of one write every half minute.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bot.domain.health import BEAT_EVERY_S, Heartbeat, HeartbeatStore
from bot.domain.ports import Clock


@dataclass(slots=True)
class HeartbeatService:
    """Writes the heartbeat of this process."""

    store: HeartbeatStore
    clock: Clock
    pid: int
    host: str
    version: str
    poll_timeout_s: int
    beat_every_s: int = BEAT_EVERY_S
    started_at: datetime | None = field(default=None)

    async def beat(self, polled_at: datetime | None) -> Heartbeat:
        """Record that this process is alive and when ``getUpdates`` was last answered."""
        now = self.clock.now()
        if self.started_at is None:
            self.started_at = now
        beat = Heartbeat(
            started_at=self.started_at,
            beat_at=now,
            polled_at=polled_at,
            pid=self.pid,
            host=self.host,
            version=self.version,
            beat_every_s=self.beat_every_s,
            poll_timeout_s=self.poll_timeout_s,
        )
        await self.store.record(beat)
        return beat
