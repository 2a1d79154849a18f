"""Administrators see the regions in the chat (issue #16.3): ``/miembros`` → *Regiones* lists
every region with how many members belong to it, through the service and the authorization
check of the other ``/miembros`` buttons (M-04): a coordinator's forged press is refused
and audited (T-11). Real application, fake Bot API, real SQLite file.
"""

from __future__ import annotations

from tests.conftest import seed_region
from tests.handlers.test_members_admin import ADMIN, EXPIRED, JEFE, World
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture

TITLE = "Regiones y cuántos miembros tiene cada una (sin los desvinculados):"


async def test_regions_are_listed_with_how_many_members_belong_to_each(world: World) -> None:
    await seed_region(world.bot.services, "Llochegua")
    await world.bot.services.registrations.set_regions("Jefe", ["Pichari", "Llochegua"])
    await world.bot.services.registrations.unlink("Puma")  # unlinked: not counted
    await world.say(ADMIN, "/miembros")
    listing = await world.press(ADMIN, world.buttons(ADMIN)["Regiones"])
    # Jefe, Condor, Vicuna and Nuevo (invite not redeemed yet) in Pichari; Jefe in both.
    assert sorted(listing.splitlines()) == sorted(
        [TITLE, "<b>Pichari</b> · 4", "<b>Llochegua</b> · 1"]
    )


async def test_a_coordinators_region_list_press_is_refused_and_audited(world: World) -> None:
    assert await world.press(JEFE, "madm:regs") == EXPIRED
    assert world.audit("manage_members") == [("coordinator", "manage_members", None, "denied")]
