"""Every fixture secret the suite creates, and the session-wide log check over them (T-47).

T-47 (security-tests.md) asks that, after the whole suite, the captured logs contain none of the
fixture PINs, invite codes, codenames, Telegram ids, operation labels, references, amounts or
the bot token. The seeding helpers call :func:`remember` for each such value they create;
``tests/conftest.py`` attaches a :class:`LogCollector` to the root logger for the session and,
in ``pytest_sessionfinish``, fails the run if :func:`find_leaks` finds any remembered value in
the collected text.

Kept free of fixtures and of pytest so any helper (even a plain function in a test module)
can register a value, and so the grep itself has an ordinary unit test.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

#: Values shorter than this are too common to mean anything in a log ("Puma", user id 501,
#: amount "1500"); they would only produce false alarms.
MIN_LENGTH = 5

_REMEMBERED: set[str] = set()


def remember(value: str) -> None:
    """Register a fixture secret that must never appear in any log line of the session."""
    value = value.strip()
    if len(value) >= MIN_LENGTH:
        _REMEMBERED.add(value)


def remembered() -> frozenset[str]:
    """Every value registered so far (for the session check and its tests)."""
    return frozenset(_REMEMBERED)


@dataclass(frozen=True, slots=True)
class Leak:
    """One remembered value found in one collected log record."""

    value: str
    record: str


def find_leaks(records: Iterable[str], secrets: Iterable[str]) -> list[Leak]:
    """Every (secret, record) pair where the secret occurs verbatim in the record.

    Exact substring search: the point is to catch a value logged as is (``%s`` of a codename,
    an Update's text), which is what a log reader or a seized log file would see.
    """
    needles = sorted({s for s in secrets if len(s) >= MIN_LENGTH})
    return [Leak(needle, record) for record in records for needle in needles if needle in record]


class LogCollector(logging.Handler):
    """Keeps the text of every record of the session, unredacted.

    ``handle`` is overridden to skip handler filters: ``bot.root.logging_setup.configure_logging``
    adds its redacting filter to every root handler, and T-47 is about what *our code* logs,
    so the check must see records before any redaction (the filter is a safety net, not the
    reason nothing leaks).
    """

    def __init__(self) -> None:
        """Collect at every level."""
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def handle(self, record: logging.LogRecord) -> bool:
        """Emit without running filters (see the class docstring)."""
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Store the formatted record (message, exception text and stack included)."""
        try:
            self.records.append(self.format(record))
        except Exception:  # a broken record must not break the test that logged it
            self.records.append(f"{record.levelname} {record.name}: {record.msg!r}")
