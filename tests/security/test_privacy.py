"""docs/security-tests.md §4.6, privacy checks over the whole suite: the T-47 machinery itself.

The session-wide check lives in tests/conftest.py (``pytest_sessionfinish``); these tests prove
that its parts work: the grep finds a logged secret, ignores values too short to mean
anything, and the collector sees records unredacted and at DEBUG.
"""

from __future__ import annotations

import logging

from bot.root.logging_setup import RedactingFilter
from tests.conftest import LOG_COLLECTOR
from tests.secrets_registry import MIN_LENGTH, LogCollector, find_leaks, remember, remembered


def test_t47_grep_finds_every_secret_in_every_record() -> None:
    records = ["INFO a: nothing here", "ERROR b: codename Kuntur-Leak and 482913", "x"]
    leaks = find_leaks(records, ["Kuntur-Leak", "482913", "absent-value"])
    assert [(leak.value, leak.record) for leak in leaks] == [
        ("482913", records[1]),
        ("Kuntur-Leak", records[1]),
    ]


def test_t47_grep_ignores_values_too_short_to_mean_anything() -> None:
    assert find_leaks(["user 501 chose es"], ["501", "es", "x" * (MIN_LENGTH - 1)]) == []
    assert find_leaks(["id 70101"], ["70101"]) != []


def test_t47_remember_keeps_meaningful_values_only() -> None:
    remember("  Kuntur-Registry-Check  ")
    remember("abc")
    assert "Kuntur-Registry-Check" in remembered()
    assert "abc" not in remembered()


def test_t47_the_session_collector_sees_debug_records_of_our_code() -> None:
    logging.getLogger("bot.services.example").debug("probe %s", "t47-debug-probe")
    assert any("t47-debug-probe" in record for record in LOG_COLLECTOR.records)


def test_t47_collector_ignores_filters_so_redaction_cannot_hide_a_leak() -> None:
    collector = LogCollector()
    collector.addFilter(RedactingFilter())
    logger = logging.getLogger("tests.security.privacy_probe")
    logger.addHandler(collector)
    logger.propagate = False  # the probe value must not reach the session's own check
    try:
        logger.warning("pin %s", "482913")
    finally:
        logger.removeHandler(collector)
        logger.propagate = True
    assert collector.records == ["WARNING tests.security.privacy_probe: pin 482913"]
    assert find_leaks(collector.records, ["482913"]) != []
