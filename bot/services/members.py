"""Read-only listings of members and regions for the administration CLI.

The CLI runs on the server by someone who holds the database and its keys, so it needs no
``authorize()`` call; a chat command built on this must check ``Action.MANAGE_MEMBERS`` first.
Members come back as domain objects, which carry no Telegram ID (it stays sealed in storage),
so a listing built from them cannot leak one.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.models import Member, Region, Role
from bot.domain.ports import MemberRepository, UnitOfWork


@dataclass(frozen=True, slots=True)
class MemberDirectory:
    """Who is enrolled and which regions exist."""

    uow: UnitOfWork

    async def list_members(self) -> list[Member]:
        """Every member, ordered by id (linked or not, whatever the state)."""
        return await self.uow.members.list_all()

    async def list_regions(self) -> list[Region]:
        """Every region, ordered by name."""
        return await self.uow.regions.list_all()


async def region_helpers(members: MemberRepository, region: str | None) -> list[Member]:
    """Who is told when someone of ``region`` asks for help: its coordinators, or the active
    administrators when it has none, so a request never reaches nobody (alerts and check-ins).
    """
    found = await members.in_regions([region], [Role.COORDINATOR]) if region else []
    if found:
        return found
    return [m for m in await members.list_all() if m.role is Role.ADMIN and m.active]
