"""The ``chaski`` command line: run the bot and administer the programme.

A composition root like ``bot.root.app``: it may wire storage. Errors an operator can fix are one
line on stderr naming what is wrong and exit code 2, never a traceback; nothing is changed
when a command fails. Results go to stdout (``--json`` for scripts), warnings to stderr.

Adding a command group (``outbox``, ``keys``, ``backup`` …): write ``_add_<group>(commands)``
that adds the group's parser and its actions, each with ``set_defaults(handler=...)``, and
append it to ``_GROUPS``. A handler is ``async (args, settings) -> exit code``; it checks its
arguments first (so a typo creates no database), then uses ``async with wired(settings)``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from bot.config import BOT_USERNAME, CONFIG_VARIABLE, ConfigError, Settings
from bot.domain.errors import DomainError, NotFound, Unavailable
from bot.domain.models import Lang, Member, Role
from bot.domain.registrations import MemberFilter
from bot.i18n import Catalogs
from bot.root.cli_audit import add_audit, add_rotate_audit
from bot.root.cli_members import (
    add_invite_actions,
    add_member_actions,
    add_member_filters,
    add_region_actions,
    member_filter,
)
from bot.root.cli_operations import add_operations
from bot.root.cli_output import CliError, cell, err, iso, out, table, to_json, wired
from bot.root.cli_report import add_claims_export, add_report
from bot.root.cli_schedules import add_schedules
from bot.root.cli_status import add_status
from bot.root.logging_setup import configure_logging as configure_logging  # noqa: PLC0414 - re-export (bench)
from bot.services.claims_import import (
    IMPORT_STATUSES,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    ImportRejected,
    LineError,
)
from bot.services.claims_import import MAX_BYTES as CLAIMS_MAX_BYTES
from bot.services.invite_batch import MAX_BATCH, BatchRejected
from bot.services.invite_batch import MAX_BYTES as CODENAMES_MAX_BYTES
from bot.services.invites import MAX_TTL_HOURS
from storage.database import DatabaseFileError, check_owner
from storage.keys import KeyFileError

if TYPE_CHECKING:
    pass

_LOGGER = logging.getLogger("chaski")

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]

ONCE_WARNING = (
    "warning: invite codes are shown only this once and are stored only as a keyed hash;"
    " hand each one over privately, and create a new invite if one is lost"
)


class _Parser(argparse.ArgumentParser):
    """``argparse`` with one-line errors in the house format (``chaski: …``, exit 2)."""

    def error(self, message: str) -> NoReturn:
        """Print one line instead of usage plus error, then exit 2 like argparse does."""
        sys.stderr.write(f"chaski: {message} (see: {self.prog} --help)\n")
        raise SystemExit(2)


#: What ``add_subparsers`` returns (generic only for type checkers, hence the string).
Commands: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _read_input(path: Path, limit: int) -> bytes:
    """Read at most ``limit + 1`` bytes (the service refuses anything over ``limit``).

    Raises:
        CliError: the file is missing, unreadable or empty.
    """
    try:
        with path.open("rb") as handle:
            data = handle.read(limit + 1)
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"{path}: is a folder, not a file") from None
    except OSError as exc:
        raise CliError(f"{path}: cannot be read ({exc.strerror or type(exc).__name__})") from None
    if not data.strip():
        raise CliError(f"{path}: the file is empty; nothing was changed")
    return data


def _report_lines(errors: Sequence[LineError]) -> None:
    """Every refused line as ``line N: reason`` (``file: reason`` for the whole file)."""
    for error in errors:
        where = f"line {error.line}" if error.line > 0 else "file"
        if error.cell is not None:
            where += f", cell {error.cell}"
        sys.stderr.write(f"{where}: {error.reason}\n")


# --- run, migrate ---------------------------------------------------------------------------


async def _migrate(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings, create=True, reuse_keys=args.new_database):
        pass
    out(
        to_json({"database": str(settings.database_path), "up_to_date": True})
        if args.json
        else f"Database {settings.database_path} is up to date."
    )
    return 0


def _add_run(commands: Commands) -> None:
    commands.add_parser(
        "run",
        help="run the bot (long polling; needs TELEGRAM_BOT_TOKEN); the default command",
        description="Run the bot until stopped (Ctrl+C or SIGTERM). Needs TELEGRAM_BOT_TOKEN.",
    )


def _add_migrate(commands: Commands) -> None:
    migrate = commands.add_parser(
        "migrate",
        help="create or upgrade the database and exit",
        description="Create the database if absent (new keys only with a new database and an"
        " empty key folder), apply pending migrations, check the keys fit it, exit. The only"
        " command that creates a database.",
    )
    migrate.add_argument(
        "--new-database",
        action="store_true",
        help="make a new, empty database although the key folder already holds keys (made"
        " with an earlier database); without it that is refused as a wrong CHASKI_DB",
    )
    migrate.add_argument("--json", action="store_true", help="print one JSON object")
    migrate.set_defaults(handler=_migrate)


# --- region ---------------------------------------------------------------------------------


async def _region_add(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        region = await wiring.services.invites.add_region(args.name)
    out(
        to_json({"id": region.id, "name": region.name})
        if args.json
        else f"Region {region.name} created."
    )
    return 0


async def _region_list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        regions = await wiring.services.directory.list_regions()
    if args.json:
        out(to_json([{"id": region.id, "name": region.name} for region in regions]))
    elif not regions:
        out("No regions yet; create one with: chaski region add NAME")
    else:
        table(("ID", "NAME"), [(str(region.id), cell(region.name)) for region in regions])
    return 0


def _add_region(commands: Commands) -> None:
    group = commands.add_parser(
        "region",
        help="create, list, rename and remove regions",
        description="Regions scope coordinators.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add",
        help="create a region",
        description="Create a region. A name is one line of at most 64 characters, letters"
        " of one script, no hidden characters; Ayacucho and AYACUCHO are the same region.",
    )
    add.add_argument("name", metavar="NAME", help="the region's name, e.g. Ayacucho")
    add.add_argument("--json", action="store_true", help="print one JSON object")
    add.set_defaults(handler=_region_add)
    listing = actions.add_parser("list", help="list regions", description="List every region.")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_region_list)
    add_region_actions(actions)


# --- invite ---------------------------------------------------------------------------------


def _username(text: str) -> str:
    """``--bot-username`` value: the bot's username, a leading "@" allowed."""
    name = text.strip().removeprefix("@")
    if not BOT_USERNAME.fullmatch(name):
        raise argparse.ArgumentTypeError(
            "must be the bot's username such as chaski_bot"
            " (4-32 characters: a letter, then letters, digits or underscores)"
        )
    return name


def _link(username: str | None, code: str) -> str | None:
    """Telegram deep link that starts the bot with the code (None without a username)."""
    return f"https://t.me/{username}?start={code}" if username else None


def _add_invite_options(parser: argparse.ArgumentParser) -> None:
    """Options shared by ``invite create`` and ``invite create-batch``."""
    parser.add_argument(
        "--role", required=True, choices=[str(role) for role in Role], help="the member's role"
    )
    parser.add_argument(
        "--region",
        required=True,
        action="append",
        metavar="NAME",
        help="an existing region (chaski region list); repeat it for a coordinator or"
        " administrator of several regions (an informant has exactly one)",
    )
    parser.add_argument(
        "--language",
        choices=[str(lang) for lang in Lang],
        help="preset the member's language (the bot then does not ask); without it the bot"
        " asks them on first contact",
    )
    parser.add_argument(
        "--ttl-hours",
        type=int,
        default=MAX_TTL_HOURS,
        metavar="N",
        help=f"hours until the code expires, 1-{MAX_TTL_HOURS} (default {MAX_TTL_HOURS})",
    )
    parser.add_argument(
        "--bot-username",
        type=_username,
        metavar="NAME",
        help="the bot's username, to print a t.me deep link (default: CHASKI_BOT_USERNAME)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _quechua_note(args: argparse.Namespace, settings: Settings) -> None:
    """For ``--language qu``: say what the member will see under the Quechua release gate."""
    if args.language == Lang.QU.value:
        err(Catalogs.load(drafts=settings.quechua_drafts).quechua.describe())


async def _invite_create(args: argparse.Namespace, settings: Settings) -> int:
    username = args.bot_username or settings.bot_username
    async with wired(settings) as wiring:
        issued = await wiring.services.invites.create(
            role=Role(args.role),
            region=args.region,
            codename=args.codename,
            lang=Lang(args.language) if args.language else None,
            ttl_hours=args.ttl_hours,
        )
        tz = wiring.services.clock.tz
    link = _link(username, issued.code)
    err(ONCE_WARNING)
    _quechua_note(args, settings)
    if args.json:
        out(to_json({"code": issued.code, "link": link, "expires_at": iso(issued.expires_at)}))
        return 0
    local = issued.expires_at.astimezone(tz).isoformat(sep=" ", timespec="minutes")
    if issued.reenrolled:
        out(
            f"New invite for the existing {args.role} in {', '.join(args.region)};"
            " any older unused code no longer works."
        )
    else:
        out(f"Invite created for a new {args.role} in {', '.join(args.region)}.")
    out(f"Code:    {issued.code}")
    out(f"Link:    {link or '(unknown: pass --bot-username or set CHASKI_BOT_USERNAME)'}")
    out(f"Expires: {local} ({tz.key})")
    return 0


async def _invite_batch(args: argparse.Namespace, settings: Settings) -> int:
    username = args.bot_username or settings.bot_username
    data = _read_input(Path(args.codenames), CODENAMES_MAX_BYTES)
    async with wired(settings) as wiring:
        try:
            created = await wiring.services.invite_batch.create_from_file(
                data,
                role=Role(args.role),
                region=args.region,
                lang=Lang(args.language) if args.language else None,
                ttl_hours=args.ttl_hours,
            )
        except BatchRejected as exc:
            _report_lines(exc.errors)
            err(f"no invite created: {len(exc.errors)} bad line(s) in {args.codenames}")
            return 2
    err(ONCE_WARNING)
    _quechua_note(args, settings)
    for item in created:
        link = _link(username, item.invite.code)
        expires = iso(item.invite.expires_at)
        if args.json:
            out(
                to_json(
                    {
                        "codename": item.codename,
                        "code": item.invite.code,
                        "link": link,
                        "expires_at": expires,
                    }
                )
            )
        else:
            out(f"{cell(item.codename)}\t{item.invite.code}\t{expires}\t{link or '-'}")
    err(f"{len(created)} invite(s) created.")
    return 0


def _add_invite(commands: Commands) -> None:
    group = commands.add_parser(
        "invite",
        help="create, list and revoke one-time invites",
        description="Registration is by invitation only: each invite creates a member under a"
        " codename and a one-time code that links their Telegram account.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    create = actions.add_parser(
        "create",
        help="create one invite and print its code (shown only once)",
        description="Create a member under CODENAME and print the one-time code, its t.me"
        " link when the bot's username is known, and when it expires. A CODENAME whose"
        " member has no linked account (the invite was lost, or the member was unlinked)"
        " gets a new code instead, with the same role: the old code stops working.",
    )
    _add_invite_options(create)
    create.add_argument(
        "--codename", required=True, metavar="NAME", help="the member's unique codename"
    )
    create.set_defaults(handler=_invite_create)
    batch = actions.add_parser(
        "create-batch",
        help="create one invite per codename of a file, all or none",
        description="Create one invite per line of FILE (UTF-8, one codename per line, blank"
        f" lines skipped, at most {MAX_BATCH}). Every line is checked first; if any is bad,"
        " each is reported and no invite is created. Output: one line per invite,"
        " codename TAB code TAB expires_at TAB link (- when unknown), or with --json one"
        " JSON object per line.",
    )
    _add_invite_options(batch)
    batch.add_argument(
        "--codenames", required=True, metavar="FILE", help="text file, one codename per line"
    )
    batch.set_defaults(handler=_invite_batch)
    add_invite_actions(actions)


# --- claims ---------------------------------------------------------------------------------


def _import_progress(verb: str) -> Callable[[int, int], None]:
    """Tell the operator on stderr how far a long import has come (every 1000 rows)."""

    def report(done: int, total: int) -> None:
        sys.stderr.write(f"chaski: {done} of {total} rows {verb}…\n")
        sys.stderr.flush()

    return report


async def _claims_import(args: argparse.Namespace, settings: Settings) -> int:
    data = _read_input(Path(args.file), CLAIMS_MAX_BYTES)
    if args.check and not settings.database_path.is_file():
        raise CliError(f"{settings.database_path}: no database to check against (check CHASKI_DB)")
    async with wired(settings) as wiring:
        try:
            result = await wiring.services.claims_import.import_file(
                data,
                check=args.check,
                allow_reassign=args.allow_reassign,
                progress=_import_progress("checked" if args.check else "written"),
            )
        except ImportRejected as exc:
            _report_lines(exc.errors)
            err(f"nothing imported: {len(exc.errors)} bad line(s) in {args.file}")
            return 2
    counts = f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged."
    if args.json:
        out(
            to_json(
                {
                    "written": not args.check,
                    "created": result.created,
                    "updated": result.updated,
                    "unchanged": result.unchanged,
                }
            )
        )
    elif args.check:
        out(f"Check passed, nothing was written; importing would give: {counts}")
    else:
        out(f"Imported: {counts}")
    return 0


def _add_claims(commands: Commands) -> None:
    group = commands.add_parser(
        "claims",
        help="import and export reward claims",
        description="Reward claims from and to spreadsheets.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    imports = actions.add_parser(
        "import",
        help="import claims from a CSV file, all or nothing",
        description="Create or update claims by reference from a UTF-8 CSV file (comma- or"
        " semicolon-separated) with the columns " + ", ".join(REQUIRED_COLUMNS) + ", and"
        " optionally " + ", ".join(OPTIONAL_COLUMNS) + " (header names in any case)."
        " Amounts in soles as Peru writes them (1500, 1500.50, 1,500.50, S/ 1,500.50; never a"
        " comma before the céntimos), dates DD/MM/YYYY or YYYY-MM-DD, status one of "
        + ", ".join(sorted(IMPORT_STATUSES))
        + " (partially_paid needs paid_amount, which is stored as one imported payment). Blank"
        " rows are skipped. Every line is checked first; if any is bad,"
        " each is reported by line and cell, without its value, and nothing is imported."
        " Importing the same file again changes nothing.",
    )
    imports.add_argument("file", metavar="FILE.csv", help="the CSV file")
    imports.add_argument(
        "--check",
        action="store_true",
        help="check the file against the database and print what an import would do;"
        " writes nothing",
    )
    imports.add_argument(
        "--allow-reassign",
        action="store_true",
        help="let rows move an existing claim (same reference) to another informant;"
        " refused without it",
    )
    imports.add_argument("--json", action="store_true", help="print one JSON object")
    imports.set_defaults(handler=_claims_import)
    add_claims_export(actions)


# --- members --------------------------------------------------------------------------------


def _member_json(member: Member) -> dict[str, object]:
    return {
        "id": member.id,
        "role": str(member.role),
        "codename": member.codename,
        "language": str(member.lang),
        "regions": list(member.regions),
        "state": str(member.state),
        "linked": member.telegram_linked,
        "blocked": member.blocked,
        "last_seen": member.last_seen.isoformat() if member.last_seen else None,
    }


async def _members_list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        members = await wiring.services.registrations.find(member_filter(args))
    if args.json:
        out(to_json([_member_json(member) for member in members]))
        return 0
    if not members:
        filtered = member_filter(args) != MemberFilter()
        out(
            "No members match."
            if filtered
            else "No members yet; create one with: chaski invite create"
        )
        return 0
    table(
        ("ID", "ROLE", "CODENAME", "LANGUAGE", "REGIONS", "STATE", "LINKED", "BLOCKED", "SEEN"),
        [
            (
                str(member.id),
                str(member.role),
                cell(member.codename),
                str(member.lang),
                ", ".join(cell(region) for region in member.regions) or "-",
                str(member.state),
                "yes" if member.telegram_linked else "no",
                "yes" if member.blocked else "no",
                member.last_seen.isoformat() if member.last_seen else "-",
            )
            for member in members
        ],
    )
    return 0


async def _members_reset_pin(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        try:
            member = await wiring.services.pin.reset_by_operator(args.codename)
        except NotFound:
            raise CliError("no member with that codename (see chaski members list)") from None
    out(
        to_json({"id": member.id, "pin_cleared": True})
        if args.json
        else "PIN cleared (audited): the member creates a new one with /pin in the chat."
    )
    return 0


def _add_members(commands: Commands) -> None:
    group = commands.add_parser(
        "members",
        help="list and search, suspend, re-role, re-region, unlink members; reset a PIN",
        description="Members by codename (never Telegram IDs).",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser(
        "list",
        help="list members, or those matching the filters",
        description="List members: id, role, codename, language, regions, state, whether a"
        " Telegram account is linked, whether they blocked the bot, and the last day (UTC,"
        " no time) they used the bot. Telegram IDs stay encrypted and are never shown.",
    )
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    add_member_filters(listing)
    listing.set_defaults(handler=_members_list)
    reset = actions.add_parser(
        "reset-pin",
        help="clear a member's PIN and lock (e.g. a sole administrator locked out)",
        description="Clear the PIN, emergency PIN and lock of the member CODENAME (any"
        " case), like /pin_reset in the chat, for when nobody in the chat can: a sole"
        " administrator locked out of their PIN. Check first, outside the bot, that the"
        " request comes from that person. Audited.",
    )
    reset.add_argument("codename", metavar="CODENAME", help="the member's codename")
    reset.add_argument("--json", action="store_true", help="print one JSON object")
    reset.set_defaults(handler=_members_reset_pin)
    add_member_actions(actions)


# --- outbox ---------------------------------------------------------------------------------


async def _outbox_status(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        report = await wiring.services.outbox_admin.status()
    rows = sorted(
        (str(status), str(kind), count) for (status, kind), count in report.counts.items()
    )
    if args.json:
        out(
            to_json(
                {
                    "by_status": report.by_status(),
                    "by_status_kind": [
                        {"status": status, "kind": kind, "count": count}
                        for status, kind, count in rows
                    ],
                    "oldest_queued_age_s": report.oldest_waiting_age_s,
                }
            )
        )
        return 0
    if not rows:
        out("The outbox is empty.")
    else:
        table(("STATUS", "KIND", "COUNT"), [(s, k, str(c)) for s, k, c in rows])
    age = report.oldest_waiting_age_s
    out(f"Oldest queued row: {age} s old." if age is not None else "Nothing is queued.")
    return 0


async def _outbox_retry_dead(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        count = await wiring.services.outbox_admin.retry_dead()
        await wiring.services.audit_admin.operator("outbox_retry_dead", result=f"rows:{count}")
    out(to_json({"queued": count}) if args.json else f"{count} dead row(s) queued again.")
    return 0


def _add_outbox(commands: Commands) -> None:
    group = commands.add_parser(
        "outbox",
        help="queue health and dead letters",
        description="Proactive messages (alerts, notifications, scheduled deletions) wait"
        " in the outbox until the running bot sends them.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    status = actions.add_parser(
        "status",
        help="count rows by state and kind",
        description="Count outbox rows by state and kind, and show how long the oldest"
        " waiting row has waited (seconds). Dead rows failed for good; retry them with"
        " 'chaski outbox retry-dead'.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_outbox_status)
    retry = actions.add_parser(
        "retry-dead",
        help="queue dead rows again",
        description="Queue every dead row again with its attempts reset; the running bot"
        " sends them (rows past their expiry become expired instead).",
    )
    retry.add_argument("--json", action="store_true", help="print one JSON object")
    retry.set_defaults(handler=_outbox_retry_dead)


# --- keys, backup, restore, purge (M-07, M-15, R-11) -------------------------------------------


async def _keys_rotate(args: argparse.Namespace, settings: Settings) -> int:
    from storage.rotation import RotationError, retire, rotate  # noqa: PLC0415

    async with wired(settings) as wiring:
        try:
            report = await rotate(wiring.db, settings.key_dir)
            if not args.json:
                out(
                    f"New data key {report.new_key_id} is active; re-sealed {report.resealed}"
                    f" value(s) in {report.passes} pass(es)."
                )
                for key_id, count in sorted(report.usage.items()):
                    out(f"key {key_id}: {count} value(s)")
            err(f"update the offline copy of {settings.key_dir / 'data.keys'} now")
            retired = await retire(wiring.db, settings.key_dir) if args.retire_old else None
            await wiring.services.audit_admin.operator(
                "keys_rotate",
                result=f"retired:{len(retired)}" if retired is not None else "ok",
                target=f"key:{report.new_key_id}",
            )
        except RotationError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        doc = {
            "new_key": report.new_key_id,
            "resealed": report.resealed,
            "passes": report.passes,
            "usage": dict(sorted(report.usage.items())),
            "retired": list(retired) if retired is not None else None,
        }
        out(to_json(doc))
    elif retired is not None:
        out(f"Retired old key(s): {', '.join(retired)}." if retired else "No old keys.")
    return 0


async def _keys_retire(args: argparse.Namespace, settings: Settings) -> int:
    from storage.rotation import RotationError, retire  # noqa: PLC0415

    async with wired(settings) as wiring:
        try:
            retired = await retire(wiring.db, settings.key_dir)
        except RotationError as exc:
            raise CliError(str(exc)) from None
        await wiring.services.audit_admin.operator("keys_retire", result=f"retired:{len(retired)}")
    if args.json:
        out(to_json({"retired": list(retired)}))
    else:
        out(f"Retired old key(s): {', '.join(retired)}." if retired else "No old keys.")
    return 0


def _add_keys(commands: Commands) -> None:
    group = commands.add_parser(
        "keys",
        help="rotate and retire data keys; rotate the audit key",
        description="Field-encryption keys in CHASKI_KEY_DIR (docs/operations.md, key"
        " rotation runbook). Runs while the bot runs.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    rotate = actions.add_parser(
        "rotate",
        help="new data key; re-encrypt everything under it",
        description="Add a new data key, make it active and re-encrypt every sealed value"
        " under it in short batches. Old keys stay until retired (backups made before"
        " still need them).",
    )
    rotate.add_argument(
        "--retire-old",
        action="store_true",
        help="then remove old keys (refused while any value still uses one)",
    )
    rotate.add_argument("--json", action="store_true", help="print one JSON object")
    rotate.set_defaults(handler=_keys_rotate)
    retire = actions.add_parser(
        "retire",
        help="remove old keys no value uses any more",
        description="Remove every non-active data key from data.keys; refused while any"
        " sealed value still uses one. Backups made under a retired key become unreadable.",
    )
    retire.add_argument("--json", action="store_true", help="print one JSON object")
    retire.set_defaults(handler=_keys_retire)
    add_rotate_audit(actions)


def _same_file(target: Path, protected: Path) -> bool:
    """Whether ``target`` is ``protected``, through symlinks, ``..`` and hard links."""
    if target.resolve() == protected.resolve():
        return True
    try:
        return target.exists() and protected.exists() and target.samefile(protected)
    except OSError:
        return False


def _backup_preflight(target: Path, database: Path, key_dir: Path, *, force: bool) -> None:
    """Refuse before opening anything: no overwrite by accident, no empty database created.

    ``--force`` never overwrites the live database, its ``-wal``/``-shm`` or a key file,
    however the path is spelt (#11.7): that would destroy what the backup is meant to save.
    """
    for live in (database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))):
        if _same_file(target, live):
            raise CliError(
                f"{target} is the live database{'' if live == database else ' file ' + live.name};"
                " write the backup elsewhere, e.g. /var/backups/chaski/ (nothing was changed)"
            )
    if target.resolve().parent == key_dir.resolve():
        raise CliError(
            f"{target} is in the key folder {key_dir}; keep backups apart from the keys"
            " (nothing was changed)"
        )
    if target.exists() and not force:
        raise CliError(f"{target} already exists; choose a new name or pass --force")
    if not database.is_file():
        raise CliError(f"{database}: no database to back up (check CHASKI_DB)")


def _restore_preflight(source: Path, database: Path, *, bot_stopped: bool) -> None:
    """Refuse a missing backup, and any restore while the bot runs on ``database``."""
    if not source.is_file():
        raise CliError(f"{source}: no such file")
    if not database.is_file():
        return  # nothing in place (a drill into a scratch folder): no bot can use it
    from datetime import UTC  # noqa: PLC0415

    from bot.domain.health import restore_blocker  # noqa: PLC0415
    from bot.root.cli_status import process_alive  # noqa: PLC0415
    from storage.health import read_heartbeat  # noqa: PLC0415

    beat = read_heartbeat(database)
    blocker = restore_blocker(
        beat, datetime.now(UTC), process_alive(beat), bot_stopped=bot_stopped
    )
    if blocker is not None:
        raise CliError(f"{blocker} (nothing was changed)")


async def _backup(args: argparse.Namespace, settings: Settings) -> int:
    from storage.backup import BackupError, create_backup  # noqa: PLC0415

    target: Path = args.path
    _backup_preflight(target, settings.database_path, settings.key_dir, force=args.force)
    async with wired(settings) as wiring:
        try:
            info = await create_backup(wiring.db, target, settings.key_dir)
        except BackupError as exc:
            raise CliError(str(exc)) from None
        await wiring.services.audit_admin.operator("backup", target=f"key:{info.key_id}")
    out(
        to_json({"path": str(info.path), "bytes": info.size, "backup_key": info.key_id})
        if args.json
        else f"Backup written to {info.path} ({info.size} bytes, backup key {info.key_id})."
    )
    return 0


async def _restore(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import UTC  # noqa: PLC0415

    from storage.backup import BackupError, restore_backup  # noqa: PLC0415
    from storage.keys import load_keys  # noqa: PLC0415

    source: Path = args.path
    _restore_preflight(source, settings.database_path, bot_stopped=args.bot_stopped)
    check_owner(settings.database_path)
    keys = load_keys(settings.key_dir)  # never creates keys: a restore needs the real ones
    try:
        report = await restore_backup(
            source,
            settings.database_path,
            settings.key_dir,
            keys,
            now=datetime.now(UTC),
            force=args.force,
        )
    except BackupError as exc:
        raise CliError(str(exc)) from None
    async with wired(settings) as wiring:
        sealed = await wiring.services.audit_admin.restored()
    if args.json:
        doc = {
            "database": str(report.database),
            "members": report.members,
            "claims": report.claims,
            "sealed_values_checked": report.sealed_cells,
            "audit_sealed_now": bool(sealed),
            "moved_aside": str(report.moved_aside) if report.moved_aside is not None else None,
        }
        out(to_json(doc))
        return 0
    out(
        f"Restored {report.database}: {report.members} member(s), {report.claims} claim(s),"
        f" {report.sealed_cells} sealed value(s) checked; integrity ok."
    )
    if sealed:
        out("Its audit log was made before the audit key: sealed under it as of now.")
    if report.moved_aside is not None:
        out(f"The previous database was moved to {report.moved_aside}.")
    return 0


def _add_backup(commands: Commands) -> None:
    backup = commands.add_parser(
        "backup",
        help="write an encrypted backup of the database",
        description="Write an encrypted, consistent copy of the live database to PATH"
        " (mode 0600), safe while the bot runs. Encrypted with backup.key in CHASKI_KEY_DIR"
        " (created on first use: copy it to the offline key store); keys are never inside.",
    )
    backup.add_argument("path", type=Path, metavar="PATH", help="backup file to write")
    backup.add_argument("--force", action="store_true", help="overwrite PATH if it exists")
    backup.add_argument("--json", action="store_true", help="print one JSON object")
    backup.set_defaults(handler=_backup)
    restore = commands.add_parser(
        "restore",
        help="restore a backup into CHASKI_DB (stop the bot first)",
        description="Decrypt and check a backup (authentication, integrity_check, every"
        " sealed value opens with the keys in CHASKI_KEY_DIR), then put it in place as"
        " CHASKI_DB. Refused if CHASKI_DB exists unless --force, which moves the old file"
        " aside to <db>.before-restore-<time>. Refused while the bot runs on CHASKI_DB (its"
        " heartbeat is fresh and its process exists): stop it first.",
    )
    restore.add_argument("path", type=Path, metavar="PATH", help="backup file to restore")
    restore.add_argument(
        "--force", action="store_true", help="move an existing database aside and replace it"
    )
    restore.add_argument(
        "--bot-stopped",
        action="store_true",
        help="the bot is stopped although its stale heartbeat names a process that still"
        " exists or another host (never overrides a fresh heartbeat)",
    )
    restore.add_argument("--json", action="store_true", help="print one JSON object")
    restore.set_defaults(handler=_restore)


async def _purge(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        report = await wiring.services.retention.purge()
        await wiring.services.audit_admin.operator(
            "purge", result=f"rows:{sum(report.deleted.values())}"
        )
    rows = [(table, str(count)) for table, count in sorted(report.deleted.items()) if count]
    if args.json:
        deleted = {table: count for table, count in sorted(report.deleted.items()) if count}
        out(to_json({"deleted": deleted, "wal_truncated": report.wal_checkpointed}))
    elif rows:
        table(("TABLE", "DELETED"), rows)
    else:
        out("Nothing was past its retention.")
    if not report.wal_checkpointed:
        err("the WAL could not be truncated (a reader was busy); the next purge retries")
    return 0


def _add_purge(commands: Commands) -> None:
    purge = commands.add_parser(
        "purge",
        help="delete everything past its retention now",
        description="Apply the retention schedule (docs/operations.md): closed claims after"
        " 90 days, unlinked members without claims 90 days after the unlink, used or expired"
        " invites after 7, audit entries after a year, …; then"
        " truncate the WAL. Safe to repeat.",
    )
    purge.add_argument("--json", action="store_true", help="print one JSON object")
    purge.set_defaults(handler=_purge)


# --- parser and entry point -----------------------------------------------------------------

#: Every command group, in ``--help`` order; other groups are appended here.
_GROUPS: tuple[Callable[[Commands], None], ...] = (
    _add_run,
    _add_migrate,
    _add_region,
    _add_invite,
    _add_claims,
    add_operations,
    _add_members,
    _add_outbox,
    _add_keys,
    _add_backup,
    _add_purge,
    add_status,
    add_audit,
    add_report,
    add_schedules,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every command group (each command has ``--help``)."""
    parser = _Parser(
        prog="chaski",
        description="Chaski: reward-claim status and safety alerts on Telegram."
        " Without a command, runs the bot.",
        epilog="Settings come from the configuration file (--config or CHASKI_CONFIG) and"
        " the environment (CHASKI_DB, CHASKI_KEY_DIR, …), the environment winning;"
        " see the README.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help=f"read settings from FILE (NAME=value lines; default: ${CONFIG_VARIABLE}),"
        " e.g. /etc/chaski/chaski.env; give it before the command",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for register in _GROUPS:
        register(commands)
    return parser


def _describe(exc: Exception) -> str:
    """The one line shown for an expected failure (some domain errors carry no message)."""
    if isinstance(exc, Unavailable):
        return "the database is busy, read-only or the disk is full; nothing was changed"
    return str(exc) or type(exc).__name__


def _settings(config: Path | None, *, need_token: bool) -> Settings:
    """Settings from ``--config`` (else ``CHASKI_CONFIG``) and the environment."""
    from bot.config_file import load_settings  # noqa: PLC0415 - keeps `chaski --help` light

    named = os.environ.get(CONFIG_VARIABLE, "").strip()
    path = config if config is not None else Path(named) if named else None
    settings, notes = load_settings(os.environ, path, need_token=need_token)
    for note in notes:
        err(f"note: {note}")
    return settings


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``chaski`` and ``python -m bot``; returns the exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2, already reported)
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    command = args.command or "run"
    redactor = configure_logging(logging.INFO if command == "run" else logging.WARNING)
    try:
        settings = _settings(args.config, need_token=command == "run")
        redactor.add_secret(settings.bot_token or "")
        if command == "run":
            from bot.root.app import run  # noqa: PLC0415 - imports telegram only when running

            run(settings)
            return 0
        handler: Handler = args.handler
        return asyncio.run(handler(args, settings))
    except (ConfigError, KeyFileError, DatabaseFileError, CliError, DomainError) as exc:
        err(_describe(exc))
        return 2
