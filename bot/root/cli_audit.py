"""``chaski audit verify|list`` and ``chaski keys rotate-audit`` (issue #16.5, M-16).

The audit chain is keyed with ``audit.keys`` in CHASKI_KEY_DIR (``storage.audit``). ``verify``
names the first entry that can no longer be trusted and exits 1 when there is one, so a
monitoring probe can run it; it also prints the chain's head (newest id and hash) for an
outside record, the one thing that shows newest entries cut off.
"""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.errors import NotFound
from bot.root.cli_output import CliError, cell, err, out, table, to_json, wired

if TYPE_CHECKING:
    from bot.domain.audit import AuditEntry
    from bot.root.cli import Commands


def _since(text: str) -> datetime:
    """``--since`` value: a date (YYYY-MM-DD, from midnight UTC) or an ISO date and time."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            "must be a date YYYY-MM-DD or a date and time such as 2026-03-02T12:00+00:00"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _positive(text: str) -> int:
    """``--limit`` value: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError("must be a whole number of at least 1")
    return value


async def _verify(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        check = await wiring.services.audit_admin.verify()
    first = check.first_broken
    if args.json:
        out(
            to_json(
                {
                    "entries": check.entries,
                    "intact": first is None,
                    "first_broken": None
                    if first is None
                    else {"id": first.id, "reason": first.reason},
                    "broken": [entry.id for entry in check.broken],
                    "head": {"id": check.head_id, "hash": check.head_hash},
                }
            )
        )
        return 0 if first is None else 1
    if first is None:
        out(f"The audit chain is intact: {check.entries} entries, keyed.")
    else:
        out(f"Audit entry {first.id} is the first broken one: {first.reason}.")
        out(f"{len(check.broken)} broken entr{'y' if len(check.broken) == 1 else 'ies'}:")
        out(", ".join(str(entry.id) for entry in check.broken))
    if check.head_id is not None:
        out(f"Head: entry {check.head_id}, hash {check.head_hash}")
    return 0 if first is None else 1


def _entry_json(entry: AuditEntry, codenames: dict[int, str]) -> dict[str, object]:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(timespec="seconds"),
        "actor": codenames.get(entry.actor_id) if entry.actor_id is not None else None,
        "actor_id": entry.actor_id,
        "role": entry.actor_role,
        "action": entry.action,
        "target": entry.target,
        "result": entry.result,
    }


async def _list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        try:
            listing = await wiring.services.audit_admin.listing(
                since=args.since, actor=args.actor, action=args.action, limit=args.limit
            )
        except NotFound:
            raise CliError("no member with that codename (see chaski members list)") from None
    rows = [_entry_json(entry, listing.codenames) for entry in listing.entries]
    if args.json:
        out(to_json(rows))
        return 0
    if not rows:
        out("No audit entries match.")
        return 0
    table(
        ("ID", "AT", "ACTOR", "ROLE", "ACTION", "TARGET", "RESULT"),
        [
            (
                str(row["id"]),
                str(row["at"]),
                cell(str(row["actor"] or row["actor_id"] or "-")),
                str(row["role"] or "-"),
                str(row["action"]),
                str(row["target"] or "-"),
                str(row["result"]),
            )
            for row in rows
        ],
    )
    return 0


async def _rotate_audit(args: argparse.Namespace, settings: Settings) -> int:
    from storage.keys import rotate_audit_keys  # noqa: PLC0415

    async with wired(settings) as wiring:
        key_id = rotate_audit_keys(settings.key_dir)
        await wiring.services.audit_admin.key_rotated(key_id)
    out(
        to_json({"new_audit_key": key_id})
        if args.json
        else f"New audit key {key_id} is active; older keys stay to verify older entries."
    )
    err(f"update the offline copy of {settings.key_dir / 'audit.keys'} now")
    return 0


def add_rotate_audit(actions: Commands) -> None:
    """Register ``chaski keys rotate-audit`` in the ``keys`` group."""
    rotate = actions.add_parser(
        "rotate-audit",
        help="new audit-chain key; older entries stay verifiable",
        description="Add a new key to audit.keys in CHASKI_KEY_DIR and make it active; the"
        " rotation itself is the first entry under it. Older keys stay (verifying an entry"
        " needs the key that made it); once an entry under the new key exists, an old key"
        " that leaked cannot rewrite anything before it. The running bot picks the new key"
        " up by itself.",
    )
    rotate.add_argument("--json", action="store_true", help="print one JSON object")
    rotate.set_defaults(handler=_rotate_audit)


def add_audit(commands: Commands) -> None:
    """Register ``chaski audit verify`` and ``chaski audit list``."""
    group = commands.add_parser(
        "audit",
        help="check and read the keyed audit log",
        description="Who did what, when, and every refusal: ids and outcomes, never message"
        " content. Each entry's hash is an HMAC under audit.keys in CHASKI_KEY_DIR, chained"
        " to the entry before it.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    verify = actions.add_parser(
        "verify",
        help="check the chain; name the first broken entry (exit 1)",
        description="Check every entry's link and keyed hash. Names the first entry that"
        " was changed, deleted after or forged (also a chain recomputed without the key),"
        " lists every broken one and exits 1; prints the head (newest id and hash): note"
        " it outside the server, since cutting off the newest entries leaves an intact"
        " chain.",
    )
    verify.add_argument("--json", action="store_true", help="print one JSON object")
    verify.set_defaults(handler=_verify)
    listing = actions.add_parser(
        "list",
        help="list entries, oldest first",
        description="List audit entries: id, time (UTC), actor's codename, role, action,"
        " target (an internal id such as claim:7) and result.",
    )
    listing.add_argument(
        "--since", type=_since, metavar="WHEN", help="from this date (YYYY-MM-DD) or time on"
    )
    listing.add_argument("--actor", metavar="CODENAME", help="only this member's actions")
    listing.add_argument("--action", metavar="NAME", help="only this action, e.g. claim_update")
    listing.add_argument(
        "--limit", type=_positive, metavar="N", help="only the newest N entries (default: all)"
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_list)
