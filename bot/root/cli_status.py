"""``chaski status [--json]``: one look at a whole installation, fit for a monitoring probe.

Read-only by construction: it never opens the wiring (which would create keys, a database
and run migrations); ``storage.health`` reads the file without leaving anything behind.
Exit codes are the probe's verdict (``bot.domain.health.Level``): 0 ok, 1 warning, 2
critical. The first line of the text output is the verdict too, for probes that show one
line.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sqlite3
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.health import Check, HealthFacts, Heartbeat, Level, evaluate, overall
from bot.root.cli_output import out
from bot.version import installed_version

if TYPE_CHECKING:
    from bot.root.cli import Commands


def process_alive(beat: Heartbeat | None) -> bool | None:
    """Whether the heartbeat's process exists, when it ran on this host (signal 0 only)."""
    if beat is None or beat.host != socket.gethostname():
        return None
    try:
        os.kill(beat.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user
        return True
    return True


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment else None


def _report(checks: list[Check], version: str, *, as_json: bool, extra: dict[str, object]) -> int:
    level = overall(checks)
    if as_json:
        document = {
            "status": level.label,
            "exit_code": int(level),
            "version": version,
            "checks": [
                {"name": c.name, "level": c.level.label, "summary": c.summary} for c in checks
            ],
            **extra,
        }
        out(json.dumps(document, ensure_ascii=False, separators=(", ", ": ")))
        return int(level)
    failing = [c.name for c in checks if c.level > Level.OK]
    out(f"{level.name}: Chaski {version}" + (f" ({', '.join(failing)})" if failing else ""))
    width = max(len(c.name) for c in checks)
    for check in checks:
        out(f"{check.level.name:<8}  {check.name:<{width}}  {check.summary}")
    return int(level)


def _facts_json(facts: HealthFacts) -> dict[str, object]:
    beat = facts.heartbeat
    box = facts.outbox
    return {
        "bot": None
        if beat is None
        else {
            "pid": beat.pid,
            "host": beat.host,
            "version": beat.version,
            "started_at": _iso(beat.started_at),
            "beat_at": _iso(beat.beat_at),
            "polled_at": _iso(beat.polled_at),
            "process_alive": facts.process_alive,
        },
        "database": {
            "path": facts.database,
            "integrity": facts.integrity,
            "schema_version": facts.schema_version,
            "code_schema_version": facts.code_schema_version,
        },
        "outbox": {
            "due": box.due,
            "oldest_due_s": None
            if box.oldest_due_at is None
            else max(0, int((facts.now - box.oldest_due_at).total_seconds())),
            "scheduled": box.scheduled,
            "retrying": box.retrying,
            "sending": box.sending,
            "dead": box.dead,
        },
        "members": {"total": facts.members, "linked": facts.linked, "blocked": facts.blocked},
        "claims": facts.claims,
        "sealed_values": facts.sealed_values,
        "pending_approvals": facts.pending_approvals,
        "active_key": facts.active_key,
    }


async def _status(args: argparse.Namespace, settings: Settings) -> int:
    from storage.health import probe  # noqa: PLC0415 - keeps `chaski --help` light

    version = installed_version()
    path = settings.database_path
    unreadable: str | None = None
    try:
        present = path.is_file()
    except OSError as exc:  # a folder this user may not enter
        present = False
        unreadable = (
            f"{path} cannot be reached ({exc.strerror or type(exc).__name__}); run status as"
            " the service user (sudo chaski-admin status)"
        )
    if unreadable is None and not present:
        unreadable = (
            f"{path} does not exist (check CHASKI_DB or the configuration file);"
            " nothing was created"
        )
    elif present:
        now = datetime.now(UTC)
        try:
            found = probe(path, settings.key_dir, now)
        except sqlite3.DatabaseError as exc:
            unreadable = f"{path} cannot be read as a Chaski database ({exc})"
    if unreadable is not None:  # one line: there is nothing else to say
        if not args.json:
            out(f"CRITICAL: database {unreadable}")
            return int(Level.CRITICAL)
        checks = [Check("database", Level.CRITICAL, unreadable)]
        return _report(checks, version, as_json=True, extra={})
    facts = HealthFacts(
        now=now,
        database=str(path),
        integrity=found.integrity,
        schema_version=found.schema_version,
        code_schema_version=found.code_schema_version,
        heartbeat=found.heartbeat,
        process_alive=process_alive(found.heartbeat),
        host=socket.gethostname(),
        outbox=found.outbox,
        members=found.members,
        linked=found.linked,
        blocked=found.blocked,
        claims=found.claims,
        sealed_values=found.sealed_values,
        pending_approvals=found.pending_approvals,
        oldest_pending_at=found.oldest_pending_at,
        keys_problem=found.keys_problem,
        active_key=found.active_key,
        installed_version=version,
    )
    code = _report(evaluate(facts), version, as_json=args.json, extra=_facts_json(facts))
    if not args.json:
        out(
            f"Counts for the restore drill: {facts.members} member(s), {facts.claims}"
            f" claim(s), {facts.sealed_values} sealed value(s)."
        )
    return code


def add_status(commands: Commands) -> None:
    """Register ``chaski status``."""
    status = commands.add_parser(
        "status",
        help="is the bot running and polling, is anything stuck (exit 0 ok, 1 warning,"
        " 2 critical)",
        description="Check the bot (running, polling Telegram), the database (quick_check,"
        " schema), the keys, the outbox (due rows vs rows scheduled ahead on purpose,"
        " dead letters), alerts waiting for approval and members who blocked the bot;"
        " print the counts the restore drill compares. Read-only: creates and changes"
        " nothing. Exit code 0 ok, 1 warning, 2 critical.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_status)
