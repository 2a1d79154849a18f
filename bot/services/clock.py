"""The production clock: aware UTC now, dates in the programme's time zone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class SystemClock:
    """Implements ``bot.domain.ports.Clock`` over the system clock."""

    zone: ZoneInfo

    @property
    def tz(self) -> ZoneInfo:
        """The programme's time zone."""
        return self.zone

    def now(self) -> datetime:
        """Aware UTC now."""
        return datetime.now(UTC)

    def today(self) -> date:
        """Today in ``tz``."""
        return datetime.now(self.zone).date()
