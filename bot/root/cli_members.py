"""Administrators manage registrations from the server (issue #16.3).

``chaski members list`` filters, ``members suspend|reactivate|set-role|set-regions|unlink``,
``invite list|revoke`` and ``region rename|remove``; every command has ``--json`` and every
change is audited (``bot.services.registrations``). Registered into the existing groups of
``bot.root.cli`` so there is one ``members``, one ``invite`` and one ``region`` command.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.models import MemberState, Role
from bot.domain.registrations import MemberFilter
from bot.root.cli_output import cell, iso, out, table, to_json, wired

if TYPE_CHECKING:
    from bot.root.cli import Commands

#: ``--idle-days`` at most: ten years.
MAX_IDLE_DAYS = 3650


def add_member_filters(listing: argparse.ArgumentParser) -> None:
    """The filters of ``chaski members list``."""
    listing.add_argument(
        "--search", metavar="TEXT", help="codename contains TEXT (any case, accents optional)"
    )
    listing.add_argument("--role", choices=[str(role) for role in Role], help="only this role")
    listing.add_argument("--region", metavar="NAME", help="only members of this region")
    listing.add_argument(
        "--state", choices=[str(state) for state in MemberState], help="only this state"
    )
    listing.add_argument(
        "--registered", action="store_true", help="only members with a linked Telegram account"
    )
    listing.add_argument(
        "--not-redeemed",
        action="store_true",
        help="only members whose invite was not redeemed yet (active, no account linked)",
    )
    listing.add_argument("--blocked", action="store_true", help="only members who blocked the bot")
    listing.add_argument(
        "--idle-days",
        type=_days,
        metavar="N",
        help="only members who have not used the bot for N days or more (never: counted"
        " from the day they were enrolled)",
    )


def _days(text: str) -> int:
    """A whole number of days, 1 to ``MAX_IDLE_DAYS``."""
    try:
        days = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("a whole number of days") from None
    if not 1 <= days <= MAX_IDLE_DAYS:
        raise argparse.ArgumentTypeError(f"between 1 and {MAX_IDLE_DAYS} days")
    return days


def member_filter(args: argparse.Namespace) -> MemberFilter:
    """The filter the options of ``chaski members list`` ask for."""
    return MemberFilter(
        search=args.search,
        role=Role(args.role) if args.role else None,
        region=args.region,
        state=MemberState(args.state) if args.state else None,
        registered=args.registered,
        not_redeemed=args.not_redeemed,
        blocked=args.blocked,
        idle_days=args.idle_days,
    )


def _done(args: argparse.Namespace, text: str, doc: dict[str, object]) -> int:
    out(to_json(doc) if args.json else text)
    return 0


async def _suspend(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        member = await wiring.services.registrations.suspend(args.codename)
    return _done(
        args,
        "Suspended (audited): the member can do nothing in the bot until reactivated.",
        {"id": member.id, "state": str(MemberState.SUSPENDED)},
    )


async def _reactivate(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        member = await wiring.services.registrations.reactivate(args.codename)
    return _done(
        args,
        "Reactivated (audited).",
        {"id": member.id, "state": str(MemberState.ACTIVE)},
    )


async def _set_role(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        member = await wiring.services.registrations.set_role(args.codename, Role(args.role))
    return _done(
        args,
        f"Role changed from {member.role} to {args.role} (audited); it applies to the"
        " member's next action.",
        {"id": member.id, "role": args.role, "previous_role": str(member.role)},
    )


async def _set_regions(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        regions = await wiring.services.registrations.set_regions(args.codename, args.region)
        member = await wiring.services.registrations.member(args.codename)
    return _done(
        args,
        f"Regions set to {', '.join(cell(r) for r in regions)} (audited).",
        {"id": member.id, "regions": list(regions)},
    )


async def _unlink(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        member, report = await wiring.services.registrations.unlink(args.codename)
    return _done(
        args,
        "Unlinked (audited): the Telegram account is forgotten, the claims stay with the"
        f" codename; the running bot deletes {report.retrying} recorded message(s) in the"
        " chat. A new invite re-links: chaski invite create with the same codename and role.",
        {"id": member.id, "state": str(MemberState.UNLINKED), "deletions_queued": report.retrying},
    )


def add_member_actions(actions: Commands) -> None:
    """Register the registration changes in the ``members`` group."""
    for name, handler, help_text, description in (
        (
            "suspend",
            _suspend,
            "suspend a member (no bot access, no invite works)",
            "Suspend the member CODENAME (any case): every action in the bot is refused and"
            " no invite of theirs can be redeemed, until 'chaski members reactivate'. Audited.",
        ),
        (
            "reactivate",
            _reactivate,
            "undo a suspension",
            "Make a suspended member active again. An unlinked member needs a new invite"
            " instead (chaski invite create). Audited.",
        ),
        (
            "unlink",
            _unlink,
            "forget a lost or seized phone's account",
            "Unlink the member CODENAME's Telegram account, as /desvincular does in the"
            " chat: the link is shredded, the PIN cleared, the messages recorded in the chat"
            " are handed to the running bot to delete (within Telegram's 48 hours), the"
            " coordinators of the region are told. The claims stay with the codename; a new"
            " invite (chaski invite create, same codename and role) re-links. Audited.",
        ),
    ):
        parser = actions.add_parser(name, help=help_text, description=description)
        parser.add_argument("codename", metavar="CODENAME", help="the member's codename")
        parser.add_argument("--json", action="store_true", help="print one JSON object")
        parser.set_defaults(handler=handler)
    role = actions.add_parser(
        "set-role",
        help="change a member's role",
        description="Change the role of the member CODENAME (an informant must have exactly"
        " one region: set the regions first). Audited.",
    )
    role.add_argument("codename", metavar="CODENAME", help="the member's codename")
    role.add_argument("--role", required=True, choices=[str(r) for r in Role], help="the new role")
    role.add_argument("--json", action="store_true", help="print one JSON object")
    role.set_defaults(handler=_set_role)
    regions = actions.add_parser(
        "set-regions",
        help="replace a member's regions",
        description="Replace the regions of the member CODENAME with the --region options"
        " (existing regions; an informant has exactly one). Audited.",
    )
    regions.add_argument("codename", metavar="CODENAME", help="the member's codename")
    regions.add_argument(
        "--region", required=True, action="append", metavar="NAME", help="a region; repeat it"
    )
    regions.add_argument("--json", action="store_true", help="print one JSON object")
    regions.set_defaults(handler=_set_regions)


# --- invites --------------------------------------------------------------------------------


async def _invite_list(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        invites = await wiring.services.registrations.open_invites()
    if not args.all:
        invites = [invite for invite in invites if not invite.expired]
    docs = [
        {
            "member_id": invite.member_id,
            "codename": invite.codename,
            "role": str(invite.role),
            "regions": list(invite.regions),
            "created_at": iso(invite.created_at),
            "expires_at": iso(invite.expires_at),
            "expired": invite.expired,
        }
        for invite in invites
    ]
    if args.json:
        out(to_json(docs))
    elif not docs:
        out("No unused invites.")
    else:
        table(
            ("CODENAME", "ROLE", "REGIONS", "CREATED", "EXPIRES", "EXPIRED"),
            [
                (
                    cell(invite.codename),
                    str(invite.role),
                    ", ".join(cell(r) for r in invite.regions) or "-",
                    iso(invite.created_at),
                    iso(invite.expires_at),
                    "yes" if invite.expired else "no",
                )
                for invite in invites
            ],
        )
    return 0


async def _invite_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        count = await wiring.services.registrations.revoke_invites(args.codename)
    return _done(
        args,
        f"{count} unused invite(s) revoked (audited); the codes no longer work.",
        {"revoked": count},
    )


def add_invite_actions(actions: Commands) -> None:
    """Register ``invite list`` and ``invite revoke``."""
    listing = actions.add_parser(
        "list",
        help="list unused invites",
        description="List invites neither redeemed nor revoked: codename, role, regions,"
        " when made, when they expire (UTC). Codes are never shown: they are stored only as"
        " a keyed hash.",
    )
    listing.add_argument("--all", action="store_true", help="include expired invites")
    listing.add_argument("--json", action="store_true", help="print one JSON array")
    listing.set_defaults(handler=_invite_list)
    revoke = actions.add_parser(
        "revoke",
        help="revoke a member's unused invites",
        description="Make every unused invite of the member CODENAME stop working (the"
        " code was handed to the wrong person, or is no longer needed). Audited.",
    )
    revoke.add_argument("codename", metavar="CODENAME", help="the member's codename")
    revoke.add_argument("--json", action="store_true", help="print one JSON object")
    revoke.set_defaults(handler=_invite_revoke)


# --- regions --------------------------------------------------------------------------------


async def _region_rename(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        region = await wiring.services.registrations.rename_region(args.old, args.new)
    return _done(
        args,
        f"Region renamed to {cell(region.name)} (audited).",
        {"id": region.id, "name": region.name},
    )


async def _region_remove(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        await wiring.services.registrations.remove_region(args.name)
    return _done(args, "Region removed (audited).", {"removed": args.name})


def add_region_actions(actions: Commands) -> None:
    """Register ``region rename`` and ``region remove``."""
    rename = actions.add_parser(
        "rename",
        help="rename a region",
        description="Rename the region OLD to NEW (same rules as region add); its members,"
        " operations and claims follow. Audited.",
    )
    rename.add_argument("old", metavar="OLD", help="the region's current name")
    rename.add_argument("new", metavar="NEW", help="the new name")
    rename.add_argument("--json", action="store_true", help="print one JSON object")
    rename.set_defaults(handler=_region_rename)
    remove = actions.add_parser(
        "remove",
        help="remove an unused region",
        description="Remove the region NAME; refused while any member, operation or claim"
        " belongs to it. Audited.",
    )
    remove.add_argument("name", metavar="NAME", help="the region's name")
    remove.add_argument("--json", action="store_true", help="print one JSON object")
    remove.set_defaults(handler=_region_remove)
