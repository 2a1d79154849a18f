"""What ``chaski status`` concludes from the facts: every threshold, ok/warning/critical."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.health import (
    APPROVAL_WAIT_WARNING,
    OUTBOX_LATE_CRITICAL_S,
    OUTBOX_LATE_WARNING_S,
    Check,
    HealthFacts,
    Heartbeat,
    Level,
    OutboxHealth,
    beat_limit_s,
    evaluate,
    overall,
    poll_limit_s,
    restore_blocker,
)

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
BEAT = Heartbeat(
    started_at=NOW - timedelta(hours=3, minutes=5),
    beat_at=NOW - timedelta(seconds=10),
    polled_at=NOW - timedelta(seconds=20),
    pid=4242,
    host="srv",
    version="0.1.0",
    beat_every_s=30,
    poll_timeout_s=30,
)
QUIET = OutboxHealth(due=0, oldest_due_at=None, scheduled=0, retrying=0, sending=0, dead=0)
HEALTHY = HealthFacts(
    now=NOW,
    database="/var/lib/chaski/chaski.sqlite3",
    integrity="ok",
    schema_version=6,
    code_schema_version=6,
    heartbeat=BEAT,
    process_alive=True,
    host="srv",
    outbox=QUIET,
    members=42,
    linked=40,
    blocked=2,
    claims=120,
    sealed_values=980,
    pending_approvals=0,
    oldest_pending_at=None,
    keys_problem=None,
    active_key="9c41e07a",
    installed_version="0.1.0",
)


def _check(facts: HealthFacts, name: str) -> Check:
    [check] = [c for c in evaluate(facts) if c.name == name]
    return check


def test_a_healthy_installation_is_ok_on_every_line() -> None:
    checks = evaluate(HEALTHY)
    assert [c.name for c in checks] == [
        "bot",
        "database",
        "keys",
        "outbox",
        "dead letters",
        "approvals",
        "members",
    ]
    assert overall(checks) is Level.OK
    assert _check(HEALTHY, "bot").summary == (
        "running (pid 4242 on srv, up 3 h 5 min); last getUpdates answer 20 s ago"
    )
    assert "42 member(s), 40 linked, 2 blocked the bot" in _check(HEALTHY, "members").summary


def test_no_heartbeat_is_critical() -> None:
    check = _check(replace(HEALTHY, heartbeat=None, process_alive=None), "bot")
    assert check.level is Level.CRITICAL
    assert "never run" in check.summary


@pytest.mark.parametrize(
    ("alive", "words"),
    [(False, "is not running"), (True, "is alive but stuck"), (None, "was last seen")],
)
def test_a_stale_heartbeat_is_critical_and_says_whether_the_process_exists(
    alive: bool | None, words: str
) -> None:
    stale = replace(BEAT, beat_at=NOW - timedelta(seconds=beat_limit_s(BEAT) + 1))
    check = _check(replace(HEALTHY, heartbeat=stale, process_alive=alive), "bot")
    assert check.level is Level.CRITICAL
    assert f"pid 4242 on srv {words}: last heartbeat 101 s ago" in check.summary
    fresh = replace(BEAT, beat_at=NOW - timedelta(seconds=beat_limit_s(BEAT)))
    assert _check(replace(HEALTHY, heartbeat=fresh), "bot").level is Level.OK


def test_running_but_not_polling_is_critical() -> None:
    limit = poll_limit_s(BEAT)
    assert limit == 120
    deaf = replace(BEAT, polled_at=NOW - timedelta(seconds=limit + 1))
    check = _check(replace(HEALTHY, heartbeat=deaf), "bot")
    assert check.level is Level.CRITICAL
    assert "not polling" in check.summary
    assert "409 Conflict" in check.summary
    hearing = replace(BEAT, polled_at=NOW - timedelta(seconds=limit))
    assert _check(replace(HEALTHY, heartbeat=hearing), "bot").level is Level.OK


def test_no_poll_answer_yet_is_ok_while_starting_then_critical() -> None:
    starting = replace(BEAT, polled_at=None, started_at=NOW - timedelta(seconds=15))
    check = _check(replace(HEALTHY, heartbeat=starting), "bot")
    assert (check.level, "waiting for the first getUpdates" in check.summary) == (Level.OK, True)
    never = replace(starting, started_at=NOW - timedelta(seconds=poll_limit_s(BEAT) + 1))
    check = _check(replace(HEALTHY, heartbeat=never), "bot")
    assert check.level is Level.CRITICAL
    assert "has not answered getUpdates since the start" in check.summary


def test_a_bot_running_older_code_than_installed_is_a_warning() -> None:
    check = _check(replace(HEALTHY, installed_version="0.2.0"), "bot")
    assert check.level is Level.WARNING
    assert "restart it" in check.summary


@pytest.mark.parametrize(
    ("late", "level"),
    [
        (OUTBOX_LATE_WARNING_S, Level.OK),
        (OUTBOX_LATE_WARNING_S + 1, Level.WARNING),
        (OUTBOX_LATE_CRITICAL_S, Level.WARNING),
        (OUTBOX_LATE_CRITICAL_S + 1, Level.CRITICAL),
    ],
)
def test_only_rows_late_past_their_due_time_raise_the_outbox_level(
    late: int, level: Level
) -> None:
    box = replace(QUIET, due=3, oldest_due_at=NOW - timedelta(seconds=late), scheduled=900)
    check = _check(replace(HEALTHY, outbox=box), "outbox")
    assert check.level is level
    assert check.summary.startswith("3 due, the oldest due for")
    assert "900 scheduled ahead on purpose" in check.summary


def test_many_rows_scheduled_ahead_are_not_a_problem() -> None:
    box = replace(QUIET, scheduled=5000, retrying=2, sending=1)
    check = _check(replace(HEALTHY, outbox=box), "outbox")
    assert check.level is Level.OK
    assert check.summary == (
        "nothing due; 5000 scheduled ahead on purpose (quiet hours, deletions),"
        " 2 waiting to retry, 1 sending"
    )


def test_dead_letters_are_a_warning() -> None:
    check = _check(replace(HEALTHY, outbox=replace(QUIET, dead=2)), "dead letters")
    assert check.level is Level.WARNING
    assert "2 message(s) failed for good" in check.summary
    assert "chaski outbox retry-dead" in check.summary


def test_keys_and_integrity_problems_are_critical() -> None:
    keys = _check(replace(HEALTHY, keys_problem="key file /k/data.keys is missing"), "keys")
    assert (keys.level, keys.summary) == (Level.CRITICAL, "key file /k/data.keys is missing")
    broken = _check(replace(HEALTHY, integrity="*** in database main ***"), "database")
    assert broken.level is Level.CRITICAL
    assert "restore" in broken.summary


def test_schema_behind_is_a_warning_and_ahead_is_critical() -> None:
    behind = _check(replace(HEALTHY, schema_version=5), "database")
    assert (behind.level, "chaski migrate" in behind.summary) == (Level.WARNING, True)
    ahead = _check(replace(HEALTHY, schema_version=7), "database")
    assert ahead.level is Level.CRITICAL


def test_an_alert_waiting_long_for_approval_is_a_warning() -> None:
    waiting = replace(HEALTHY, pending_approvals=2, oldest_pending_at=NOW - APPROVAL_WAIT_WARNING)
    check = _check(waiting, "approvals")
    assert check.level is Level.OK
    assert check.summary.startswith("2 alert(s) wait for a second person's approval")
    late = replace(waiting, oldest_pending_at=NOW - APPROVAL_WAIT_WARNING - timedelta(seconds=1))
    assert _check(late, "approvals").level is Level.WARNING


def test_durations_read_at_a_glance() -> None:
    for seconds, shown in [(119, "119 s"), (7199, "119 min"), (3 * 86400 + 3600, "3 d 1 h")]:
        stale = replace(BEAT, beat_at=NOW - timedelta(seconds=seconds))
        assert (
            f"last heartbeat {shown} ago"
            in _check(replace(HEALTHY, heartbeat=stale), "bot").summary
        )


def test_overall_is_the_worst_level() -> None:
    checks = [
        Check("a", Level.OK, ""),
        Check("b", Level.CRITICAL, ""),
        Check("c", Level.WARNING, ""),
    ]
    assert overall(checks) is Level.CRITICAL
    assert overall([]) is Level.OK
    assert Level.WARNING.label == "warning"


@pytest.mark.parametrize(
    ("beat", "alive", "bot_stopped", "refused"),
    [
        (None, None, False, None),
        (BEAT, True, True, "the bot is running (pid 4242 on srv, last heartbeat 10 s ago)"),
        (BEAT, None, True, "the bot is running"),  # another host: no flag overrides it
        (BEAT, False, False, None),  # fresh, but its process is gone: it stopped
        (replace(BEAT, beat_at=NOW - timedelta(hours=2)), None, False, "ran on another host"),
        (replace(BEAT, beat_at=NOW - timedelta(hours=2)), True, False, "still exists"),
        (replace(BEAT, beat_at=NOW - timedelta(hours=2)), True, True, None),
        (replace(BEAT, beat_at=NOW - timedelta(hours=2)), False, False, None),
    ],
)
def test_t52_restore_waits_for_a_stopped_bot(
    beat: Heartbeat | None, alive: bool | None, bot_stopped: bool, refused: str | None
) -> None:
    verdict = restore_blocker(beat, NOW, alive, bot_stopped=bot_stopped)
    if refused is None:
        assert verdict is None
    else:
        assert verdict is not None
        assert refused in verdict
