"""Administrators change roles and regions, unlink phones and revoke invites in the chat
(issue #16.3), end to end.

Real application, fake Bot API, real SQLite file, the world of ``test_members_admin``: every
change goes through ``/miembros``' buttons, asks for a confirmation, is judged again at the
press through the one authorization check (M-04), and is audited, refusals too. A
coordinator demoted in the chat finds the staff buttons still open on their phone refused
(T-12); the unlink is the one of ``/desvincular`` (M-13c); invites are listed without their
codes (M-03).
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import timedelta

from bot.domain.models import MemberState, Role
from tests.conftest import open_pin_session, seed_invite, seed_region
from tests.handlers.test_members_admin import ADMIN, ANA, EXPIRED, JEFE, OTRA, STRANGER, World
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture


async def _role(world: World, codename: str) -> Role:
    return (await world.bot.services.registrations.member(codename)).role


async def _regions(world: World, codename: str) -> tuple[str, ...]:
    return (await world.bot.services.registrations.member(codename)).regions


async def _open(world: World, codename: str) -> dict[str, str]:
    """``/miembros``, then the member's "Más" button: the member's own buttons."""
    await world.say(ADMIN, f"/miembros {codename}")
    await world.press(ADMIN, world.buttons(ADMIN)[f"Más: {codename}"])
    return world.buttons(ADMIN)


async def test_a_role_changes_after_the_confirmation_and_old_staff_buttons_stop(
    world: World,
) -> None:
    jefe = await world.member_id("Jefe")
    puma = await world.member_id("Puma")
    # Jefe, still a coordinator, asks to unlink Puma: the question stays open on the phone.
    await world.say(JEFE, "/desvincular Puma")
    unlink = world.buttons(JEFE)["Sí, desvincular"]

    card = await _open(world, "Jefe")
    assert set(card) == {"Cambiar rol", "Cambiar regiones", "Desvincular teléfono"}
    offered = await world.press(ADMIN, card["Cambiar rol"])
    assert offered == "Jefe es Coordinador. Elige su nuevo rol:"
    assert set(world.buttons(ADMIN)) == {"Informante", "Administrador"}
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Informante"])
    assert asked == (
        "¿Cambiar el rol de Jefe de Coordinador a Informante? Vale desde su próxima acción."
    )
    assert await _role(world, "Jefe") is Role.COORDINATOR  # nothing before the confirmation

    def menu() -> list[str]:
        commands = world.fake.commands_for({"type": "chat", "chat_id": JEFE}) or []
        return [command["command"] for command in commands]

    assert "desvincular" in menu()
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Jefe ahora es Informante (registrado en la auditoría)."
    assert await _role(world, "Jefe") is Role.INFORMANT
    # Jefe's phone lists the informant's commands (the outbox row of the change), not the
    # staff ones.
    informant = ["estado", "pin", "menu", "idioma", "ayuda", "borrar"]
    await world.fake.wait_for(lambda _: menu() == informant, timeout=10)

    # T-12: the open staff button is judged with the new role at the press.
    assert await world.press(JEFE, unlink) == EXPIRED
    assert (await world.bot.services.registrations.member("Puma")).telegram_linked
    assert world.audit("member_set_role", "member_unlink") == [
        ("admin", "member_set_role", f"member:{jefe}", "role:informant")
    ]
    assert world.audit("member_unlink") == []
    del puma


async def test_an_administrator_demoted_in_the_chat_loses_the_open_confirmation(
    world: World,
) -> None:
    otra = await world.member_id("Vicuna")
    puma = await world.member_id("Puma")
    await world.press(OTRA, f"madm:ask:s:{puma}")
    confirm = world.buttons(OTRA)["Confirmar"]
    await world.press(ADMIN, f"madm:ask:ro:{otra}:c")
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert await _role(world, "Vicuna") is Role.COORDINATOR
    assert await world.press(OTRA, confirm) == EXPIRED
    assert await world.state("Puma") is MemberState.ACTIVE
    assert world.audit("manage_members") == [
        ("coordinator", "manage_members", f"member:{puma}", "denied")
    ]


async def test_refused_role_changes_say_why_and_are_audited(world: World) -> None:
    admin = await world.member_id("Condor")
    jefe = await world.member_id("Jefe")
    await seed_region(world.bot.services, "Llochegua")
    assert await world.bot.services.registrations.set_regions("Jefe", ["Pichari", "Llochegua"])
    await world.press(ADMIN, f"madm:ask:ro:{jefe}:i")
    refused = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert refused == (
        "Nada cambió: un informante pertenece a una sola región. Deja primero una sola región."
    )
    assert await world.press(ADMIN, f"madm:do:ro:{jefe}:c") == (
        "Nada cambió: ya estaba así. Escribe /miembros."
    )
    # Never one's own role from the chat: the last administrator cannot demote themselves.
    assert await world.press(ADMIN, f"madm:do:ro:{admin}:c") == EXPIRED
    assert await _role(world, "Condor") is Role.ADMIN
    assert await _role(world, "Jefe") is Role.COORDINATOR
    assert world.audit("member_set_role", "manage_members") == [
        ("admin", "member_set_role", f"member:{jefe}", "refused:one_region"),
        ("admin", "member_set_role", f"member:{jefe}", "refused:unchanged"),
        ("admin", "manage_members", f"member:{admin}", "denied"),
    ]
    # A coordinator's forged role button is refused and audited the same way.
    assert await world.press(JEFE, f"madm:do:ro:{jefe}:a") == EXPIRED
    assert await _role(world, "Jefe") is Role.COORDINATOR


async def test_regions_are_moved_added_and_removed_one_at_a_time(world: World) -> None:
    jefe = await world.member_id("Jefe")
    puma = await world.member_id("Puma")
    await seed_region(world.bot.services, "Llochegua")

    card = await _open(world, "Puma")
    offered = await world.press(ADMIN, card["Cambiar regiones"])
    assert offered == "Regiones de Puma: Pichari. Elige una región:"
    assert set(world.buttons(ADMIN)) == {"Mover a Llochegua"}  # an informant has one
    assert await world.press(ADMIN, world.buttons(ADMIN)["Mover a Llochegua"]) == (
        "¿Mover a Puma a la región Llochegua?"
    )
    assert await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"]) == (
        "Regiones de Puma: Llochegua (registrado en la auditoría)."
    )
    assert await _regions(world, "Puma") == ("Llochegua",)

    await world.press(ADMIN, f"madm:reg:{jefe}")
    assert set(world.buttons(ADMIN)) == {"Añadir Llochegua", "Quitar Pichari"}
    await world.press(ADMIN, world.buttons(ADMIN)["Añadir Llochegua"])
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert await _regions(world, "Jefe") == ("Llochegua", "Pichari")
    pichari, llochegua = 1, 2
    assert await world.press(ADMIN, f"madm:ask:rq:{jefe}:{pichari}") == (
        "¿Quitar la región Pichari a Jefe?"
    )
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert await _regions(world, "Jefe") == ("Llochegua",)
    # Jefe now sees Puma's region: the scope follows the change at once.
    assert "Puma" in await world.say(JEFE, "/desvincular Puma")

    # Refused: the last region, a region that no longer exists, and no change at all.
    assert await world.press(ADMIN, f"madm:do:rq:{jefe}:{llochegua}") == (
        "Nada cambió: necesita al menos una región."
    )
    assert await world.press(ADMIN, f"madm:ask:ra:{jefe}:99") == (
        "Nada cambió: esa región ya no existe. Escribe /miembros."
    )
    assert await world.press(ADMIN, f"madm:do:ra:{jefe}:99") == (
        "Nada cambió: esa región ya no existe. Escribe /miembros."
    )
    assert await world.press(ADMIN, f"madm:do:ra:{jefe}:{llochegua}") == (
        "Nada cambió: ya estaba así. Escribe /miembros."
    )
    assert await world.press(ADMIN, f"madm:do:ra:{puma}:{pichari}") == (
        "Nada cambió: un informante pertenece a una sola región. Deja primero una sola región."
    )
    assert await _regions(world, "Jefe") == ("Llochegua",)
    assert [row[3] for row in world.audit("member_set_regions")] == [
        "ok",
        "ok",
        "ok",
        "refused:no_region",
        "refused:unknown_region",
        "refused:unchanged",
        "refused:one_region",
    ]
    assert await world.press(JEFE, f"madm:reg:{puma}") == EXPIRED  # coordinators: no


async def test_a_lost_phone_is_unlinked_from_the_member_buttons(world: World) -> None:
    puma = await world.member_id("Puma")
    card = await _open(world, "Puma")
    asked = await world.press(ADMIN, card["Desvincular teléfono"])
    assert asked.startswith("¿Desvincular a Puma?")
    assert world.buttons(ADMIN)["Sí, desvincular"] == f"unlink:yes:{puma}"
    assert await world.state("Puma") is MemberState.ACTIVE  # nothing before the confirmation
    assert (await world.bot.services.registrations.member("Puma")).last_seen is not None
    await world.press(ADMIN, world.buttons(ADMIN)["Sí, desvincular"])
    member = await world.bot.services.registrations.member("Puma")
    assert (member.state, member.telegram_linked) == (MemberState.UNLINKED, False)
    assert await world.say(ANA, "/estado") == STRANGER
    assert world.audit("member_unlink") == [("admin", "member_unlink", f"member:{puma}", "remote")]
    with closing(sqlite3.connect(world.db_path)) as conn:
        [(seen,)] = conn.execute("SELECT last_seen_day FROM members WHERE id = ?", (puma,))
    assert seen is None  # the last day seen goes with the link
    # An unlinked member has no phone button; a forged one is refused by the unlink itself.
    assert "Desvincular teléfono" not in await _open(world, "Puma")
    assert await world.press(JEFE, f"madm:ask:u:{puma}") == EXPIRED


async def test_unused_invites_are_listed_without_codes_and_revoked(world: World) -> None:
    services = world.bot.services
    code = await seed_invite(services, "Taruka", role=Role.COORDINATOR)
    await seed_invite(services, "Viejo")
    viejo = await world.member_id("Viejo")
    with closing(sqlite3.connect(world.db_path)) as conn, conn:  # Viejo's invite expired
        conn.execute(
            "UPDATE invites SET expires_at = '2026-03-14T14:00:00+00:00' WHERE member_id = ?",
            (viejo,),
        )
    await world.say(ADMIN, "/miembros")
    listing = await world.press(ADMIN, world.buttons(ADMIN)["Invitaciones sin usar"])
    lines = listing.splitlines()
    assert lines[0] == "Invitaciones sin usar (los códigos no se muestran):"
    assert lines[1].startswith("<b>Nuevo</b> · Informante · Pichari · vence el ")
    assert lines[2].startswith("<b>Taruka</b> · Coordinador · Pichari · vence el ")
    assert len(lines) == 3
    assert code not in listing
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Revocar: Taruka"])
    assert asked == "¿Revocar la invitación de Taruka? Su código dejará de servir."
    assert await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"]) == (
        "Invitación de Taruka revocada (registrado en la auditoría)."
    )
    taruka = await world.member_id("Taruka")
    assert await world.press(ADMIN, f"madm:do:iv:{taruka}") == (
        "Nada cambió: esa invitación ya no está sin usar. Escribe /miembros."
    )
    world.fake.push_message(7_700_000_001, f"/start {code}")
    await world.bot.settle()
    assert world.fake.texts(7_700_000_001)[-1] == STRANGER  # the code no longer works
    assert world.audit("invite_revoke") == [
        ("admin", "invite_revoke", f"member:{taruka}", "revoked:1")
    ]
    assert await world.press(JEFE, "madm:inv") == EXPIRED
    await world.bot.services.registrations.revoke_invites("Nuevo")
    assert await world.press(ADMIN, "madm:inv") == "No hay invitaciones sin usar."


async def test_members_who_have_not_opened_the_bot_for_days_are_filtered(
    world: World,
) -> None:
    """Only the day of the last use is kept; never opened counts from enrolment."""
    world.bot.clock.advance(timedelta(days=8))
    await open_pin_session(world.bot, ADMIN)
    assert "Todavía no tienes trámites." in await world.say(ANA, "/estado")
    await world.bot.services.registrations.suspend("Vicuna")  # only active members
    await world.say(ADMIN, "/miembros")
    assert set(world.buttons(ADMIN)) >= {"Sin abrir 7 días", "Sin abrir 30 días"}
    idle = await world.press(ADMIN, world.buttons(ADMIN)["Sin abrir 7 días"])
    lines = idle.splitlines()
    assert lines[0] == "Sin abrir el bot hace 7 días o más (como mucho 20):"
    assert [line.split(" · ")[0] for line in lines[1:]] == ["<b>Jefe</b>", "<b>Nuevo</b>"]
    assert await world.press(ADMIN, "madm:idle:30") == "Ningún miembro coincide."
    with closing(sqlite3.connect(world.db_path)) as conn:
        days = dict(conn.execute("SELECT id, last_seen_day FROM members").fetchall())
    assert days[await world.member_id("Puma")] == "2026-03-22"  # a day, never a time
    assert days[await world.member_id("Nuevo")] is None
    await open_pin_session(world.bot, JEFE)
    assert await world.press(JEFE, "madm:idle:7") == EXPIRED
