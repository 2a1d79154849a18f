"""Schedules end to end (issue #15): real application, fake Bot API, real SQLite, test clock.

The schedules tick is called by hand (as the JobQueue would, at the clock the test set); the
outbox sender of the running application delivers what it queued. Restarts stop one
application and start another over the same database and fake server.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.errors import ValidationError
from bot.domain.models import Role
from bot.domain.schedules import CheckinState, NewSchedule, ScheduleKind, TargetKind
from bot.services.schedules import TEMPLATE_CHECKIN, TEMPLATE_REMINDER
from tests.conftest import (
    RunningBot,
    ServedFake,
    TestClock,
    open_pin_session,
    seed_claims,
    seed_invite,
    seed_region,
    sender_of,
    set_pin_in_chat,
)
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.world import bot_process as start_bot
from tests.handlers.test_outbox_sender import BLOCKED, all_in, db_of, link, rows, until

PUMA, CONDOR, JEFE = 7501, 7502, 7503
CHECKIN = "Control de seguridad: ¿estás bien? Responde con un botón."
REMINDER = "Tienes un recordatorio. Escribe /recordatorios para verlo."
#: 19:00 in Lima is 00:00 UTC the next day (Lima keeps UTC-5 all year).
LIMA_19 = datetime(2026, 3, 15, 0, 0, tzinfo=UTC)


def bot_process(
    server: ServedFake, tmp_path: Path, clock: TestClock, *, digest_hour: int = 7
) -> AbstractAsyncContextManager[RunningBot]:
    """One bot process over the shared database and fake server (to test restarts)."""
    return start_bot(server, tmp_path, clock, timezone=clock.zone, digest_hour=digest_hour)


async def people(bot: RunningBot, tmp_path: Path) -> dict[str, int]:
    """Two informants and a coordinator of Pichari; member ids by codename."""
    await seed_region(bot.services)
    return {
        "Puma": await link(bot, tmp_path, "Puma", PUMA),
        "Condor": await link(bot, tmp_path, "Condor", CONDOR),
        "Jefe": await link(bot, tmp_path, "Jefe", JEFE, role=Role.COORDINATOR),
    }


async def checkin(bot: RunningBot, rule: str = "0 19 * * *", hours: float = 2) -> int:
    schedule = await bot.services.schedules.create(
        None,
        NewSchedule(
            kind=ScheduleKind.CHECKIN,
            target_kind=TargetKind.REGION,
            target="Pichari",
            template=TEMPLATE_CHECKIN,
            cron=rule,
            window=timedelta(hours=hours),
        ),
    )
    return schedule.id


async def reminder(bot: RunningBot, member_id: int, rule: str) -> int:
    schedule = await bot.services.schedules.create(
        None,
        NewSchedule(
            kind=ScheduleKind.REMINDER,
            target_kind=TargetKind.MEMBER,
            target=str(member_id),
            template=TEMPLATE_REMINDER,
            cron=rule,
        ),
    )
    return schedule.id


async def occurrences(bot: RunningBot, schedule_id: int) -> list[tuple[str, str]]:
    """``(due_at, state)`` of a schedule's recorded occurrences, oldest first."""
    found = await db_of(bot).fetchall(
        "SELECT due_at, state FROM schedule_occurrences WHERE schedule_id = ? ORDER BY due_at",
        (schedule_id,),
    )
    return [(r[0], r[1]) for r in found]


async def states(bot: RunningBot, schedule_id: int) -> dict[str, CheckinState]:
    """Each member's state in the newest occurrence of a check-in schedule."""
    ((_, lines), *_) = await bot.services.schedules.checkin_states(None, schedule_id)
    return {line.codename: line.state for line in lines}


async def test_daily_checkin_in_lima_reaches_the_region_at_local_time(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)

    bot.clock.set(LIMA_19 - timedelta(minutes=1))
    await bot.services.schedules.tick()
    assert await occurrences(bot, schedule_id) == []

    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))

    for chat in (PUMA, CONDOR):
        (call,) = bot.fake.sent(chat)
        assert call.params["text"] == CHECKIN
        buttons = call.params["reply_markup"]["inline_keyboard"]
        assert [row[0]["text"] for row in buttons] == ["Estoy bien", "Necesito ayuda"]
    assert bot.fake.sent(JEFE) == []
    assert await occurrences(bot, schedule_id) == [("2026-03-15T00:00:00+00:00", "queued")]


async def press(bot: RunningBot, chat: int, answer: str) -> None:
    call = bot.fake.sent(chat)[0]
    data = call.params["reply_markup"]["inline_keyboard"][0 if answer == "safe" else 1][0]
    # The check-in is the first message the bot sent to this chat.
    first = min(bot.fake.live_messages(chat))
    bot.fake.push_callback(chat, data["callback_data"], message_id=first)
    await bot.settle()


async def test_checkin_answered_missed_and_answered_after_the_window(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))

    await press(bot, PUMA, "safe")
    assert await states(bot, schedule_id) == {
        "Puma": CheckinState.CONFIRMED,
        "Condor": CheckinState.WAITING,
    }

    # The window closes: the coordinator is told once, with who.
    bot.clock.advance(timedelta(hours=2))
    await bot.services.schedules.tick()
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "checkin-missed:", "sent"))
    (warning,) = bot.fake.sent(JEFE)
    assert "no confirmaron a tiempo: Condor." in warning.params["text"]
    assert await states(bot, schedule_id) == {
        "Puma": CheckinState.CONFIRMED,
        "Condor": CheckinState.NOT_CONFIRMED,
    }

    # A late answer is recorded and clears the warning.
    bot.clock.advance(timedelta(minutes=30))
    await press(bot, CONDOR, "safe")
    await until(bot, all_in(bot, "checkin-late:", "sent"))
    assert "Condor respondió tarde" in bot.fake.sent(JEFE)[-1].params["text"]
    assert (await states(bot, schedule_id))["Condor"] is CheckinState.CONFIRMED


async def test_checkin_help_reaches_the_coordinator_at_once(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))

    await press(bot, PUMA, "help")

    await until(bot, all_in(bot, "checkin-help:", "sent"))
    (call,) = bot.fake.sent(JEFE)
    assert "Pidió ayuda en el control de seguridad" in call.params["text"]
    assert "Puma" in call.params["text"]
    assert (await states(bot, schedule_id))["Puma"] is CheckinState.NEEDS_HELP

    # A coordinator takes it (PIN first); a second coordinator is told who did.
    second = 7505
    await link(bot, tmp_path, "Jefa", second, role=Role.COORDINATOR)
    await set_pin_in_chat(bot, JEFE)
    help_message = min(bot.fake.live_messages(JEFE))
    bot.fake.push_callback(JEFE, buttons(call)["Yo lo atiendo"], message_id=help_message)
    await bot.settle()
    assert last(bot.fake, JEFE).params["text"].endswith("<i>Tú atiendes este pedido de ayuda.</i>")
    await until(bot, all_in(bot, "checkin-help-acked:", "sent"))
    assert bot.fake.sent(second)[-1].params["text"] == "Jefe atiende el pedido de ayuda de Puma."
    bot.fake.push_callback(JEFE, buttons(call)["Yo lo atiendo"], message_id=help_message)
    await bot.settle()
    assert "Otra persona ya atiende" in last(bot.fake, JEFE).params["text"]


async def test_a_forged_checkin_answer_changes_nothing(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))

    # The coordinator was not asked in this check-in: their "answer" is refused.
    bot.fake.push_callback(JEFE, "chk:help:1", message_id=1)
    await bot.settle()
    assert await rows(bot, "checkin-help:") == []


@pytest.mark.parametrize("template", ["checkin_help", "no_such_notice"])
async def test_a_schedule_naming_a_notice_it_cannot_send_is_refused(
    running_bot: RunningBot, tmp_path: Path, template: str
) -> None:
    """A schedule stores its notice kind by name; one the tick could not read back (an
    unknown kind, or one needing values a schedule lacks) is refused when created, not
    found out at every occurrence."""
    bot = running_bot
    members = await people(bot, tmp_path)
    with pytest.raises(ValidationError):
        await bot.services.schedules.create(
            None,
            NewSchedule(
                kind=ScheduleKind.REMINDER,
                target_kind=TargetKind.MEMBER,
                target=str(members["Puma"]),
                template=template,
                cron="0 9 * * *",
            ),
        )
    stored = await bot.services.schedules.list_for(None)
    assert [s.kind for s in stored] == [ScheduleKind.DIGEST]  # only the bot's own digest


async def test_blocked_informant_is_unreachable_and_reported(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    bot.fake.fail("sendMessage", status=403, description=BLOCKED, chat_id=CONDOR, times=None)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent", "blocked"))

    assert (await states(bot, schedule_id))["Condor"] is CheckinState.UNREACHABLE
    bot.clock.advance(timedelta(hours=2))
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "checkin-missed:", "sent"))
    text = bot.fake.sent(JEFE)[-1].params["text"]
    assert "no se pudo llegar a: Condor." in text
    assert "no confirmaron a tiempo: Puma." in text


async def test_downtime_spanning_several_occurrences_handles_each_once(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """Down three days: two daily reminders too old (expired), the last sent late, once."""
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        ids = await people(bot, tmp_path)
        schedule_id = await reminder(bot, ids["Puma"], "0 9 * * *")  # 09:00 Lima = 14:00 UTC
    clock.advance(timedelta(days=3))  # 2026-03-17 15:00 UTC, 10:00 in Lima
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await bot.services.schedules.tick()
        await until(bot, all_in(bot, "sched:", "sent"))
        await bot.services.schedules.tick()
        assert await occurrences(bot, schedule_id) == [
            ("2026-03-15T14:00:00+00:00", "expired"),
            ("2026-03-16T14:00:00+00:00", "expired"),
            ("2026-03-17T14:00:00+00:00", "queued"),
        ]
        assert [c.params["text"] for c in fake_api_server.fake.sent(PUMA)] == [REMINDER]
        schedule = await bot.services.schedules.get(None, schedule_id)
        assert schedule.next_due == datetime(2026, 3, 18, 14, 0, tzinfo=UTC)


async def test_restart_in_the_middle_of_a_due_window_loses_and_repeats_nothing(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """The occurrence is queued, Telegram fails, the bot restarts: sent once, by the next."""
    fake: FakeBotApi = fake_api_server.fake
    clock.set(LIMA_19 - timedelta(minutes=5))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        ids = await people(bot, tmp_path)
        schedule_id = await reminder(bot, ids["Puma"], "0 19 * * *")
        fake.fail("sendMessage", status=502, description="Bad Gateway", chat_id=PUMA)
        clock.set(LIMA_19 + timedelta(minutes=1))
        await bot.services.schedules.tick()
        await until(bot, all_in(bot, "sched:", "errored"))
    clock.advance(timedelta(minutes=2))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await bot.services.schedules.tick()
        await until(bot, all_in(bot, "sched:", "sent"))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await bot.services.schedules.tick()
        assert await occurrences(bot, schedule_id) == [("2026-03-15T00:00:00+00:00", "queued")]
        assert len(await rows(bot, "sched:")) == 1
    assert [c.params["text"] for c in fake.sent(PUMA)] == [REMINDER]


async def test_quiet_hours_defer_reminders_but_not_checkins(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    ids = await people(bot, tmp_path)
    await reminder(bot, ids["Puma"], "0 22 * * *")  # 22:00 Lima: inside the default 21-6
    await checkin(bot, "0 22 * * *")
    bot.clock.set(datetime(2026, 3, 15, 3, 0, tzinfo=UTC))  # 22:00 in Lima
    await bot.services.schedules.tick()
    await bot.fake.wait_for_call("sendMessage", chat_id=PUMA, count=1)
    assert [c.params["text"] for c in bot.fake.sent(PUMA)] == [CHECKIN]

    # 06:00 in Lima: the reminder leaves, late but not dropped.
    bot.clock.set(datetime(2026, 3, 15, 11, 0, tzinfo=UTC))
    sender_of(bot.services).wake()
    await until(bot, all_in(bot, "sched:", "sent"))
    assert [c.params["text"] for c in bot.fake.sent(PUMA)] == [CHECKIN, REMINDER]


async def test_a_schedule_whose_member_was_unlinked_sends_nothing(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    ids = await people(bot, tmp_path)
    schedule_id = await reminder(bot, ids["Puma"], "0 19 * * *")
    bot.fake.push_message(PUMA, "/borrar")
    await bot.settle()
    bot.fake.push_callback(PUMA, "wipe:yes", message_id=bot.last_message_id(PUMA))
    await bot.settle()
    before = len(bot.fake.sent(PUMA))

    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()

    assert await occurrences(bot, schedule_id) == [("2026-03-15T00:00:00+00:00", "no_recipient")]
    assert await rows(bot, "sched:") == []
    assert len(bot.fake.sent(PUMA)) == before


async def test_another_zone_follows_its_daylight_saving(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """Madrid moves its clocks on 2026-03-29: 19:00 local is 18:00 UTC, then 17:00 UTC."""
    clock.zone = ZoneInfo("Europe/Madrid")
    clock.set(datetime(2026, 3, 28, 12, 0, tzinfo=UTC))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        ids = await people(bot, tmp_path)
        schedule_id = await reminder(bot, ids["Puma"], "0 19 * * *")
        clock.set(datetime(2026, 3, 29, 17, 30, tzinfo=UTC))
        await bot.services.schedules.tick()
        assert await occurrences(bot, schedule_id) == [
            ("2026-03-28T18:00:00+00:00", "expired"),
            ("2026-03-29T17:00:00+00:00", "queued"),
        ]


# ---------------------------------------------------------------------- in chat (#15.6)


def buttons(call: Call) -> dict[str, str]:
    """Button text → callback data of a sent or edited message."""
    markup = call.params.get("reply_markup") or {"inline_keyboard": []}
    return {b["text"]: b["callback_data"] for row in markup["inline_keyboard"] for b in row}


def last(fake: FakeBotApi, chat: int) -> Call:
    """The newest send or edit in a chat."""
    return [
        c
        for c in fake.calls
        if c.method in {"sendMessage", "editMessageText"} and c.params.get("chat_id") == chat
    ][-1]


async def tap(bot: RunningBot, chat: int, label: str) -> None:
    """Press the button ``label`` of the newest message in ``chat``."""
    data = buttons(last(bot.fake, chat))[label]
    bot.fake.push_callback(chat, data, message_id=bot.last_message_id(chat))
    await bot.settle()


async def say(bot: RunningBot, chat: int, text: str) -> None:
    bot.fake.push_message(chat, text)
    await bot.settle()


async def test_a_coordinator_schedules_a_daily_checkin_with_buttons(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)

    await say(bot, JEFE, "/control")
    await tap(bot, JEFE, "Pichari")
    await tap(bot, JEFE, "19:00")
    assert last(bot.fake, JEFE).params["text"] == "¿Qué días?"
    await tap(bot, JEFE, "Todos los días")
    assert "Cada día a las 19:00, las personas de Pichari" in last(bot.fake, JEFE).params["text"]
    await tap(bot, JEFE, "Guardar")
    assert "Guardado: control de seguridad n.º" in last(bot.fake, JEFE).params["text"]

    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await bot.fake.wait_for_call("sendMessage", chat_id=CONDOR, count=1)
    assert [c.params["text"] for c in bot.fake.sent(PUMA)] == [CHECKIN]


async def test_a_weekly_checkin_on_a_weekday_button_fires_on_that_day_only(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """2026-03-14 is a Saturday: the check-in goes that evening, not on Sunday."""
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)
    await say(bot, JEFE, "/control")
    await tap(bot, JEFE, "Pichari")
    await tap(bot, JEFE, "19:00")
    await tap(bot, JEFE, "sábado")
    assert last(bot.fake, JEFE).params["text"].startswith("Cada sábado a las 19:00")
    await tap(bot, JEFE, "Guardar")
    await say(bot, JEFE, "/programados")
    assert ": Control de seguridad, cada sábado a las 19:00" in last(bot.fake, JEFE).params["text"]

    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await bot.fake.wait_for_call("sendMessage", chat_id=PUMA, count=1)
    bot.clock.set(LIMA_19 + timedelta(days=1))
    await bot.services.schedules.tick()
    bot.clock.set(LIMA_19 + timedelta(days=7))
    await bot.services.schedules.tick()
    await bot.fake.wait_for_call("sendMessage", chat_id=PUMA, count=2)
    assert [c.params["text"] for c in bot.fake.sent(PUMA)] == [CHECKIN, CHECKIN]


async def test_programados_shows_states_and_pauses_resumes_and_stops(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))
    await press(bot, PUMA, "safe")
    bot.clock.advance(timedelta(minutes=1))
    await set_pin_in_chat(bot, JEFE)

    await say(bot, JEFE, "/programados")
    listing = last(bot.fake, JEFE)
    assert (
        f"n.º {schedule_id}: Control de seguridad, cada día a las 19:00"
        in (listing.params["text"])
    )
    await tap(bot, JEFE, f"Ver n.º {schedule_id}")
    view = last(bot.fake, JEFE).params["text"]
    assert "Están bien: Puma" in view
    assert "Esperando respuesta: Condor" in view

    await tap(bot, JEFE, "Pausar")
    assert "en pausa" in last(bot.fake, JEFE).params["text"]
    view_id = bot.last_message_id(JEFE)
    bot.clock.set(LIMA_19 + timedelta(days=1))
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "checkin-missed:", "sent"))
    assert len(bot.fake.sent(PUMA)) == 1  # paused: the next day's check-in does not go

    await open_pin_session(bot, JEFE)  # the clock moved a day: a new session
    bot.fake.push_callback(JEFE, f"sch:r:{schedule_id}", message_id=view_id)
    await bot.settle()
    assert "en pausa" not in last(bot.fake, JEFE).params["text"]
    await tap(bot, JEFE, "Detener")
    assert "¿Detener para siempre" in last(bot.fake, JEFE).params["text"]
    await tap(bot, JEFE, "Sí, detener")
    assert f"Detenido: n.º {schedule_id}." in last(bot.fake, JEFE).params["text"]
    bot.clock.set(LIMA_19 + timedelta(days=2))
    await bot.services.schedules.tick()
    assert len(bot.fake.sent(PUMA)) == 1
    assert await occurrences(bot, schedule_id) == [("2026-03-15T00:00:00+00:00", "queued")]


async def test_reminders_from_chat_reach_the_informant_who_can_list_them(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await set_pin_in_chat(bot, JEFE)

    await say(bot, JEFE, "/recordar puma 2026-03-20 10:00 cita")
    preview = last(bot.fake, JEFE).params["text"]
    assert preview.startswith("Recordatorio para Puma: Cita, el 20/03/2026 10:00.")
    await tap(bot, JEFE, "Guardar")
    assert last(bot.fake, JEFE).params["text"] == "Guardado: 2 recordatorios."

    await say(bot, PUMA, "/recordatorios")
    assert bot.fake.sent(PUMA)[-1].params["text"] == (
        "Tus próximos recordatorios:\n"
        "19/03/2026 10:00: Cita, el 20/03/2026 10:00.\n"
        "20/03/2026 08:00: Cita, el 20/03/2026 10:00."
    )

    bot.clock.set(datetime(2026, 3, 19, 15, 0, tzinfo=UTC))  # 10:00 in Lima, a day before
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))
    assert bot.fake.sent(PUMA)[-1].params["text"] == REMINDER
    await say(bot, PUMA, "/recordatorios")
    assert bot.fake.sent(PUMA)[-1].params["text"].count("Cita") == 1


PUMA_CLAIM = "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,2026-03-01,,"


async def test_a_reminder_attached_to_a_claim_reaches_its_informant(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await seed_claims(bot.services, PUMA_CLAIM)
    await set_pin_in_chat(bot, JEFE)

    await say(bot, JEFE, "/recordar r-2016-0007 2026-03-20 10:00 pago")
    assert (
        last(bot.fake, JEFE)
        .params["text"]
        .startswith(
            "Recordatorio para quien tiene el reclamo R-2016-0007: Fecha de pago prometida,"
            " el 20/03/2026 10:00."
        )
    )
    await tap(bot, JEFE, "Guardar")
    assert last(bot.fake, JEFE).params["text"] == "Guardado: 2 recordatorios."

    await say(bot, PUMA, "/recordatorios")
    assert (
        "Fecha de pago prometida, el 20/03/2026 10:00." in (bot.fake.sent(PUMA)[-1].params["text"])
    )
    bot.clock.set(datetime(2026, 3, 19, 15, 0, tzinfo=UTC))
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))
    assert bot.fake.sent(PUMA)[-1].params["text"] == REMINDER


async def test_schedules_outside_the_coordinators_regions_are_refused(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    await seed_region(bot.services, "Llochegua")
    other = 7504
    code = await seed_invite(bot.services, "Otro", role=Role.COORDINATOR, region="Llochegua")
    await bot.register(other, code)
    await set_pin_in_chat(bot, other)

    await say(bot, other, "/recordar Puma 2026-03-20 10:00 cita")
    refused = "No encontré ese nombre clave ni ese reclamo en tus regiones."
    assert last(bot.fake, other).params["text"] == refused
    await seed_claims(bot.services, PUMA_CLAIM)
    await say(bot, other, "/recordar R-2016-0007 2026-03-20 10:00 pago")
    assert last(bot.fake, other).params["text"] == refused
    # A forged "stop" for Pichari's check-in changes nothing.
    bot.fake.push_callback(other, f"sch:xx:{schedule_id}", message_id=1)
    await bot.settle()
    schedule = await bot.services.schedules.get(None, schedule_id)
    assert schedule.state.value == "active"
    assert "Este menú ya no está disponible" in last(bot.fake, other).params["text"]


# ---------------------------------------------------------------------- the digest (#15.3)

#: 07:00 in Lima, the default CHASKI_DIGEST_HOUR.
DIGEST_AT = datetime(2026, 3, 15, 12, 0, tzinfo=UTC)


async def test_daily_digest_reports_what_each_coordinator_must_see_and_nothing_else(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await seed_region(bot.services, "Llochegua")
    code = await seed_invite(bot.services, "Otro", role=Role.COORDINATOR, region="Llochegua")
    await bot.register(7504, code)
    await seed_claims(
        bot.services,
        "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,2026-03-01,,",
    )
    await checkin(bot)
    bot.fake.fail("sendMessage", status=403, description=BLOCKED, chat_id=CONDOR, times=None)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent", "blocked"))
    bot.clock.advance(timedelta(hours=2))
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "checkin-missed:", "sent"))
    (digest_schedule,) = await bot.services.schedules.uow.schedules.of_kind(ScheduleKind.DIGEST)
    key = f"sched:{digest_schedule.id}:"

    bot.clock.set(DIGEST_AT - timedelta(minutes=1))
    await bot.services.schedules.tick()
    assert await rows(bot, key) == []
    bot.clock.set(DIGEST_AT)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, key, "sent"))
    await bot.services.schedules.tick()

    (digest,) = [
        c.params["text"] for c in bot.fake.sent(JEFE) if "Resumen del día" in c.params["text"]
    ]
    assert digest.startswith("<b>Resumen del día</b>")
    assert "Atrasados respecto a la fecha prometida (1): R-2016-0007 (14 días)." in digest
    assert "Bloquearon el bot: Condor." in digest
    assert "No confirmaron un control de seguridad: Condor, Puma." in digest
    # One row: once however many ticks, and none for Llochegua's coordinator.
    assert len(await rows(bot, key)) == 1
    # Llochegua has nothing to report: nothing sent to its coordinator.
    assert not any("Resumen del día" in c.params["text"] for c in bot.fake.sent(7504))


async def test_digest_hour_is_configurable_and_quiet_hours_hold_it(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """CHASKI_DIGEST_HOUR=22 falls in the quiet hours: it leaves at 06:00, not dropped."""
    settings_hour = 22
    async with bot_process(fake_api_server, tmp_path, clock, digest_hour=settings_hour) as bot:
        await people(bot, tmp_path)
        await seed_claims(
            bot.services,
            "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,2026-03-01,,",
        )
        clock.set(datetime(2026, 3, 15, 3, 0, tzinfo=UTC))  # 22:00 in Lima
        await bot.services.schedules.tick()
        assert await rows(bot, "sched:") != []
        assert fake_api_server.fake.sent(JEFE) == []
        clock.set(datetime(2026, 3, 15, 11, 0, tzinfo=UTC))  # 06:00 in Lima
        sender_of(bot.services).wake()
        await fake_api_server.fake.wait_for_call("sendMessage", chat_id=JEFE, count=1)
        # Computed at 22:00 on the 14th in Lima: 13 days late then.
    assert "R-2016-0007 (13 días)" in fake_api_server.fake.sent(JEFE)[0].params["text"]


async def test_the_nightly_purge_removes_old_occurrences_and_ended_schedules(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    schedule_id = await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await press_when_sent(bot, PUMA)
    await bot.services.schedules.cancel(None, schedule_id)

    report = await bot.services.retention.purge(LIMA_19 + timedelta(days=29))
    assert report.deleted["schedule_occurrences"] == 0
    report = await bot.services.retention.purge(LIMA_19 + timedelta(days=31))
    assert report.deleted["schedule_occurrences"] == 1
    assert report.deleted["checkin_answers"] == 2
    assert report.deleted["schedules"] == 1  # cancelled, and its occurrences gone
    assert await occurrences(bot, schedule_id) == []


async def press_when_sent(bot: RunningBot, chat: int) -> None:
    await bot.fake.wait_for_call("sendMessage", chat_id=chat, count=1)
    await press(bot, chat, "safe")


async def test_digest_names_checkin_help_nobody_took(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await people(bot, tmp_path)
    await checkin(bot)
    bot.clock.set(LIMA_19)
    await bot.services.schedules.tick()
    await until(bot, all_in(bot, "sched:", "sent"))
    await press(bot, PUMA, "help")
    await until(bot, all_in(bot, "checkin-help:", "sent"))

    bot.clock.set(DIGEST_AT)
    await bot.services.schedules.tick()
    (digest_schedule,) = await bot.services.schedules.uow.schedules.of_kind(ScheduleKind.DIGEST)
    await until(bot, all_in(bot, f"sched:{digest_schedule.id}:", "sent"))
    digest = bot.fake.sent(JEFE)[-1].params["text"]
    assert "Pedidos de ayuda que nadie atendió: Puma." in digest
    assert "No confirmaron un control de seguridad: Condor." in digest
