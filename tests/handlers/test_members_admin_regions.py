"""Administrators see the regions in the chat (issue #16.3): ``/miembros`` → *Regiones* lists
every region with how many members belong to it, through the service and the authorization
check of the other ``/miembros`` buttons (M-04): a coordinator's forged press is refused
and audited (T-11). From that list an administrator adds or renames a region: a button, the
name typed as a plain message (the step waits in the database, so a restart in between
loses nothing), a confirmation, then the service ``chaski region add|rename`` uses.
Real application, fake Bot API, real SQLite file.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bot.domain.claims import NewOperation
from bot.domain.models import Role
from tests.conftest import (
    RunningBot,
    ServedFake,
    TestClock,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.fakes.world import bot_process
from tests.handlers.test_members_admin import ADMIN, EXPIRED, JEFE, NOT_AVAILABLE, World
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


ADD_PROMPT = "Escribe el nombre de la nueva región (una línea, como mucho 64 caracteres)."
REGION_NAMES = "SELECT name FROM regions ORDER BY name"


async def test_admin_adds_a_region_typed_in_the_chat_after_a_confirmation(world: World) -> None:
    await world.say(ADMIN, "/miembros")
    await world.press(ADMIN, world.buttons(ADMIN)["Regiones"])
    assert await world.press(ADMIN, world.buttons(ADMIN)["Añadir región"]) == ADD_PROMPT
    asked = await world.say(ADMIN, "  Llochegua ")
    assert asked == "¿Añadir la región Llochegua?"
    assert world.query(REGION_NAMES) == [("Pichari",)]  # nothing before the confirmation
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Región Llochegua añadida (registrado en la auditoría)."
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]
    [(new_id,)] = world.query("SELECT id FROM regions WHERE name = 'Llochegua'")
    # The first row is the seed's, from the CLI's method: no actor.
    assert world.audit("region_add") == [
        (None, "region_add", "region:1", "ok"),
        ("admin", "region_add", f"region:{new_id}", "ok"),
    ]
    assert world.count("SELECT count(*) FROM region_edits") == 0
    # The step is over: plain text is "not available" again, an old Confirmar changes nothing.
    assert await world.say(ADMIN, "Otra") == NOT_AVAILABLE
    assert (await world.press(ADMIN, "madm:rg:ok")).startswith("Nada cambió")
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]


async def test_bad_taken_or_unknown_names_are_refused_and_nothing_changes(world: World) -> None:
    await seed_region(world.bot.services, "Llochegua")
    await world.press(ADMIN, "madm:rg:add")
    too_long = await world.say(ADMIN, "x" * 65)
    assert too_long.startswith("Nada cambió: ese nombre no sirve.")
    taken = await world.say(ADMIN, "LLOCHEGUA")  # names are the same in any case
    assert taken.startswith("Nada cambió: ya existe una región con ese nombre.")
    assert world.count("SELECT count(*) FROM regions") == 2
    # Still waiting for a name: a good one is asked about.
    assert await world.say(ADMIN, "Kimbiri") == "¿Añadir la región Kimbiri?"
    assert await world.press(ADMIN, "madm:no") == "Cancelado; nada cambió."
    assert world.count("SELECT count(*) FROM region_edits") == 0
    assert await world.say(ADMIN, "Kimbiri") == NOT_AVAILABLE
    assert world.count("SELECT count(*) FROM regions") == 2
    # A region that no longer exists (forged id, or removed from the CLI meanwhile).
    assert (await world.press(ADMIN, "madm:rg:ren:999")).startswith(
        "Nada cambió: esa región ya no existe."
    )
    assert world.count("SELECT count(*) FROM region_edits") == 0
    llochegua = world.query("SELECT id FROM regions WHERE name = 'Llochegua'")[0][0]
    await world.press(ADMIN, f"madm:rg:ren:{llochegua}")
    assert await world.say(ADMIN, "Pichari") == (
        "Nada cambió: ya existe una región con ese nombre. Escribe otro nombre."
    )
    assert await world.say(ADMIN, "Kimbiri") == "¿Renombrar la región Llochegua a Kimbiri?"
    await world.bot.services.registrations.remove_region("Llochegua")
    assert (await world.press(ADMIN, "madm:rg:ok")).startswith(
        "Nada cambió: esa región ya no existe."
    )
    assert world.query(REGION_NAMES) == [("Pichari",)]


async def test_a_demoted_administrators_typed_name_is_refused_and_audited(world: World) -> None:
    await world.press(ADMIN, "madm:rg:add")
    await world.bot.services.registrations.set_role("Condor", Role.COORDINATOR)
    assert await world.say(ADMIN, "Llochegua") == EXPIRED
    assert world.audit("manage_members") == [("coordinator", "manage_members", None, "denied")]
    assert world.count("SELECT count(*) FROM region_edits") == 0
    assert world.query(REGION_NAMES) == [("Pichari",)]
    # A coordinator's forged presses are refused the same way.
    assert await world.press(JEFE, "madm:rg:add") == EXPIRED
    assert await world.press(JEFE, "madm:rg:ok") == EXPIRED
    assert world.count("SELECT count(*) FROM region_edits") == 0


async def _seed_admin(bot: RunningBot) -> None:
    services = bot.services
    await seed_region(services)
    await seed_invite(services, "Puma")
    code = await seed_invite(services, "Condor", role=Role.ADMIN)
    await bot.register(ADMIN, code, "es")
    await set_pin_in_chat(bot, ADMIN)
    bot.fake.reset_calls()


async def test_a_rename_survives_a_restart_between_the_button_and_the_typed_name(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    db_path = tmp_path / "db" / "chaski.sqlite3"
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await _seed_admin(bot)
        world = World(bot, db_path)
        await world.say(ADMIN, "/miembros")
        await world.press(ADMIN, world.buttons(ADMIN)["Regiones"])
        asked = await world.press(ADMIN, world.buttons(ADMIN)["Renombrar Pichari"])
        assert asked == "Escribe el nuevo nombre de la región Pichari."
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        world = World(bot, db_path)
        assert await world.say(ADMIN, "Pichari Alto") == (
            "¿Renombrar la región Pichari a Pichari Alto?"
        )
        done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
        assert done == "Región Pichari renombrada a Pichari Alto (registrado en la auditoría)."
        assert (await world.bot.services.registrations.member("Puma")).regions == ("Pichari Alto",)
        assert world.audit("region_rename") == [("admin", "region_rename", "region:1", "ok")]


async def test_admin_lists_the_operations_as_the_cli_does_and_a_coordinator_is_refused(
    world: World,
) -> None:
    await world.say(ADMIN, "/miembros")
    assert await world.press(ADMIN, world.buttons(ADMIN)["Operaciones"]) == (
        "No hay operaciones todavía."
    )
    services = world.bot.services
    await services.claims_admin.add_operation(
        NewOperation("Tornado", date(2026, 3, 2), "Pichari", 1_500_000)
    )
    listing = await world.press(ADMIN, "madm:ops")
    assert listing.splitlines() == [
        "Operaciones (como mucho las 20 últimas):",
        "<b>Tornado</b> · Pichari · 02/03/2026 · S/\xa015,000",
    ]
    assert await world.press(JEFE, "madm:ops") == EXPIRED
    assert world.audit("manage_members") == [("coordinator", "manage_members", None, "denied")]
