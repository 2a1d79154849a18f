"""Administrators create operations and correct them in the chat (issue #16.3), end to end.

``/miembros`` → *Operaciones* → *Nueva operación* or *Editar …*: values typed as plain
messages (deleted at once, stored sealed in ``operation_edits`` between the steps, so a
restart loses nothing), regions chosen with buttons, each change confirmed, through the
service ``chaski operations add|edit`` uses; a total below the claims' shares is refused;
a coordinator's presses are refused and audited (M-04, T-10, T-11).
Real application, fake Bot API, real SQLite file.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

from bot.domain.claims import NewOperation
from bot.domain.models import Operation, Role
from bot.domain.registrations import REGION_EDIT_LIFETIME
from tests.cli.test_cli import HEADER
from tests.conftest import (
    ServedFake,
    TestClock,
    open_pin_session,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.fakes.world import bot_process
from tests.handlers.test_members_admin import ADMIN, EXPIRED, JEFE, NOT_AVAILABLE, World
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture

TORNADO = NewOperation("Tornado", date(2026, 3, 2), "Pichari", 1_500_000, pay_by=date(2026, 6, 1))


async def _operations(world: World) -> list[Operation]:
    return await world.bot.services.claims_admin.operations()


async def test_admin_creates_an_operation_in_the_chat_after_a_confirmation(world: World) -> None:
    await seed_region(world.bot.services, "Llochegua")
    await world.say(ADMIN, "/miembros")
    await world.press(ADMIN, world.buttons(ADMIN)["Operaciones"])
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Nueva operación"])
    assert asked == (
        "Escribe el nombre de la nueva operación (una línea, como mucho 200 caracteres)."
    )
    asked = await world.say(ADMIN, "  Halcón 2016 ")
    assert asked == "¿En qué región fue la operación Halcón 2016?"
    buttons = world.buttons(ADMIN)
    # The typed label was deleted at once (M-10) and is sealed while it waits (M-07).
    assert world.bot.fake.calls_to("deleteMessage")
    assert "Halcón" not in str(world.query("SELECT * FROM operation_edits"))
    # The region is a button, not text.
    assert await world.say(ADMIN, "Llochegua") == "Nada cambió: elige con los botones del mensaje."
    assert (await world.press(ADMIN, buttons["Llochegua"])).startswith(
        "Escribe la recompensa total ofrecida por la operación Halcón 2016"
    )
    assert (await world.say(ADMIN, "dos mil")).startswith("Nada cambió: escribe el monto en soles")
    assert (await world.say(ADMIN, "2000.50")).startswith(
        "Escribe la fecha de pago prometida de la operación Halcón 2016"
    )
    assert (await world.say(ADMIN, "31/02/2027")).startswith("Nada cambió: escribe la fecha")
    asked = await world.say(ADMIN, "31/12/2027")
    assert asked == (
        "¿Crear la operación Halcón 2016 en Llochegua, con una recompensa total de"
        " S/\xa02,000.50 y pago prometido para el 31/12/2027?"
    )
    assert await _operations(world) == []  # nothing before the confirmation
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Operación Halcón 2016 creada (registrado en la auditoría)."
    [created] = await _operations(world)
    assert (created.label, created.region, created.total_cents, created.pay_by) == (
        "Halcón 2016",
        "Llochegua",
        200_050,
        date(2027, 12, 31),
    )
    assert world.audit("operation_add") == [("admin", "operation_add", "operation:1", "ok")]
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    # The step is over: plain text is "not available" again, an old Confirmar changes nothing.
    assert await world.say(ADMIN, "Otra") == NOT_AVAILABLE
    assert (await world.press(ADMIN, "mops:ok")).startswith("Nada cambió: no hay ninguna")
    assert len(await _operations(world)) == 1


async def test_a_new_operation_without_a_date_and_a_taken_label(world: World) -> None:
    await world.bot.services.claims_admin.add_operation(TORNADO)
    await world.press(ADMIN, "mops:new")
    await world.say(ADMIN, "Tornado")
    await world.press(ADMIN, world.buttons(ADMIN)["Pichari"])
    await world.say(ADMIN, "10")
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Sin fecha"])
    assert asked == (
        "¿Crear la operación Tornado en Pichari, con una recompensa total de S/\xa010 y sin"
        " fecha de pago prometida?"
    )
    refused = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert refused == "Nada cambió: ya existe una operación con ese nombre."
    assert len(await _operations(world)) == 1
    await world.press(ADMIN, "mops:new")
    assert await world.press(ADMIN, "mops:no") == "Cancelado; nada cambió."
    assert world.count("SELECT count(*) FROM operation_edits") == 0


async def test_admin_corrects_the_promised_payment_date_and_clears_it(world: World) -> None:
    await world.bot.services.claims_admin.add_operation(TORNADO)
    await world.say(ADMIN, "/miembros")
    await world.press(ADMIN, world.buttons(ADMIN)["Operaciones"])
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Editar Tornado"])
    assert asked == "¿Qué quieres cambiar de la operación Tornado?"
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Fecha de pago prometida"])
    assert asked.startswith("Escribe la fecha de pago prometida de la operación Tornado")
    asked = await world.say(ADMIN, "2026-09-30")
    assert asked == "¿Cambiar la fecha de pago prometida de la operación al 30/09/2026?"
    assert (await _operations(world))[0].pay_by == date(2026, 6, 1)
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Operación Tornado corregida (registrado en la auditoría)."
    assert (await _operations(world))[0].pay_by == date(2026, 9, 30)
    await world.press(ADMIN, "mops:f:pay:1")
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Sin fecha"])
    assert asked == "¿Quitar la fecha de pago prometida de la operación?"
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert (await _operations(world))[0].pay_by is None
    # The same value again: nothing written, nothing audited.
    await world.press(ADMIN, "mops:f:pay:1")
    await world.press(ADMIN, "mops:nodate")
    same = await world.press(ADMIN, "mops:ok")
    assert same == "Nada cambió: la operación Tornado ya tenía ese valor."
    assert world.audit("operation_edit") == [
        ("admin", "operation_edit", "operation:1:pay_by", "ok"),
        ("admin", "operation_edit", "operation:1:pay_by", "ok"),
    ]
    assert (await world.press(ADMIN, "mops:e:99")).startswith("Nada cambió: esa operación")


async def test_a_total_below_the_claims_shares_is_refused_and_changes_nothing(
    world: World,
) -> None:
    services = world.bot.services
    await services.claims_admin.add_operation(TORNADO)
    row = "R-2026-0001,Puma,Tornado,2026-03-02,Pichari,9000,registered,,,\n"
    await services.claims_import.import_file((HEADER + row).encode())
    await world.press(ADMIN, "mops:f:tot:1")
    below = await world.say(ADMIN, "8999.99")
    assert below == (
        "Nada cambió: la recompensa total no puede ser menor que lo ya prometido a los"
        " reclamos de esta operación."
    )
    assert (await _operations(world))[0].total_cents == 1_500_000
    # Still waiting for a total: the shares exactly are accepted.
    asked = await world.say(ADMIN, "9000")
    assert asked == "¿Cambiar la recompensa total de la operación a S/\xa09,000?"
    # Claims promised more meanwhile: the confirmation is judged again.
    more = "R-2026-0002,Puma,Tornado,2026-03-02,Pichari,1,registered,,,\n"
    await services.claims_import.import_file((HEADER + row + more).encode())
    refused = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert refused.startswith("Nada cambió: la recompensa total no puede ser menor")
    assert (await _operations(world))[0].total_cents == 1_500_000
    assert world.audit("operation_edit") == []


async def test_a_coordinators_presses_and_a_demoted_admins_typed_value_are_refused(
    world: World,
) -> None:
    await world.bot.services.claims_admin.add_operation(TORNADO)
    for data in ("mops:new", "mops:e:1", "mops:f:tot:1", "mops:rg:1", "mops:nodate", "mops:ok"):
        assert await world.press(JEFE, data) == EXPIRED
    assert len(world.audit("manage_members")) == 6
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    await world.press(ADMIN, "mops:f:tot:1")
    await world.bot.services.registrations.set_role("Condor", Role.COORDINATOR)
    assert await world.say(ADMIN, "1") == EXPIRED
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    assert (await _operations(world))[0].total_cents == 1_500_000
    assert world.audit("operation_edit") == []


async def test_a_new_operation_survives_a_restart_between_its_steps(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    db_path = tmp_path / "db" / "chaski.sqlite3"
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        services = bot.services
        await seed_region(services)
        code = await seed_invite(services, "Condor", role=Role.ADMIN)
        await bot.register(ADMIN, code, "es")
        await set_pin_in_chat(bot, ADMIN)
        bot.fake.reset_calls()
        world = World(bot, db_path)
        await world.press(ADMIN, "mops:new")
        await world.say(ADMIN, "Cóndor")
        await world.press(ADMIN, world.buttons(ADMIN)["Pichari"])
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        world = World(bot, db_path)
        assert (await world.say(ADMIN, "500")).startswith(
            "Escribe la fecha de pago prometida de la operación Cóndor"
        )
        await world.say(ADMIN, "01/02/2027")
        done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
        assert done == "Operación Cóndor creada (registrado en la auditoría)."
        [created] = await world.bot.services.claims_admin.operations()
        assert (created.total_cents, created.pay_by) == (50_000, date(2027, 2, 1))


async def test_one_typed_value_waits_at_a_time(world: World) -> None:
    """A region name asked for and an operation's label asked for never both wait: the
    later button wins, so a typed value is never taken for the other one."""
    await world.press(ADMIN, "madm:rg:add")
    await world.press(ADMIN, "mops:new")
    assert world.count("SELECT count(*) FROM region_edits") == 0
    assert await world.say(ADMIN, "Halcón") == "¿En qué región fue la operación Halcón?"
    await world.press(ADMIN, "madm:rg:add")
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    assert await world.say(ADMIN, "Kimbiri") == "¿Añadir la región Kimbiri?"


# --- a total of PIN length, and drafts that waited too long ------------------------------

NO_PROMPT = "El tiempo para escribir el PIN terminó. Vuelve a intentarlo."


def _deleted(world: World) -> set[int]:
    return {int(call.params["message_id"]) for call in world.fake.calls_to("deleteMessage")}


async def test_a_total_of_pin_length_is_the_amount_while_the_step_waits(world: World) -> None:
    """S/ 2,000,000 typed as 2000000 has a PIN's length (6 to 12 digits): while a draft waits
    for a total it is the amount, deleted at once; with no such step it is still taken for
    a PIN in the wrong place, deleted and never echoed (T-54)."""
    await world.press(ADMIN, "mops:new")
    await world.say(ADMIN, "Halcón")
    await world.press(ADMIN, world.buttons(ADMIN)["Pichari"])
    typed = world.fake.push_message(ADMIN, "2000000")
    await world.bot.settle()
    assert world.last(ADMIN).startswith("Escribe la fecha de pago prometida de la operación")
    assert typed in _deleted(world)
    asked = await world.press(ADMIN, world.buttons(ADMIN)["Sin fecha"])
    assert "S/\xa02,000,000" in asked
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    [created] = await _operations(world)
    assert created.total_cents == 200_000_000
    # Nothing waits now: the same digits are a PIN typed where none was asked.
    typed = world.fake.push_message(ADMIN, "2000000")
    await world.bot.settle()
    assert world.last(ADMIN) == NO_PROMPT
    assert typed in _deleted(world)
    assert (await _operations(world))[0].total_cents == 200_000_000


async def test_an_operation_draft_waits_ten_minutes_then_the_text_goes_on(world: World) -> None:
    """As a region change: once the prompt is gone, a text typed later is not a label, and
    digits are a PIN again, not a total."""
    clock = world.bot.clock
    await world.press(ADMIN, "mops:new")
    clock.advance(REGION_EDIT_LIFETIME)
    await open_pin_session(world.bot, ADMIN)  # the PIN session ran out too
    before = len(world.fake.texts(ADMIN))
    assert await world.say(ADMIN, "Halcón") == NOT_AVAILABLE
    assert world.fake.texts(ADMIN)[before:] == [
        "Lo que empezaste en Operaciones esperó más de 10 minutos y se canceló: tu mensaje no"
        " se usó.",
        NOT_AVAILABLE,
    ]
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    await world.bot.services.claims_admin.add_operation(TORNADO)
    await world.press(ADMIN, "mops:f:tot:1")
    clock.advance(REGION_EDIT_LIFETIME)
    await open_pin_session(world.bot, ADMIN)
    typed = world.fake.push_message(ADMIN, "2000000")
    await world.bot.settle()
    assert world.last(ADMIN) == NO_PROMPT
    assert typed in _deleted(world)
    assert (await _operations(world))[0].total_cents == TORNADO.total_cents


async def test_a_confirmation_after_the_drafts_lifetime_changes_nothing(world: World) -> None:
    await world.bot.services.claims_admin.add_operation(TORNADO)
    await world.press(ADMIN, "mops:f:pay:1")
    await world.say(ADMIN, "30/09/2026")
    confirm = world.buttons(ADMIN)["Confirmar"]
    world.bot.clock.advance(REGION_EDIT_LIFETIME - timedelta(seconds=1))
    assert world.count("SELECT count(*) FROM operation_edits") == 1  # still inside
    world.bot.clock.advance(timedelta(seconds=1))
    await open_pin_session(world.bot, ADMIN)
    assert await world.press(ADMIN, confirm) == (
        "Nada cambió: lo que empezaste en Operaciones esperó más de 10 minutos y se canceló."
        " Empieza otra vez con /miembros."
    )
    assert (await _operations(world))[0].pay_by == TORNADO.pay_by
    assert world.count("SELECT count(*) FROM operation_edits") == 0
    assert world.audit("operation_edit") == []
