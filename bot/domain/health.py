"""Health of one installation, judged from facts: what ``chaski status`` reports (#14.4).

Storage gathers the facts read-only (``storage.health``); this module only decides what
they mean, so every threshold is in one place and testable without a database. Levels are
the exit codes of a monitoring probe (the Nagios convention): 0 ok, 1 warning (look today),
2 critical (look now).

Two distinctions the old ``Oldest queued row`` line mixed up:

- an outbox row may wait on purpose: an alert held until quiet hours end, a deletion
  scheduled ten minutes ahead, a retry after Telegram's ``retry_after``. Only rows whose
  time has come and that are still not sent say anything about the bot, and their delay is
  measured from when they became due, not from when they were written;
- a bot may run and hear nothing: the heartbeat records both that the process is alive
  and when Telegram last answered ``getUpdates`` (a 409 Conflict, a revoked token or a lost
  network stop the second, not the first).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Protocol

#: The bot rewrites its heartbeat this often (seconds); cheap: one small row.
BEAT_EVERY_S = 30
#: A due outbox row this late (seconds) is a warning, and this late critical: a broadcast
#: to a few thousand members at 25 messages a second takes minutes, not a quarter hour.
OUTBOX_LATE_WARNING_S = 120
OUTBOX_LATE_CRITICAL_S = 900
#: An alert waiting this long for a second person's approval is not reaching anyone.
APPROVAL_WAIT_WARNING = timedelta(minutes=30)


class Level(IntEnum):
    """Severity of one check, and the exit code of ``chaski status``."""

    OK = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        """``ok``, ``warning`` or ``critical``."""
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What the running bot last wrote about itself."""

    started_at: datetime
    beat_at: datetime
    #: When Telegram last answered ``getUpdates``; None until the first answer.
    polled_at: datetime | None
    pid: int
    host: str
    version: str
    beat_every_s: int
    poll_timeout_s: int


class HeartbeatStore(Protocol):
    """Where the bot records its heartbeat (one row)."""

    async def record(self, beat: Heartbeat) -> None:
        """Replace the stored heartbeat with ``beat``."""


@dataclass(frozen=True, slots=True)
class OutboxHealth:
    """Waiting outbox rows by why they wait."""

    #: Rows whose time has come, not yet sent.
    due: int
    #: When the longest-waiting due row became due (None when nothing is due).
    oldest_due_at: datetime | None
    #: Rows held on purpose until a later time: quiet hours, deletions scheduled ahead.
    scheduled: int
    #: Rows waiting for their next attempt after a failure (Telegram's retry_after …).
    retrying: int
    #: Rows handed to Telegram right now.
    sending: int
    #: Rows that failed for good (dead letters).
    dead: int


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """Everything ``chaski status`` looked at, read without changing anything."""

    now: datetime
    database: str
    #: ``ok``, or the first line ``PRAGMA quick_check`` reported.
    integrity: str
    schema_version: int
    code_schema_version: int
    heartbeat: Heartbeat | None
    #: Whether the heartbeat's process exists (None: it ran on another host, or no beat).
    process_alive: bool | None
    host: str
    outbox: OutboxHealth
    members: int
    linked: int
    blocked: int
    claims: int
    sealed_values: int
    pending_approvals: int
    oldest_pending_at: datetime | None
    #: None when the keys load and fit the database, else why not.
    keys_problem: str | None
    active_key: str | None
    installed_version: str


@dataclass(frozen=True, slots=True)
class Check:
    """One line of the report."""

    name: str
    level: Level
    summary: str


def _age(now: datetime, then: datetime) -> int:
    return max(0, int((now - then).total_seconds()))


def _duration(seconds: int) -> str:
    """``45 s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``: readable at a glance."""
    if seconds < 120:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 120:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def beat_limit_s(beat: Heartbeat) -> int:
    """A heartbeat older than this means the process is gone or stuck."""
    return 3 * beat.beat_every_s + 10


def poll_limit_s(beat: Heartbeat) -> int:
    """A last ``getUpdates`` answer older than this means the bot hears nothing.

    An idle long poll is answered every ``poll_timeout_s``; the heartbeat that records it
    may come ``beat_every_s`` later, and status may read it up to one beat after that.
    """
    return beat.poll_timeout_s + 2 * beat.beat_every_s + 30


def _bot(facts: HealthFacts) -> Check:
    beat = facts.heartbeat
    if beat is None:
        return Check(
            "bot",
            Level.CRITICAL,
            "has never run against this database (no heartbeat); start it: systemctl start chaski",
        )
    where = f"pid {beat.pid} on {beat.host}"
    silent = _age(facts.now, beat.beat_at)
    if silent > beat_limit_s(beat):
        state = (
            "is alive but stuck"
            if facts.process_alive
            else "is not running"
            if facts.process_alive is False
            else "was last seen"
        )
        return Check(
            "bot",
            Level.CRITICAL,
            f"{where} {state}: last heartbeat {_duration(silent)} ago"
            " (journalctl -u chaski; systemctl status chaski)",
        )
    up = f"{where}, up {_duration(_age(facts.now, beat.started_at))}"
    if beat.polled_at is None:
        waited = _age(facts.now, beat.started_at)
        if waited <= poll_limit_s(beat):
            return Check("bot", Level.OK, f"running ({up}); waiting for the first getUpdates")
        return Check(
            "bot",
            Level.CRITICAL,
            f"running ({up}) but Telegram has not answered getUpdates since the start:"
            " network, token or another poller (409 Conflict)? See the journal",
        )
    polled = _age(facts.now, beat.polled_at)
    if polled > poll_limit_s(beat):
        return Check(
            "bot",
            Level.CRITICAL,
            f"running ({up}) but not polling: Telegram last answered getUpdates"
            f" {_duration(polled)} ago: network, token or another poller (409 Conflict)?"
            " See the journal",
        )
    level = Level.OK
    note = ""
    if beat.version != facts.installed_version:
        level = Level.WARNING
        note = (
            f"; it runs version {beat.version}, installed is {facts.installed_version}:"
            " restart it (systemctl restart chaski)"
        )
    return Check(
        "bot", level, f"running ({up}); last getUpdates answer {_duration(polled)} ago{note}"
    )


def _database(facts: HealthFacts) -> Check:
    if facts.integrity != "ok":
        return Check(
            "database",
            Level.CRITICAL,
            f"{facts.database} fails PRAGMA quick_check ({facts.integrity}); stop the bot and"
            " restore the latest backup (docs/operations.md, restore)",
        )
    schema = f"schema {facts.schema_version} of {facts.code_schema_version}"
    if facts.schema_version < facts.code_schema_version:
        return Check(
            "database",
            Level.WARNING,
            f"{facts.database}: integrity ok, {schema}: run chaski migrate (the bot does"
            " it when it starts)",
        )
    if facts.schema_version > facts.code_schema_version:
        return Check(
            "database",
            Level.CRITICAL,
            f"{facts.database}: {schema}: the database is newer than the installed code;"
            " install the version that wrote it",
        )
    return Check("database", Level.OK, f"{facts.database}: integrity ok, {schema}")


def _keys(facts: HealthFacts) -> Check:
    if facts.keys_problem is not None:
        return Check("keys", Level.CRITICAL, facts.keys_problem)
    return Check(
        "keys",
        Level.OK,
        f"load and open the data (active data key {facts.active_key};"
        f" {facts.sealed_values} sealed value(s))",
    )


def _outbox(facts: HealthFacts) -> list[Check]:
    box = facts.outbox
    waiting = (
        f"{box.scheduled} scheduled ahead on purpose (quiet hours, deletions),"
        f" {box.retrying} waiting to retry, {box.sending} sending"
    )
    if box.oldest_due_at is None:
        checks = [Check("outbox", Level.OK, f"nothing due; {waiting}")]
    else:
        late = _age(facts.now, box.oldest_due_at)
        level = (
            Level.CRITICAL
            if late > OUTBOX_LATE_CRITICAL_S
            else Level.WARNING
            if late > OUTBOX_LATE_WARNING_S
            else Level.OK
        )
        checks = [
            Check(
                "outbox",
                level,
                f"{box.due} due, the oldest due for {_duration(late)}; {waiting}",
            )
        ]
    if box.dead:
        checks.append(
            Check(
                "dead letters",
                Level.WARNING,
                f"{box.dead} message(s) failed for good: chaski outbox status; after fixing"
                " the cause, chaski outbox retry-dead",
            )
        )
    else:
        checks.append(Check("dead letters", Level.OK, "none"))
    return checks


def _members(facts: HealthFacts) -> Check:
    return Check(
        "members",
        Level.OK,
        f"{facts.members} member(s), {facts.linked} linked, {facts.blocked} blocked the bot"
        " (their messages cannot be delivered)",
    )


def _approvals(facts: HealthFacts) -> Check:
    if facts.oldest_pending_at is None:
        return Check("approvals", Level.OK, "no alert waits for approval")
    waited = facts.now - facts.oldest_pending_at
    level = Level.WARNING if waited > APPROVAL_WAIT_WARNING else Level.OK
    return Check(
        "approvals",
        level,
        f"{facts.pending_approvals} alert(s) wait for a second person's approval, the oldest"
        f" for {_duration(_age(facts.now, facts.oldest_pending_at))} (/aprobar)",
    )


def evaluate(facts: HealthFacts) -> list[Check]:
    """Every check, in report order."""
    return [
        _bot(facts),
        _database(facts),
        _keys(facts),
        *_outbox(facts),
        _approvals(facts),
        _members(facts),
    ]


def overall(checks: list[Check]) -> Level:
    """The worst level among ``checks``: the exit code."""
    return max((check.level for check in checks), default=Level.OK)


def restore_blocker(
    beat: Heartbeat | None, now: datetime, process_alive: bool | None, *, bot_stopped: bool
) -> str | None:
    """Why ``chaski restore`` must not replace the database now, or None (#11.7, #14.5).

    A running bot keeps its connections on the file that a restore moves aside, and goes on
    writing there. A fresh heartbeat is refused outright unless its process is known to be
    gone (same host, no such pid): no flag overrides a bot that is alive. A stale one whose
    process may still exist (a stuck bot, another host, a reused pid) is refused unless the
    operator says the bot is stopped (``bot_stopped``).
    """
    if beat is None or process_alive is False:
        return None
    where = f"pid {beat.pid} on {beat.host}"
    silent = _age(now, beat.beat_at)
    if silent <= beat_limit_s(beat):
        return (
            f"the bot is running ({where}, last heartbeat {_duration(silent)} ago): stop it"
            " first (systemctl stop chaski), then restore; a running bot would keep writing"
            " to the file moved aside"
        )
    if bot_stopped:
        return None
    state = "still exists" if process_alive else "ran on another host"
    return (
        f"the bot's last heartbeat is {_duration(silent)} old but {where} {state}: make sure"
        " the bot is stopped (systemctl status chaski), then repeat with --bot-stopped"
    )
