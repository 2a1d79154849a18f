"""``chaski schedules list|pause|resume|cancel [--json]``: the operator's view of schedules.

The same service methods as the coordinators' ``/programados`` in chat, run as the operator
on the server (no member, no PIN: like every ``chaski`` command, whoever runs it holds the
keys). A change takes effect at the running bot's next schedules tick (30 s at most).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.errors import NotFound
from bot.domain.schedules import Schedule

if TYPE_CHECKING:
    from bot.root.cli import Commands


def _write(line: str) -> None:
    sys.stdout.write(line + "\n")


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
    headers = ("ID", "KIND", "TARGET", "RULE", "STATE", "NEXT (UTC)")
    cells = [
        (
            str(r["id"]),
            str(r["kind"]),
            f"{r['target_kind']}:{r['target']}",
            str(r["rule"] or r["run_at"]),
            str(r["state"]),
            str(r["next_due"] or "-"),
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(headers)]
    for line in (headers, *cells):
        _write("  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip())


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    from bot.root.wiring import open_wiring  # noqa: PLC0415 - keeps `chaski --help` light

    wiring = await open_wiring(settings)
    try:
        rows = [_row(s) for s in await wiring.services.schedules.list_for(None)]
    finally:
        await wiring.close()
    if args.json:
        _write(json.dumps(rows, ensure_ascii=False, separators=(",", ":")))
    elif not rows:
        _write("Nothing is scheduled.")
    else:
        _table(rows)
    return 0


async def _change(args: argparse.Namespace, settings: Settings) -> int:
    from bot.root.wiring import open_wiring  # noqa: PLC0415 - keeps `chaski --help` light

    wiring = await open_wiring(settings)
    try:
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
    finally:
        await wiring.close()
    if args.json:
        _write(json.dumps(_row(changed), ensure_ascii=False, separators=(",", ":")))
    else:
        _write(f"Schedule {changed.id} is now {changed.state}.")
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
