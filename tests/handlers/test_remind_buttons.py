"""``/recordar <person>`` with buttons (#15.6): date, hour, topic, then the typed form's preview.

The test clock starts on Saturday 14/03/2026, 10:00 in Lima. Everything a step needs is in
its callback data (as ``/control``), so each press is re-checked: the person against the
coordinator's regions, the date against the days offered today, the hour and the topic
against the buttons' lists.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.domain.models import Lang, Role
from bot.domain.schedules import Schedule, ScheduleKind
from tests.conftest import (
    RunningBot,
    open_pin_session,
    seed_claims,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.handlers.test_outbox_sender import all_in, until
from tests.handlers.test_schedules import (
    JEFE,
    PUMA,
    PUMA_CLAIM,
    REMINDER,
    buttons,
    last,
    people,
    say,
    tap,
)

EXPIRED = "Este menú ya no está disponible. Escribe /menu."


def shape(found: list[Schedule]) -> list[tuple[object, ...]]:
    """What a reminder is, without its id and creation time."""
    return sorted(
        (s.kind, s.target_kind, s.target, s.template, dict(s.params), s.run_at, s.state)
        for s in found
    )


async def reminders(bot: RunningBot) -> list[Schedule]:
    """The stored reminders (the daily digest is a schedule too), by id."""
    found = await bot.services.schedules.list_for(None)
    return [s for s in found if s.kind is ScheduleKind.REMINDER]


async def by_buttons(bot: RunningBot, person: str, day: str, hour: str, topic: str) -> str:
    """Walk ``/recordar <person>`` to the preview; the preview's text."""
    await say(bot, JEFE, f"/recordar {person}")
    await tap(bot, JEFE, day)
    await tap(bot, JEFE, hour)
    await tap(bot, JEFE, topic)
    text: str = last(bot.fake, JEFE).params["text"]
    return text


async def test_the_button_path_stores_the_same_reminders_as_the_typed_form(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)

    await say(bot, JEFE, "/recordar puma")
    first = last(bot.fake, JEFE)
    assert first.params["text"] == "Recordatorio para Puma: ¿qué día es?"
    offered = [label for label in buttons(first) if label != "Cancelar"]
    assert offered[0] == "domingo 15/03/2026"  # tomorrow: today and earlier are not offered
    assert offered[-1] == "sábado 28/03/2026"
    assert len(offered) == 14

    preview = await by_buttons(bot, "puma", "viernes 20/03/2026", "10:00", "Cita")
    assert preview.startswith("Recordatorio para Puma: Cita, el 20/03/2026 10:00.")
    await tap(bot, JEFE, "Guardar")
    assert last(bot.fake, JEFE).params["text"] == "Guardado: 2 recordatorios."
    by_button = await reminders(bot)

    await say(bot, JEFE, "/recordar puma 2026-03-20 10:00 cita")
    await tap(bot, JEFE, "Guardar")
    typed = [s for s in await reminders(bot) if s.id not in {b.id for b in by_button}]
    assert len(by_button) == 2
    assert shape(by_button) == shape(typed)

    bot.clock.set(datetime(2026, 3, 19, 15, 0, tzinfo=UTC))  # 10:00 in Lima, a day before
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))
    assert bot.fake.sent(PUMA)[-1].params["text"] == REMINDER


async def test_a_claim_reminder_by_buttons(running_bot: RunningBot, tmp_path: Path) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await seed_claims(bot.services, PUMA_CLAIM)
    await set_pin_in_chat(bot, JEFE)

    preview = await by_buttons(
        bot, "r-2016-0007", "lunes 16/03/2026", "15:00", "Fecha de pago prometida"
    )
    assert preview.startswith(
        "Recordatorio para quien tiene el reclamo R-2016-0007: Fecha de pago prometida,"
        " el 16/03/2026 15:00."
    )
    await tap(bot, JEFE, "Guardar")
    assert last(bot.fake, JEFE).params["text"] == "Guardado: 2 recordatorios."
    (first, _) = sorted(await reminders(bot), key=lambda s: s.id)
    assert first.target_kind.value == "claim"
    assert first.params["topic"] == "payment"


async def test_a_past_date_cannot_be_chosen(running_bot: RunningBot, tmp_path: Path) -> None:
    bot = running_bot
    ids = await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)
    await say(bot, JEFE, "/recordar Puma")
    message = bot.last_message_id(JEFE)
    puma = ids["Puma"]
    # Forged dates: yesterday, today, and a day beyond those offered.
    for day in ("20260313", "20260314", "20260329"):
        bot.fake.push_callback(JEFE, f"sch:rd:m:{puma}:{day}", message_id=message)
        await bot.settle()
        assert last(bot.fake, JEFE).params["text"] == EXPIRED
        bot.fake.push_callback(JEFE, f"sch:rk:m:{puma}:{day}:10:cita", message_id=message)
        await bot.settle()
        assert last(bot.fake, JEFE).params["text"] == EXPIRED
    # A date button pressed once its day has come (the menu went stale overnight).
    await say(bot, JEFE, "/recordar Puma")
    stale = buttons(last(bot.fake, JEFE))["domingo 15/03/2026"]
    stale_message = bot.last_message_id(JEFE)
    bot.clock.advance(timedelta(days=1))
    await open_pin_session(bot, JEFE)
    bot.fake.push_callback(JEFE, stale, message_id=stale_message)
    await bot.settle()
    assert last(bot.fake, JEFE).params["text"] == EXPIRED
    assert await reminders(bot) == []


async def test_forged_reminder_buttons_change_nothing(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    ids = await people(bot, tmp_path)
    await seed_region(bot.services, "Llochegua")
    other = 7504
    code = await seed_invite(bot.services, "Otro", role=Role.COORDINATOR, region="Llochegua")
    await bot.register(other, code)
    await set_pin_in_chat(bot, other)
    await set_pin_in_chat(bot, JEFE)
    puma = ids["Puma"]

    # Another region's coordinator: neither the person by name nor by a forged button.
    await say(bot, other, "/recordar Puma")
    refused = "No encontré ese nombre clave ni ese reclamo en tus regiones."
    assert last(bot.fake, other).params["text"] == refused
    for data in (
        f"sch:rd:m:{puma}:20260320",
        f"sch:rh:m:{puma}:20260320:10",
        f"sch:rk:m:{puma}:20260320:10:cita",
    ):
        bot.fake.push_callback(other, data, message_id=1)
        await bot.settle()
        assert last(bot.fake, other).params["text"] == EXPIRED
    # The coordinator of the region, with an hour or a topic no button offers.
    await say(bot, JEFE, "/recordar Puma")
    message = bot.last_message_id(JEFE)
    for data in (
        f"sch:rh:m:{puma}:20260320:3",
        f"sch:rk:m:{puma}:20260320:10:fiesta",
        f"sch:rk:x:{puma}:20260320:10:cita",
        f"sch:rd:m:{puma}:2026-13-40",
    ):
        bot.fake.push_callback(JEFE, data, message_id=message)
        await bot.settle()
        assert last(bot.fake, JEFE).params["text"] == EXPIRED
    assert await reminders(bot) == []


async def test_reminder_buttons_need_an_open_pin_session(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    ids = await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)
    await say(bot, JEFE, "/recordar Puma")
    message = bot.last_message_id(JEFE)
    bot.clock.advance(timedelta(hours=1))  # the PIN session has closed
    data = f"sch:rd:m:{ids['Puma']}:20260320"
    bot.fake.push_callback(JEFE, data, message_id=message)
    await bot.settle()
    asked = "Recordatorio para Puma, el viernes 20/03/2026: ¿a qué hora?"
    assert last(bot.fake, JEFE).params["text"] != asked
    await open_pin_session(bot, JEFE)
    bot.fake.push_callback(JEFE, data, message_id=message)
    await bot.settle()
    assert last(bot.fake, JEFE).params["text"] == asked


async def test_date_buttons_speak_the_coordinators_language(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)
    jefe = await bot.services.registration.identify(JEFE)
    assert jefe is not None
    await bot.services.registration.choose_lang(jefe, Lang.QU)

    await say(bot, JEFE, "/recordar Puma")
    first = last(bot.fake, JEFE)
    assert first.params["text"].startswith("Pumapaq yuyarichiy: ima punchawtaq?")
    assert "intichaw 15/03/2026" in buttons(first)
    await tap(bot, JEFE, "chaskachaw 20/03/2026")
    assert (
        last(bot.fake, JEFE)
        .params["text"]
        .startswith("Pumapaq yuyarichiy, chaskachaw 20/03/2026: ima horatataq?")
    )


async def test_recordar_alone_explains_both_forms(running_bot: RunningBot, tmp_path: Path) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)
    await say(bot, JEFE, "/recordar")
    assert (
        "O solo /recordar nombre_clave para elegir el día, la hora y el tema con botones."
        in (last(bot.fake, JEFE).params["text"])
    )
