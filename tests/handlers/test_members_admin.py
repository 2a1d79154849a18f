"""Administrators manage registrations in the chat (issue #16.3), end to end.

Real application, fake Bot API, real SQLite file: ``/miembros`` lists and filters members
through the same service as ``chaski members``; an administrator suspends and reactivates a
member through the buttons, with a confirmation step (the member is refused meanwhile); a
coordinator gets "not available" for the command, and a forged member id or an old button of
a demoted administrator changes nothing and is audited (M-04, T-10, T-11, T-13).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import pytest

from bot.domain.models import MemberState, Role
from tests.conftest import RunningBot, seed_invite, seed_region, set_pin_in_chat, uow_of
from tests.fakes.world import World as SharedWorld

ANA, JEFE, ADMIN, OTRA = 901, 902, 903, 904
EXPIRED = "Este menú ya no está disponible. Escribe /menu."
NOT_AVAILABLE = "Este comando no está disponible. Escribe /menu."
STRANGER = "Este servicio no está disponible."


@dataclass(slots=True)
class World(SharedWorld):
    async def state(self, codename: str) -> MemberState:
        return (await self.bot.services.registrations.member(codename)).state

    async def member_id(self, codename: str) -> int:
        return (await self.bot.services.registrations.member(codename)).id


@pytest.fixture
async def world(running_bot: RunningBot, tmp_path: Path) -> World:
    services = running_bot.services
    await seed_region(services)
    codes = {
        ANA: await seed_invite(services, "Puma"),
        JEFE: await seed_invite(services, "Jefe", role=Role.COORDINATOR),
        ADMIN: await seed_invite(services, "Condor", role=Role.ADMIN),
        OTRA: await seed_invite(services, "Vicuna", role=Role.ADMIN),
    }
    await seed_invite(services, "Nuevo")  # enrolled, invite never redeemed
    for user, code in codes.items():
        await running_bot.register(user, code, "es")
    for user in (JEFE, ADMIN, OTRA):
        await set_pin_in_chat(running_bot, user)
    running_bot.fake.reset_calls()
    return World(running_bot, tmp_path / "db" / "chaski.sqlite3")


async def test_admin_suspends_then_reactivates_a_member_through_the_buttons(
    world: World,
) -> None:
    listing = await world.say(ADMIN, "/miembros")
    assert "<b>Puma</b> · Informante · Activo · Pichari" in listing
    assert "<b>Nuevo</b> · Informante · Invitación sin usar · Pichari" in listing
    assert "<b>Jefe</b> · Coordinador · Activo · Pichari" in listing
    puma = await world.member_id("Puma")
    buttons = world.buttons(ADMIN)
    assert buttons["Suspender a Puma"] == f"madm:ask:s:{puma}"
    assert "Suspender a Condor" not in buttons  # never oneself

    asked = await world.press(ADMIN, buttons["Suspender a Puma"])
    assert asked.startswith("¿Suspender a Puma?")
    assert await world.state("Puma") is MemberState.ACTIVE  # nothing before the confirmation
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Puma quedó suspendido (registrado en la auditoría)."
    assert await world.state("Puma") is MemberState.SUSPENDED
    assert await world.say(ANA, "/estado") == STRANGER

    suspended = await world.press(ADMIN, "madm:f:sus")
    assert "<b>Puma</b> · Informante · Suspendido · Pichari" in suspended
    assert "Jefe" not in suspended
    await world.press(ADMIN, world.buttons(ADMIN)["Reactivar a Puma"])
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Puma quedó reactivado (registrado en la auditoría)."
    assert await world.state("Puma") is MemberState.ACTIVE
    assert "Todavía no tienes trámites." in await world.say(ANA, "/estado")
    assert world.audit("member_suspend", "member_reactivate") == [
        ("admin", "member_suspend", f"member:{puma}", "ok"),
        ("admin", "member_reactivate", f"member:{puma}", "ok"),
    ]


async def test_search_filters_and_cancel_change_nothing(world: World) -> None:
    found = await world.say(ADMIN, "/miembros pum")
    assert "<b>Puma</b>" in found
    assert "Jefe" not in found
    fresh = await world.press(ADMIN, "madm:f:new")
    assert "<b>Nuevo</b>" in fresh
    assert "<b>Puma</b>" not in fresh
    assert (await world.press(ADMIN, "madm:f:blk")).startswith("Ningún miembro coincide.")
    await uow_of(world.bot.services).members.set_blocked(await world.member_id("Jefe"), True)
    blocked = await world.press(ADMIN, "madm:f:blk")
    assert "<b>Jefe</b> · Coordinador · Activo · Pichari · bloqueó el bot" in blocked
    assert "Puma" not in blocked
    puma = await world.member_id("Puma")
    await world.press(ADMIN, f"madm:ask:s:{puma}")
    assert await world.press(ADMIN, "madm:no") == "Cancelado; nada cambió."
    assert await world.state("Puma") is MemberState.ACTIVE


async def test_a_coordinator_gets_not_available_and_its_buttons_are_refused(
    world: World,
) -> None:
    assert await world.say(JEFE, "/miembros") == NOT_AVAILABLE
    puma = await world.member_id("Puma")
    assert await world.press(JEFE, f"madm:do:s:{puma}") == EXPIRED
    assert await world.state("Puma") is MemberState.ACTIVE
    assert world.audit("manage_members") == [
        ("coordinator", "manage_members", f"member:{puma}", "denied")
    ]
    assert await world.press(JEFE, "madm:f:all") == EXPIRED  # the list is refused too
    assert world.audit("manage_members")[-1] == ("coordinator", "manage_members", None, "denied")
    assert await world.say(ANA, "/miembros") == NOT_AVAILABLE


async def test_a_forged_id_or_an_old_button_after_demotion_changes_nothing(
    world: World,
) -> None:
    admin = await world.member_id("Condor")
    puma = await world.member_id("Puma")
    assert await world.press(ADMIN, "madm:do:s:999999") == EXPIRED
    assert await world.press(ADMIN, f"madm:do:s:{admin}") == EXPIRED  # never oneself
    assert await world.press(ADMIN, "madm:do:x:1") == EXPIRED  # not a known button

    await world.say(ADMIN, "/miembros")
    suspend = world.buttons(ADMIN)["Suspender a Puma"]
    await world.press(ADMIN, suspend)
    confirm = world.buttons(ADMIN)["Confirmar"]
    # Another administrator demotes Condor while the confirmation is still open.
    with closing(sqlite3.connect(world.db_path)) as conn, conn:
        conn.execute("UPDATE members SET role = 'coordinator' WHERE id = ?", (admin,))
    assert await world.press(ADMIN, confirm) == EXPIRED
    assert await world.state("Puma") is MemberState.ACTIVE
    assert world.audit("manage_members") == [
        ("admin", "manage_members", "member:999999", "denied"),
        ("admin", "manage_members", f"member:{admin}", "denied"),
        ("coordinator", "manage_members", f"member:{puma}", "denied"),
    ]
    assert world.audit("member_suspend") == []


async def test_an_old_confirmation_after_a_change_says_nothing_changed(world: World) -> None:
    puma = await world.member_id("Puma")
    await world.press(ADMIN, f"madm:ask:s:{puma}")
    first = world.buttons(ADMIN)["Confirmar"]
    await world.press(OTRA, f"madm:ask:s:{puma}")
    await world.press(OTRA, world.buttons(OTRA)["Confirmar"])
    assert await world.press(ADMIN, first) == (
        "Nada cambió: ese miembro ya no está en ese estado. Escribe /miembros."
    )
    assert world.audit("member_suspend") == [("admin", "member_suspend", f"member:{puma}", "ok")]
