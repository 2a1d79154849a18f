"""The one fake clock of the suite: ``bot.domain.ports.Clock``, moved only by the test.

Handler tests (``tests/conftest.py``'s ``clock`` fixture), service tests
(``tests/services/fakes.py``) and CLI tests all use this class; suites differ only in the
instant they start at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

LIMA = ZoneInfo("America/Lima")
#: Where handler tests start: 2026-03-14 15:00 UTC, 10:00 in Lima.
START = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


@dataclass(slots=True)
class FakeClock:
    """Implements ``bot.domain.ports.Clock``; tests set or advance ``current`` at will."""

    __test__ = False  # imported as TestClock into test modules: not a test class

    current: datetime = field(default=START)
    zone: ZoneInfo = LIMA

    @property
    def tz(self) -> ZoneInfo:
        """The programme's time zone."""
        return self.zone

    def now(self) -> datetime:
        """The set instant (aware UTC)."""
        return self.current

    def today(self) -> date:
        """The set instant's date in the programme's zone."""
        return self.current.astimezone(self.zone).date()

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (must be aware)."""
        if value.tzinfo is None:
            raise ValueError("FakeClock needs an aware datetime")
        self.current = value.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta`` (or back, with a negative one)."""
        self.current += delta


#: The name handler and CLI tests know it by.
TestClock = FakeClock
