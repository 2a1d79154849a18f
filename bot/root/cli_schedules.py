"""``chaski schedules list|pause|resume|cancel [--json]``: the operator's view of schedules.

The same service methods as the coordinators' ``/programados`` in chat, run as the operator
on the server (no member, no PIN: like every ``chaski`` command, whoever runs it holds the
keys). A change takes effect at the running bot's next schedules tick (30 s at most).
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.errors import NotFound
from bot.domain.schedules import Schedule
from bot.root.cli_output import cell, out, table, to_json, wired

if TYPE_CHECKING:
    from bot.root.cli import Commands


def _row(schedule: Schedule) -> dict[str, object]:
    """What a script needs of a schedule: never its parameters (sealed texts, M-07)."""
    return {
        "id": schedule.id,
        "kind": str(schedule.kind),
        "target_kind": str(schedule.target_kind),
        "target": schedule.target,
        "rule": schedule.cron,
        "run_at": schedule.run_at.isoformat() if schedule.run_at else None,
        "window_s": int(schedule.window.total_seconds()) if schedule.window else None,
        "state": str(schedule.state),
        "next_due": schedule.next_due.isoformat() if schedule.next_due else None,
    }


def _table(rows: Sequence[dict[str, object]]) -> None:
    table(
        ("ID", "KIND", "TARGET", "RULE", "STATE", "NEXT (UTC)"),
        [
            (
                str(r["id"]),
                str(r["kind"]),
                cell(f"{r['target_kind']}:{r['target']}"),
                str(r["rule"] or r["run_at"]),
                str(r["state"]),
                str(r["next_due"] or "-"),
            )
            for r in rows
        ],
    )


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        rows = [_row(s) for s in await wiring.services.schedules.list_for(None)]
    if args.json:
        out(to_json(rows))
    elif not rows:
        out("Nothing is scheduled.")
    else:
        _table(rows)
    return 0


async def _change(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        service = wiring.services.schedules
        action = {"pause": service.pause, "resume": service.resume, "cancel": service.cancel}
        try:
            await action[args.action](None, args.id)
        except NotFound:
            raise NotFound(
                f"no schedule {args.id} to {args.action} (see chaski schedules list);"
                " nothing was changed"
            ) from None
        changed = await service.get(None, args.id)
    if args.json:
        out(to_json(_row(changed)))
    else:
        out(f"Schedule {changed.id} is now {changed.state}.")
    return 0


def add_schedules(commands: Commands) -> None:
    """Register ``chaski schedules``."""
    group = commands.add_parser(
        "schedules",
        help="reminders, check-ins and digests the bot sends by itself",
        description="Schedules are stored in the database and fired by the running bot"
        " (docs/operations.md, Schedules). Unknown or already cancelled schedules exit 2.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="active and paused schedules",
        description="List active and paused schedules with their rule and next time (UTC).",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_list)
    for name, text in (
        ("pause", "skip occurrences until resumed (they are not caught up)"),
        ("resume", "fire again from the next occurrence after now"),
        ("cancel", "stop for good (messages already queued still go)"),
    ):
        parser = actions.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument("id", type=int, metavar="ID", help="the schedule's number")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(handler=_change)
