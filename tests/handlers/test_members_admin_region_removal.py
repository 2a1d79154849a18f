"""Administrators remove regions in the chat, and a region change waits only so long
(issue #16.3).

``/miembros`` → *Regiones* offers *Quitar* for a region nothing uses; the removal is asked
about first and judged again at the press (M-04): a region used meanwhile is refused with
what uses it, in counts, and one renamed meanwhile by another administrator is not removed.
A started "add or rename" waits ``REGION_EDIT_LIFETIME`` for its name and its confirmation,
then a text goes on to its normal answer. A digits-only text is never a region name: it is
deleted at once (it may be a PIN, T-54), and a PIN prompt armed at the same time wins.
Real application, fake Bot API, real SQLite file, the fake clock.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import date, timedelta

import pytest

from bot.domain.claims import NewOperation
from bot.domain.errors import ValidationError
from bot.domain.models import Role
from bot.domain.registrations import REGION_EDIT_LIFETIME
from tests.conftest import STAFF_PIN, open_pin_session, seed_region
from tests.fakes.bot_api import FakeBotApi
from tests.handlers.test_members_admin import (
    ADMIN,
    EXPIRED,
    JEFE,
    NOT_AVAILABLE,
    OTRA,
    World,
)
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture

REGION_NAMES = "SELECT name FROM regions ORDER BY name"
WAITING = "SELECT region_id, name FROM region_edits"
ADD_PROMPT = "Escribe el nombre de la nueva región (una línea, como mucho 64 caracteres)."
DIGITS = (
    "Nada cambió: un nombre de región no puede ser solo cifras. El bot borró tu mensaje."
    " Escribe un nombre con letras."
)
ASK_PIN = "Escribe tu PIN. El bot borrará tu mensaje."


def _region_id(world: World, name: str) -> int:
    return int(world.query("SELECT id FROM regions WHERE name = ?", (name,))[0][0])


def _deleted(fake: FakeBotApi) -> set[int]:
    return {int(call.params["message_id"]) for call in fake.calls_to("deleteMessage")}


def _sent_anything_with(fake: FakeBotApi, user_id: int, needle: str) -> bool:
    return any(needle in text for text in fake.texts(user_id))


async def test_an_unused_region_is_removed_after_a_confirmation_and_audited(
    world: World,
) -> None:
    await seed_region(world.bot.services, "Llochegua")
    await world.say(ADMIN, "/miembros")
    await world.press(ADMIN, world.buttons(ADMIN)["Regiones"])
    buttons = world.buttons(ADMIN)
    assert "Quitar Pichari" not in buttons  # members use it: no button
    asked = await world.press(ADMIN, buttons["Quitar Llochegua"])
    assert asked == "¿Quitar la región Llochegua? Ningún miembro, operación ni reclamo la usa."
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]  # not before Confirmar
    assert await world.press(ADMIN, world.buttons(ADMIN)["Cancelar"]) == "Cancelado; nada cambió."
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]
    llochegua = _region_id(world, "Llochegua")
    await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    done = await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert done == "Región Llochegua quitada (registrado en la auditoría)."
    assert world.query(REGION_NAMES) == [("Pichari",)]
    assert world.audit("region_remove") == [
        ("admin", "region_remove", f"region:{llochegua}", "ok")
    ]
    # The old question's Confirmar, pressed again, changes nothing.
    again = await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    assert again == "Nada cambió: esa región ya no existe. Escribe /miembros."


async def test_a_used_region_is_refused_with_what_uses_it_in_counts(world: World) -> None:
    services = world.bot.services
    await services.claims_admin.add_operation(
        NewOperation("Tornado", date(2026, 3, 2), "Pichari", 1_500_000)
    )
    pichari = _region_id(world, "Pichari")
    # A forged press for a used region: Puma, Jefe, Condor, Vicuna and Nuevo are in it.
    refused = await world.press(ADMIN, f"madm:rg:ask:q:{pichari}")
    assert refused == (
        "Nada cambió: la región Pichari todavía se usa (5 miembros, 1 operación; los"
        " miembros desvinculados también cuentan). Muévelos antes a otra región."
    )
    # Unused when asked about, used by the press: refused then, with the new count.
    await seed_region(services, "Llochegua")
    llochegua = _region_id(world, "Llochegua")
    await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    confirm = world.buttons(ADMIN)["Confirmar"]
    await services.registrations.set_regions("Jefe", ["Pichari", "Llochegua"])
    assert (await world.press(ADMIN, confirm)).startswith(
        "Nada cambió: la región Llochegua todavía se usa (1 miembro;"
    )
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]
    assert world.audit("region_remove") == [
        ("admin", "region_remove", f"region:{llochegua}", "refused:in_use")
    ]


async def test_a_region_renamed_meanwhile_is_not_removed_and_the_remover_is_told(
    world: World,
) -> None:
    await seed_region(world.bot.services, "Llochegua")
    llochegua = _region_id(world, "Llochegua")
    await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    remove = world.buttons(ADMIN)["Confirmar"]
    # The other administrator renames it before the first one confirms.
    await world.press(OTRA, f"madm:rg:ren:{llochegua}")
    await world.say(OTRA, "Kimbiri")
    await world.press(OTRA, world.buttons(OTRA)["Confirmar"])
    assert await world.press(ADMIN, remove) == (
        "Nada cambió: la región cambió de nombre mientras tanto. Escribe /miembros."
    )
    assert world.query(REGION_NAMES) == [("Kimbiri",), ("Pichari",)]
    assert world.audit_results("region_remove") == ["refused:region_changed"]


async def test_a_region_removed_meanwhile_leaves_the_renamer_told_and_nothing_else_lost(
    world: World,
) -> None:
    await seed_region(world.bot.services, "Llochegua")
    llochegua = _region_id(world, "Llochegua")
    await world.press(OTRA, f"madm:rg:ren:{llochegua}")
    assert await world.say(OTRA, "Kimbiri") == "¿Renombrar la región Llochegua a Kimbiri?"
    await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    await world.press(ADMIN, world.buttons(ADMIN)["Confirmar"])
    assert await world.press(OTRA, world.buttons(OTRA)["Confirmar"]) == (
        "Nada cambió: esa región ya no existe. Escribe /miembros."
    )
    assert world.query(REGION_NAMES) == [("Pichari",)]
    assert world.count("SELECT count(*) FROM region_edits") == 0
    assert world.audit_results("region_rename") == []


async def test_a_coordinators_or_demoted_administrators_removal_is_refused_and_audited(
    world: World,
) -> None:
    await seed_region(world.bot.services, "Llochegua")
    llochegua = _region_id(world, "Llochegua")
    await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")
    confirm = world.buttons(ADMIN)["Confirmar"]
    assert await world.press(JEFE, f"madm:rg:ask:q:{llochegua}") == EXPIRED
    assert await world.press(JEFE, confirm) == EXPIRED
    await world.bot.services.registrations.set_role("Condor", Role.COORDINATOR)
    assert await world.press(ADMIN, confirm) == EXPIRED
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]
    assert world.audit_results("manage_members") == ["denied"] * 3
    assert world.audit_results("region_remove") == []


# --- a region change waits only so long --------------------------------------------------


async def test_a_region_name_typed_after_the_lifetime_is_not_taken_and_goes_on(
    world: World,
) -> None:
    clock = world.bot.clock
    assert await world.press(ADMIN, "madm:rg:add") == ADD_PROMPT
    clock.advance(REGION_EDIT_LIFETIME)
    before = len(world.fake.texts(ADMIN))
    assert await world.say(ADMIN, "Kimbiri") == NOT_AVAILABLE
    assert world.fake.texts(ADMIN)[before:] == [
        "El cambio de región que empezaste esperó más de 10 minutos y se canceló: tu mensaje"
        " no se usó como nombre de región.",
        NOT_AVAILABLE,
    ]
    assert world.query(WAITING) == []
    assert world.query(REGION_NAMES) == [("Pichari",)]
    # Told once: the next text is only the normal answer.
    assert await world.say(ADMIN, "Kimbiri") == NOT_AVAILABLE
    assert len(world.fake.texts(ADMIN)) == before + 3


async def test_a_region_name_typed_just_inside_the_lifetime_is_taken(world: World) -> None:
    await world.press(ADMIN, "madm:rg:add")
    world.bot.clock.advance(REGION_EDIT_LIFETIME - timedelta(seconds=1))
    assert await world.say(ADMIN, "Kimbiri") == "¿Añadir la región Kimbiri?"


async def test_a_confirmation_after_the_lifetime_changes_nothing(world: World) -> None:
    await world.press(ADMIN, "madm:rg:add")
    await world.say(ADMIN, "Kimbiri")
    confirm = world.buttons(ADMIN)["Confirmar"]
    world.bot.clock.advance(REGION_EDIT_LIFETIME)
    await open_pin_session(world.bot, ADMIN)  # the PIN session ran out too
    assert await world.press(ADMIN, confirm) == (
        "Nada cambió: el cambio de región esperó más de 10 minutos y se canceló. Empieza otra"
        " vez con /miembros."
    )
    assert world.query(REGION_NAMES) == [("Pichari",)]
    assert world.query(WAITING) == []
    assert world.audit_results("region_add") == ["ok"]  # the seed's only


# --- T-54: digits are never a region name ------------------------------------------------


async def test_t54_a_digits_only_region_name_is_deleted_and_refused_without_echo(
    world: World,
) -> None:
    fake = world.fake
    await world.press(ADMIN, "madm:rg:add")
    for typed in ("12345", "12 34", "1234-5678-9012-3", "١٢٣٤٥"):
        message_id = fake.push_message(ADMIN, typed)
        await world.bot.settle()
        assert world.last(ADMIN) == DIGITS
        assert message_id in _deleted(fake)
        assert not _sent_anything_with(fake, ADMIN, typed)
    # A text that looks like a PIN never reaches the region step: the PIN handler deletes it.
    message_id = fake.push_message(ADMIN, STAFF_PIN)
    await world.bot.settle()
    assert message_id in _deleted(fake)
    assert not _sent_anything_with(fake, ADMIN, STAFF_PIN)
    assert world.query(WAITING) == [(None, None)]  # still waiting for a name
    assert world.query(REGION_NAMES) == [("Pichari",)]
    # A name with letters and digits is a name.
    assert await world.say(ADMIN, "Zona 3") == "¿Añadir la región Zona 3?"


async def test_t54_with_a_pin_prompt_and_a_region_name_both_waiting_the_pin_wins(
    world: World,
) -> None:
    fake, clock = world.fake, world.bot.clock
    clock.advance(timedelta(minutes=9))
    await world.press(ADMIN, "madm:rg:add")  # the PIN session ends 1 minute later
    clock.advance(timedelta(minutes=2))
    # The session is closed: a digits-only text is deleted before the gate asks for the PIN.
    short = fake.push_message(ADMIN, "4829")
    await world.bot.settle()
    assert short in _deleted(fake)
    assert world.last(ADMIN) == ASK_PIN
    # Both wait for the next text: the PIN prompt takes it, deleted, never echoed.
    pin_id = fake.push_message(ADMIN, STAFF_PIN)
    await world.bot.settle()
    assert pin_id in _deleted(fake)
    assert not _sent_anything_with(fake, ADMIN, STAFF_PIN)
    assert not _sent_anything_with(fake, ADMIN, "4829")
    assert world.query(WAITING) == [(None, None)]
    assert world.query(REGION_NAMES) == [("Pichari",)]
    # The session is open again: the name is taken now.
    assert await world.say(ADMIN, "Kimbiri") == "¿Añadir la región Kimbiri?"


async def test_a_region_only_a_safety_alert_used_is_refused_in_the_chat_and_the_cli(
    world: World,
) -> None:
    """An alert that reached a region keeps it (its rows refer to it for 30 days): the chat
    names it, and ``chaski region remove`` refuses it the same way instead of failing on the
    foreign key."""
    services = world.bot.services
    await seed_region(services, "Llochegua")
    llochegua = _region_id(world, "Llochegua")
    condor = await world.member_id("Condor")
    with closing(sqlite3.connect(world.db_path)) as conn, conn:
        conn.execute(
            "INSERT INTO alerts (id, creator_id, nonce, text_es_enc, text_qu_enc, severity,"
            " status, created_at) VALUES (1, ?, 'n', x'00', x'00', 'info', 'sending', ?)",
            (condor, "2026-03-14T15:00:00+00:00"),
        )
        conn.execute("INSERT INTO alert_regions (alert_id, region_id) VALUES (1, ?)", (llochegua,))
    await world.say(ADMIN, "/miembros")
    await world.press(ADMIN, world.buttons(ADMIN)["Regiones"])
    assert "Quitar Llochegua" not in world.buttons(ADMIN)
    assert (await world.press(ADMIN, f"madm:rg:ask:q:{llochegua}")).startswith(
        "Nada cambió: la región Llochegua todavía se usa (1 aviso;"
    )
    with pytest.raises(ValidationError, match="still used by 0 member"):
        await services.registrations.remove_region("llochegua")
    assert world.query(REGION_NAMES) == [("Llochegua",), ("Pichari",)]
    assert world.audit_results("region_remove") == []  # asked, refused, nothing done
