"""Safety alerts end to end: real Application, fake Bot API, real SQLite (M-14, T-10, T-11, T-14).

Coordinators compose in chat; the outbox sender (a live task) delivers to the fake Bot API;
tests wait on the fake's recorded calls, never on sleeps. Coordinators create their PIN in the
chat first (M-05: mandatory before any staff action), which opens a 10-minute session; tests
that move the clock further open a new one through the PIN service.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from datetime import datetime, timedelta

import pytest

from bot.domain.alerts import Alert, AlertContent, AlertStatus, HelpRequest, Severity
from bot.domain.models import Lang, Role
from bot.services.alert_answers import AlertAnswers
from handlers.alerts.views import answer_pages, render_answers_page
from tests.conftest import (
    LIMA,
    STAFF_PIN,
    RunningBot,
    open_pin_session,
    seed_invite,
    seed_region,
    set_pin_in_chat,
)
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.world import World

PUMA, ZORRO, OSO = 601, 602, 603  # coordinators: Pichari, Pichari, Kimbiri
APU = 605  # the one administrator (region Pichari)
ANA, ROSA, LUIS = 611, 612, 613  # informants: Pichari (es), Pichari (qu), Kimbiri (es)
EXPIRED = "Este menú ya no está disponible. Escribe /menu."
ASK_PIN = "Escribe tu PIN. El bot borrará tu mensaje."
CREATE_PIN_FIRST = "Primero crea tu PIN con /pin."
STAY_HOME_ES = "Quédate en casa hasta nuevo aviso."


@pytest.fixture
async def world(running_bot: RunningBot) -> World:
    services = running_bot.services
    await seed_region(services, "Pichari")
    await seed_region(services, "Kimbiri")
    people = [
        (PUMA, "Puma", Role.COORDINATOR, "Pichari", "es"),
        (ZORRO, "Zorro", Role.COORDINATOR, "Pichari", "es"),
        (OSO, "Oso", Role.COORDINATOR, "Kimbiri", "es"),
        (ANA, "Condor", Role.INFORMANT, "Pichari", "es"),
        (ROSA, "Halcon", Role.INFORMANT, "Pichari", "qu"),
        (LUIS, "Vicuna", Role.INFORMANT, "Kimbiri", "es"),
        (APU, "Apu", Role.ADMIN, "Pichari", "es"),
    ]
    for user_id, codename, role, region, lang in people:
        code = await seed_invite(services, codename, region=region, role=role)
        await running_bot.register(user_id, code, lang)
        if role is not Role.INFORMANT:
            await set_pin_in_chat(running_bot, user_id)
    running_bot.fake.reset_calls()
    return World.of(running_bot)


def buttons(call: Call) -> dict[str, str]:
    """Button text → callback data of a sent or edited message."""
    markup = call.params.get("reply_markup") or {}
    return {
        b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
    }


def rows(call: Call) -> list[list[str]]:
    """Button texts row by row, as the phone lays them out."""
    markup = call.params.get("reply_markup") or {}
    return [[b["text"] for b in row] for row in markup.get("inline_keyboard", [])]


def last_call(world: World, method: str, chat_id: int) -> Call:
    calls = [c for c in world.fake.calls_to(method) if c.params.get("chat_id") == chat_id]
    assert calls, f"no {method} to {chat_id}"
    return calls[-1]


async def compose(
    world: World,
    user_id: int = PUMA,
    *,
    start: str = "/aviso",
    template: str | None = "stay_home",
    region: str = "Pichari",
    severity: str = "warning",
) -> tuple[int, str]:
    """Walk the composition up to the preview; return (preview message id, confirm data)."""
    await world.say(user_id, start)
    if template is not None:
        await world.press(user_id, f"alert:tpl:{template}")
        step = last_call(world, "editMessageText", user_id)
    else:
        step = last_call(world, "sendMessage", user_id)
    message_id = step.params.get("message_id") or world.bot.last_message_id(user_id)
    await world.press(user_id, buttons(step)[region], message_id)
    await world.press(user_id, "alert:regs", message_id)
    await world.press(user_id, f"alert:sev:{severity}", message_id)
    preview = last_call(world, "editMessageText", user_id)
    return message_id, buttons(preview)["Confirmar y enviar"]


# --------------------------------------------------------------------------- template alerts


async def test_template_alert_reaches_each_informant_in_their_language(world: World) -> None:
    message_id, confirm = await compose(world)
    preview = last_call(world, "editMessageText", PUMA).params["text"]
    assert STAY_HOME_ES in preview
    assert "Wasiykipi qipakuy musuq willaykama." in preview  # both languages previewed
    assert "Destinatarios: 2" in preview

    await world.press(PUMA, confirm, message_id)
    [ana] = await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    [rosa] = await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    assert ana.params["text"] == (
        f"<b>¡Atención!</b>\n{STAY_HOME_ES}\n\n¿Estás a salvo? Responde con un botón."
    )
    assert set(buttons(ana)) == {"Estoy bien", "Necesito ayuda"}
    assert ana.params["protect_content"] is True
    # The header, the question and the two buttons carry the Spanish too, one button a row.
    assert rosa.params["text"] == (
        "<b>Musyay!\n¡Atención!</b>\nWasiykipi qipakuy musuq willaykama.\n\n"
        f"<i>{STAY_HOME_ES}</i>\n\n"
        "Allinllachu kachkanki? Huk botonta ñitiy.\n¿Estás a salvo? Responde con un botón."
    )
    assert rows(rosa) == [["Allinllam kachkani / Estoy bien"], ["Yanapaway! / Necesito ayuda"]]
    assert rows(ana) == [["Estoy bien"], ["Necesito ayuda"]]
    assert "Condor" not in ana.params["text"]
    assert "Halcon" not in rosa.params["text"]
    assert world.fake.sent(LUIS) == []  # another region
    assert world.audit_results("alert_create") == ["ok"]

    # The preview message became the live tally.
    await world.run_job("alert-tallies")

    def tally_shows_both_sent(fake: FakeBotApi) -> bool:
        edits = [
            c
            for c in fake.calls_to("editMessageText")
            if c.params.get("chat_id") == PUMA and c.params.get("message_id") == message_id
        ]
        return any("Enviados: 2 de 2" in c.params["text"] for c in edits)

    await world.fake.wait_for(tally_shows_both_sent)


async def test_confirming_twice_creates_one_alert(world: World) -> None:
    message_id, confirm = await compose(world)
    await world.press(PUMA, confirm, message_id)
    await world.press(PUMA, confirm, message_id)
    await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    assert world.count("SELECT COUNT(*) FROM alerts") == 1
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 2


async def test_template_with_values_is_filled_by_command(world: World) -> None:
    await world.say(PUMA, "/aviso")
    await world.press(PUMA, "alert:tpl:avoid_area")
    assert (
        "/aviso_datos el puente | 18:00"
        in last_call(world, "editMessageText", PUMA).params["text"]
    )
    await world.say(PUMA, "/aviso_datos Pi<b>chari | 25:00")
    assert "Escribe el lugar y la hora" in world.fake.texts(PUMA)[-1]
    await world.say(PUMA, "/aviso_datos Llochegua | 18:30")
    step = last_call(world, "sendMessage", PUMA)
    assert "Pichari" in buttons(step)  # the region step follows


# --------------------------------------------------------------------------- approval (M-14)


async def test_free_text_alert_waits_for_an_administrator(world: World) -> None:
    message_id, confirm = await compose(
        world, start="/aviso_texto Cuidado <b>río</b> || Paqtataq mayu", template=None
    )
    preview = last_call(world, "editMessageText", PUMA).params["text"]
    assert "Cuidado &lt;b&gt;río&lt;/b&gt;" in preview  # T-25: rendered literally
    assert "necesita la aprobación de un administrador" in preview
    assert "Pueden aprobarlo: Apu." in preview  # who can approve (issue #12.4)
    await world.press(PUMA, confirm, message_id)
    waiting = last_call(world, "editMessageText", PUMA)
    assert "espera la aprobación" in waiting.params["text"]
    assert set(buttons(waiting)) == {"Retirar el aviso"}

    [note] = await world.fake.wait_for_call("sendMessage", chat_id=APU)
    assert note.params["text"] == "Un aviso espera tu aprobación. Escribe /aprobar."
    assert world.fake.sent(ZORRO) == []  # a peer coordinator is not an approver of free text
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0  # T-14
    assert world.fake.sent(ANA) == []

    # Self-approval: not listed, and a forged button is refused and audited.
    await world.say(PUMA, "/aprobar")
    assert world.fake.texts(PUMA)[-1] == "No hay avisos pendientes."
    alert_id = world.count("SELECT MAX(id) FROM alerts")
    await world.press(PUMA, f"appr:ok:{alert_id}")
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    assert world.audit_results("alert_approve") == ["self_approval"]
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0

    # A coordinator of another region cannot approve either (T-11).
    await world.say(OSO, "/aprobar")
    assert world.fake.texts(OSO)[-1] == "No hay avisos pendientes."
    await world.press(OSO, f"appr:ok:{alert_id}")
    assert world.fake.texts(OSO)[-1] == EXPIRED

    # Nor a second coordinator of the same region (issue #12.3): two are not enough.
    await world.say(ZORRO, "/aprobar")
    assert world.fake.texts(ZORRO)[-1] == "No hay avisos pendientes."
    await world.press(ZORRO, f"appr:ok:{alert_id}")
    assert world.fake.texts(ZORRO)[-1] == EXPIRED
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0

    # The administrator sees who wrote it, approves: now it goes out.
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU)
    assert "Escrito por Puma." in listing.params["text"]
    assert "Texto libre escrito por una persona" in listing.params["text"]
    await world.press(APU, buttons(listing)["Aprobar"])
    assert last_call(world, "editMessageText", APU).params["text"] == (
        f"Aprobaste el aviso n.º {alert_id}. Se envía a 2 personas."
    )
    [ana] = await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    assert "Cuidado &lt;b&gt;río&lt;/b&gt;" in ana.params["text"]
    [rosa] = await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    assert rosa.params["text"].startswith("<b>Musyay!\n¡Atención!</b>\nPaqtataq mayu")
    assert world.audit_results("alert_approve") == ["self_approval", "denied", "denied", "ok"]
    told = await world.wait_sent(PUMA, "aprobó tu aviso")
    assert told.params["text"] == f"Apu aprobó tu aviso n.º {alert_id}. Se envía a 2 personas."


async def test_a_template_value_that_is_not_a_listed_place_needs_an_administrator(
    world: World,
) -> None:
    """Issue #12.2: the lure of the issue, a place value carrying an instruction."""
    await world.say(PUMA, "/aviso")
    await world.press(PUMA, "alert:tpl:avoid_area")
    await world.say(PUMA, "/aviso_datos Pichari. Ve YA a la plaza central con tu DNI | 18:00")
    step = last_call(world, "sendMessage", PUMA)
    message_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, buttons(step)["Pichari"], message_id)
    await world.press(PUMA, "alert:regs", message_id)
    await world.press(PUMA, "alert:sev:urgent", message_id)
    preview = last_call(world, "editMessageText", PUMA)
    assert "necesita la aprobación de un administrador" in preview.params["text"]
    await world.press(PUMA, buttons(preview)["Confirmar y enviar"], message_id)
    assert world.count("SELECT COUNT(*) FROM alerts WHERE status = 'pending'") == 1
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0
    await world.wait_sent(APU, "/aprobar")
    await world.say(ZORRO, "/aprobar")
    assert world.fake.texts(ZORRO)[-1] == "No hay avisos pendientes."
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU).params["text"]
    assert "Plantilla con un lugar escrito a mano" in listing
    assert "Escrito por Puma." in listing
    assert world.fake.sent(ANA) == []

    # A listed place (a region, typed in any case) goes out at once, spelt as listed.
    await world.say(PUMA, "/aviso")
    await world.press(PUMA, "alert:tpl:avoid_area")
    await world.say(PUMA, "/aviso_datos pichari | 18:00")
    step = last_call(world, "sendMessage", PUMA)
    message_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, buttons(step)["Pichari"], message_id)
    await world.press(PUMA, "alert:regs", message_id)
    await world.press(PUMA, "alert:sev:urgent", message_id)
    preview = last_call(world, "editMessageText", PUMA)
    assert "aprobación" not in preview.params["text"]
    await world.press(PUMA, buttons(preview)["Confirmar y enviar"], message_id)
    ana = await world.wait_sent(ANA, "Pichari")
    assert "Zona que debes evitar hasta las 18:00: Pichari." in ana.params["text"]
    assert "plaza" not in ana.params["text"]


async def test_an_alert_nobody_can_approve_cannot_be_confirmed(world: World) -> None:
    """Issue #12.4: the sole administrator's alert to two regions, or free text."""
    await world.say(APU, "/aviso")
    await world.press(APU, "alert:tpl:stay_home")
    step = last_call(world, "editMessageText", APU)
    message_id = step.params["message_id"]
    await world.press(APU, buttons(step)["Pichari"], message_id)
    step = last_call(world, "editMessageText", APU)
    await world.press(APU, buttons(step)["Kimbiri"], message_id)
    await world.press(APU, "alert:regs", message_id)
    await world.press(APU, "alert:sev:urgent", message_id)
    preview = last_call(world, "editMessageText", APU)
    assert "necesita la aprobación de otra persona" in preview.params["text"]
    assert "Nadie puede aprobarlo ahora" in preview.params["text"]
    assert set(buttons(preview)) == {"Cancelar"}

    # A forged or old confirmation changes nothing either.
    nonce = world.count("SELECT COUNT(*) FROM alert_drafts")  # the draft is still there
    assert nonce == 1
    with closing(sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)) as conn:
        [draft_nonce] = conn.execute("SELECT nonce FROM alert_drafts").fetchone()
    query_id = await world.press_query(APU, f"alert:ok:{draft_nonce}", message_id)
    toast = [
        c
        for c in world.fake.calls_to("answerCallbackQuery")
        if c.params["callback_query_id"] == query_id
    ]
    assert toast[-1].params["text"] == "Nadie puede aprobar este aviso. No se envió."
    assert world.count("SELECT COUNT(*) FROM alerts") == 0
    assert world.audit_results("alert_create") == ["no_approver"]

    # Free text from the only administrator: nobody else may approve it.
    await world.press(APU, "alert:no", message_id)
    await world.say(APU, "/aviso_texto Cuidado || Paqtataq")
    step = last_call(world, "sendMessage", APU)
    message_id = world.bot.last_message_id(APU)
    await world.press(APU, buttons(step)["Pichari"], message_id)
    await world.press(APU, "alert:regs", message_id)
    await world.press(APU, "alert:sev:info", message_id)
    preview = last_call(world, "editMessageText", APU)
    assert "Nadie puede aprobarlo ahora" in preview.params["text"]
    assert "Confirmar y enviar" not in buttons(preview)


async def test_the_author_withdraws_a_pending_alert(world: World) -> None:
    message_id, confirm = await compose(
        world, start="/aviso_texto Cuidado con el río || Paqtataq mayu", template=None
    )
    await world.press(PUMA, confirm, message_id)
    withdraw = buttons(last_call(world, "editMessageText", PUMA))["Retirar el aviso"]
    alert_id = world.count("SELECT MAX(id) FROM alerts")

    await world.press(ZORRO, withdraw)  # someone else's alert: refused, audited
    assert world.fake.texts(ZORRO)[-1] == EXPIRED
    await world.press(PUMA, withdraw, message_id)
    assert last_call(world, "editMessageText", PUMA).params["text"] == (
        f"Retiraste el aviso n.º {alert_id}. No se enviará."
    )
    assert world.audit_results("alert_withdraw") == ["denied", "ok"]
    await world.say(APU, "/aprobar")
    assert world.fake.texts(APU)[-1] == "No hay avisos pendientes."
    await world.press(APU, f"appr:ok:{alert_id}")
    assert "Otra persona ya decidió" in last_call(world, "editMessageText", APU).params["text"]
    await world.say(PUMA, "/alertas")
    assert "Pichari · Retirado" in world.fake.texts(PUMA)[-1]
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0


async def test_an_urgent_alert_waiting_for_approval_escalates_to_the_administrators(
    world: World,
) -> None:
    message_id, confirm = await compose(
        world,
        start="/aviso_texto Cuidado con el río || Paqtataq mayu",
        template=None,
        severity="urgent",
    )
    await world.press(PUMA, confirm, message_id)
    await world.wait_sent(APU, "Un aviso espera tu aprobación")
    alert_id = world.count("SELECT MAX(id) FROM alerts")

    world.bot.clock.advance(timedelta(minutes=4))
    await world.run_job("alert-approvals")
    assert world.count("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'alert-esc%'") == 0
    world.bot.clock.advance(timedelta(minutes=2))
    await world.run_job("alert-approvals")
    await world.run_job("alert-approvals")  # once per administrator, however often it runs
    escalated = await world.wait_sent(APU, "urgente")
    assert escalated.params["text"] == (
        f"<b>El aviso urgente n.º {alert_id} espera aprobación desde hace 6 minutos."
        " Escribe /aprobar.</b>"
    )
    assert world.count("SELECT COUNT(*) FROM outbox WHERE idempotency_key LIKE 'alert-esc%'") == 1
    assert all("urgente" not in text for text in world.fake.texts(ZORRO))


def _long_text(sentence: str, length: int) -> str:
    """``sentence`` repeated and cut to exactly ``length`` characters (no edge spaces)."""
    text = (sentence * (length // len(sentence) + 2))[:length]
    return text[:-1] + "." if text.endswith(" ") else text


async def test_free_text_of_a_thousand_characters_in_each_language_is_accepted(
    world: World,
) -> None:
    """Issue #12.1: the documented 1 000 characters per language pass the inbound cap."""
    await world.say(
        PUMA,
        "/aviso_texto No habrá reunión mañana en la plaza || Paqarin manam huñunakuy kanqachu",
    )
    assert "¿A qué regiones va el aviso?" in world.fake.texts(PUMA)[-1]

    spanish = _long_text("No habrá reunión mañana en la plaza central. ", 1000)
    quechua = _long_text("Paqarin manam huñunakuy kanqachu plazapi. ", 1000)
    message_id, confirm = await compose(
        world, start=f"/aviso_texto {spanish}\n||\n{quechua}", template=None
    )
    preview = last_call(world, "editMessageText", PUMA).params["text"]
    assert spanish in preview
    assert quechua in preview
    await world.press(PUMA, confirm, message_id)
    assert world.count("SELECT COUNT(*) FROM alerts WHERE status = 'pending'") == 1

    # One character more in either language: the hint, not "no disponible".
    for text in (f"{spanish}x || {quechua}", f"{spanish} || {quechua}x"):
        await world.say(PUMA, f"/aviso_texto {text}")
        assert "1000 caracteres como máximo" in world.fake.texts(PUMA)[-1]
    # Other commands keep the short cap (M-09).
    await world.say(PUMA, "/aviso_datos " + "a" * 65)
    assert world.fake.texts(PUMA)[-1] == "Este comando no está disponible. Escribe /menu."


async def test_cross_region_target_is_refused_and_audited(world: World) -> None:
    await world.say(OSO, "/aviso")
    await world.press(OSO, "alert:tpl:stay_home")
    step = last_call(world, "editMessageText", OSO)
    assert set(buttons(step)) >= {"Kimbiri"}
    assert "Pichari" not in buttons(step)  # only own regions are offered
    pichari = next(
        r.id for r in await world.bot.services.alerts.uow.regions.list_all() if r.name == "Pichari"
    )
    await world.press(OSO, f"alert:reg:{pichari}", step.params["message_id"])
    assert world.fake.texts(OSO)[-1] == EXPIRED
    assert world.audit_results("send_alert") == ["denied"]


# --------------------------------------------------------------------------- answers and help


async def _sent_alert(world: World) -> tuple[int, int]:
    """Send a template alert; return (alert id, the preview/tally message id)."""
    message_id, confirm = await compose(world)
    await world.press(PUMA, confirm, message_id)
    await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    return world.count("SELECT MAX(id) FROM alerts"), message_id


async def test_need_help_reaches_the_regions_coordinators_and_one_acknowledges(
    world: World,
) -> None:
    alert_id, _ = await _sent_alert(world)
    rosa_message = world.fake.sent(ROSA)[0]
    await world.press(ROSA, buttons(rosa_message)["Yanapaway! / Necesito ayuda"])
    assert (
        "Coordinadorniykiman willasqañam."
        in last_call(world, "editMessageText", ROSA).params["text"]
    )

    puma_help = await world.wait_sent(PUMA, "pidió ayuda")
    zorro_help = await world.wait_sent(ZORRO, "pidió ayuda")
    for call in (puma_help, zorro_help):
        assert call.params["text"] == (
            f"<b>Halcon pidió ayuda al responder el aviso n.º {alert_id}.</b>"
        )
    assert world.fake.sent(OSO) == []
    ack = buttons(puma_help)["Yo lo atiendo"]

    # Forged acknowledgements: an informant, a coordinator of another region (T-10).
    await world.press(ANA, ack)
    assert world.fake.texts(ANA)[-1] == EXPIRED
    await world.press(OSO, ack)
    assert world.fake.texts(OSO)[-1] == EXPIRED

    await world.press(PUMA, ack)
    assert "Tú atiendes este pedido" in last_call(world, "editMessageText", PUMA).params["text"]
    told = await world.wait_sent(ZORRO, "atiende el pedido")
    assert told.params["text"] == "Puma atiende el pedido de ayuda de Halcon."
    await world.press(ZORRO, ack)
    assert "Otra persona ya atiende" in last_call(world, "editMessageText", ZORRO).params["text"]
    assert world.audit_results("help_ack") == ["denied", "ok"]


@pytest.mark.polling  # end to end through getUpdates, as in production
async def test_answers_are_idempotent_and_only_from_recipients(world: World) -> None:
    alert_id, _ = await _sent_alert(world)
    safe = buttons(world.fake.sent(ANA)[0])["Estoy bien"]
    await world.press(ANA, safe)
    await world.press(ANA, safe)  # double tap (T-33)
    edited = last_call(world, "editMessageText", ANA)
    assert set(buttons(edited)) == {"Necesito ayuda"}  # help stays available
    assert world.count("SELECT COUNT(*) FROM alert_deliveries WHERE answer = 'safe'") == 1
    assert world.audit_results("alert_answer") == ["safe"]

    # Forged: another region's informant, a random id, a coordinator (T-10).
    await world.press(LUIS, f"alert:safe:{alert_id}")
    assert world.fake.texts(LUIS)[-1] == EXPIRED
    await world.press(LUIS, "alert:help:99999")
    assert world.fake.texts(LUIS)[-1] == EXPIRED
    await world.press(ZORRO, f"alert:help:{alert_id}")
    assert world.fake.texts(ZORRO)[-1] == EXPIRED
    assert world.audit_results("alert_answer") == ["safe", "denied", "denied"]
    answered = world.fake.calls_to("answerCallbackQuery")
    assert len(answered) >= 5  # every press answered, spinner stops


async def test_quiet_hours_defer_and_an_unlinked_recipient_is_cancelled(world: World) -> None:
    world.bot.clock.set(datetime(2026, 3, 14, 22, 0, tzinfo=LIMA))
    await open_pin_session(world.bot, PUMA)  # the afternoon's session has long ended
    await open_pin_session(world.bot, ZORRO)
    message_id, confirm = await compose(world)
    planned = "Sale a las 06:00, al terminar las horas de descanso."
    assert planned in last_call(world, "editMessageText", PUMA).params["text"]  # #12.5
    await world.press(PUMA, confirm, message_id)
    assert (
        world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND not_before IS NOT NULL")
        == 2
    )

    def tally_shows_the_planned_time(fake: FakeBotApi) -> bool:
        return any(
            planned in c.params["text"]
            for c in fake.calls_to("editMessageText")
            if c.params.get("message_id") == message_id
        )

    await world.fake.wait_for(tally_shows_the_planned_time)
    await world.say(ZORRO, "/alertas")
    listing = world.fake.texts(ZORRO)[-1]
    assert "Advertencia · Pichari · Sale a las 06:00" in listing
    assert planned in listing
    rosa = await world.member(ROSA)
    await world.bot.services.alerts.uow.members.unlink(rosa.id)

    world.bot.clock.set(datetime(2026, 3, 15, 6, 1, tzinfo=LIMA))
    await world.run_job("outbox-housekeeping")
    await world.fake.wait_for_call("sendMessage", chat_id=ANA)

    def cancelled(fake: FakeBotApi) -> bool:
        return world.count("SELECT COUNT(*) FROM outbox WHERE status = 'cancelled'") == 1

    await world.fake.wait_for(cancelled)
    assert world.fake.sent(ROSA) == []
    await world.run_job("alert-tallies")

    def tally_shows_cancelled(fake: FakeBotApi) -> bool:
        return any(
            "Cancelados: 1" in c.params["text"]
            for c in fake.calls_to("editMessageText")
            if c.params.get("message_id") == message_id
        )

    await world.fake.wait_for(tally_shows_cancelled)


async def _compose_and_confirm(world: World) -> tuple[int, int]:
    message_id, confirm = await compose(world)
    await world.press(PUMA, confirm, message_id)
    return world.count("SELECT MAX(id) FROM alerts"), message_id


async def test_quiet_hours_are_shown_to_the_approver(world: World) -> None:
    world.bot.clock.set(datetime(2026, 3, 14, 22, 0, tzinfo=LIMA))
    await open_pin_session(world.bot, PUMA)
    await open_pin_session(world.bot, APU)
    message_id, confirm = await compose(
        world, start="/aviso_texto Cuidado con el río || Paqtataq mayu", template=None
    )
    await world.press(PUMA, confirm, message_id)
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU)
    planned = "Sale a las 06:00, al terminar las horas de descanso."
    assert planned in listing.params["text"]
    await world.press(APU, buttons(listing)["Aprobar"])
    assert last_call(world, "editMessageText", APU).params["text"] == (
        f"Aprobaste el aviso n.º 1. Se envía a 2 personas.\n{planned}"
    )


async def test_one_recipient_is_one_person_and_a_coordinator_approves_a_wide_template(
    world: World,
) -> None:
    """An administrator's template alert to Kimbiri: its coordinator may approve it (#12.3),
    and one recipient reads "1 persona" (#12.5)."""
    await world.say(APU, "/aviso")
    await world.press(APU, "alert:tpl:stay_home")
    step = last_call(world, "editMessageText", APU)
    message_id = step.params["message_id"]
    await world.press(APU, buttons(step)["Kimbiri"], message_id)
    await world.press(APU, "alert:regs", message_id)
    await world.press(APU, "alert:sev:warning", message_id)
    preview = last_call(world, "editMessageText", APU)
    assert "necesita la aprobación de otra persona" in preview.params["text"]
    assert "Pueden aprobarlo: Oso." in preview.params["text"]
    await world.press(APU, buttons(preview)["Confirmar y enviar"], message_id)
    await world.wait_sent(OSO, "/aprobar")
    await world.say(OSO, "/aprobar")
    listing = last_call(world, "sendMessage", OSO)
    assert "Escrito por Apu." in listing.params["text"]
    await world.press(OSO, buttons(listing)["Aprobar"])
    assert last_call(world, "editMessageText", OSO).params["text"] == (
        "Aprobaste el aviso n.º 1. Se envía a 1 persona."
    )
    told = await world.wait_sent(APU, "aprobó tu aviso")
    assert told.params["text"] == "Oso aprobó tu aviso n.º 1. Se envía a 1 persona."
    await world.fake.wait_for_call("sendMessage", chat_id=LUIS)


async def test_an_information_alert_does_not_ask_whether_one_is_safe(world: World) -> None:
    message_id, confirm = await compose(world, template="meeting_cancelled", severity="info")
    await world.press(PUMA, confirm, message_id)
    [ana] = await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    assert ana.params["text"] == "<b>Aviso</b>\nLa reunión de seguridad está cancelada."
    assert buttons(ana) == {}
    assert ana.params["disable_notification"] is True
    [rosa] = await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    assert "Allinllachu" not in rosa.params["text"]
    assert buttons(rosa) == {}
    # Nothing to answer, so the author's summary counts deliveries only (#12.5).
    await world.run_job("alert-tallies")

    def summaries(fake: FakeBotApi) -> list[str]:
        edits = fake.calls_to("editMessageText")
        texts = [str(c.params.get("text", "")) for c in edits if c.params.get("chat_id") == PUMA]
        return [text for text in texts if "Enviados: 2 de 2" in text]

    await world.fake.wait_for(lambda fake: bool(summaries(fake)), timeout=10)
    assert "Sin respuesta" not in summaries(world.fake)[-1]
    await world.say(PUMA, "/alertas")
    listed = world.fake.texts(PUMA)[-1]
    assert "Enviados: 2 de 2" in listed
    assert "Sin respuesta" not in listed
    assert "Están bien" not in listed


async def test_alert_list_shows_recent_alerts_with_tallies(world: World) -> None:
    await _sent_alert(world)
    await world.say(ZORRO, "/alertas")
    text = world.fake.texts(ZORRO)[-1]
    assert "Aviso n.º 1" in text
    assert "Advertencia · Pichari · Enviado" in text
    await world.say(OSO, "/alertas")
    assert world.fake.texts(OSO)[-1] == "No hubo avisos en las últimas 24 horas."
    await world.say(ANA, "/alertas")
    assert world.fake.texts(ANA)[-1] == "Este comando no está disponible. Escribe /menu."


async def test_stale_draft_buttons_are_refused(world: World) -> None:
    message_id, confirm = await compose(world)
    world.bot.clock.advance(timedelta(hours=2))
    await open_pin_session(world.bot, PUMA)  # a fresh session: only the draft is stale
    await world.press(PUMA, confirm, message_id)
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    assert world.count("SELECT COUNT(*) FROM alerts") == 0


async def test_compose_edge_cases_guide_the_coordinator(world: World) -> None:
    await world.say(PUMA, "/aviso_datos Pichari | 18:00")
    assert world.fake.texts(PUMA)[-1] == "Primero escribe /aviso."
    await world.say(PUMA, "/aviso_texto solo español")
    assert "separados por ||" in world.fake.texts(PUMA)[-1]
    await world.say(PUMA, "/aviso_texto hola\u202e || rimay")  # T-24: bidi control
    assert "separados por ||" in world.fake.texts(PUMA)[-1]
    await world.say(PUMA, "/aviso")
    await world.press(PUMA, "alert:tpl:stay_home")
    query_id = await world.press_query(PUMA, "alert:regs")  # no region chosen yet
    toast = [
        c
        for c in world.fake.calls_to("answerCallbackQuery")
        if c.params["callback_query_id"] == query_id
    ]
    assert toast[-1].params["text"] == "Elige al menos una región."
    await world.press(PUMA, "alert:tpl:go_to_the_square")  # forged template
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    await world.press(PUMA, "alert:bogus")
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    await world.press(PUMA, "alert:no")
    assert last_call(world, "editMessageText", PUMA).params["text"] == "Aviso cancelado."


async def test_rejected_alert_is_never_sent(world: World) -> None:
    message_id, confirm = await compose(
        world, start="/aviso_texto Vengan a la plaza || Plazaman hamuychik", template=None
    )
    await world.press(PUMA, confirm, message_id)
    await world.wait_sent(APU, "/aprobar")
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU)
    listing_id = world.bot.last_message_id(APU)
    await world.press(APU, buttons(listing)["Rechazar"], listing_id)
    why = last_call(world, "editMessageText", APU)
    assert "¿Por qué rechazas el aviso" in why.params["text"]
    assert world.audit_results("alert_reject") == []  # nothing decided before the reason
    await world.press(APU, buttons(why)["Contenido dudoso"], listing_id)
    assert "Rechazaste el aviso" in last_call(world, "editMessageText", APU).params["text"]
    await world.press(APU, buttons(listing)["Aprobar"], listing_id)  # a late second tap
    assert "Otra persona ya decidió" in last_call(world, "editMessageText", APU).params["text"]
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0
    assert world.audit_results("alert_reject") == ["ok"]
    # The author learns who refused it and why (issue #12.4).
    told = await world.wait_sent(PUMA, "rechazó tu aviso")
    alert_id = world.count("SELECT MAX(id) FROM alerts")
    assert told.params["text"] == (
        f"Apu rechazó tu aviso n.º {alert_id}. Motivo: Contenido dudoso. No se enviará."
    )


# --------------------------------------------------------------------------- PIN gate (M-05)


async def test_a_coordinator_without_a_pin_is_told_to_create_one_and_nothing_is_composed(
    world: World,
) -> None:
    kuntur = 604
    code = await seed_invite(world.bot.services, "Kuntur", region="Pichari", role=Role.COORDINATOR)
    await world.bot.register(kuntur, code)
    world.fake.reset_calls()

    for command in ("/aviso", "/aviso_texto hola || rimay", "/aviso_datos x | y", "/aprobar"):
        await world.say(kuntur, command)
        last = last_call(world, "sendMessage", kuntur)
        assert last.params["text"] == CREATE_PIN_FIRST
        assert buttons(last) == {}
    await world.say(kuntur, "/alertas")
    assert world.fake.texts(kuntur)[-1] == CREATE_PIN_FIRST
    query_id = await world.press_query(kuntur, "alert:tpl:stay_home")
    assert world.fake.texts(kuntur)[-1] == CREATE_PIN_FIRST
    assert query_id in [
        c.params["callback_query_id"] for c in world.fake.calls_to("answerCallbackQuery")
    ]
    assert world.count("SELECT COUNT(*) FROM alert_drafts") == 0
    assert world.count("SELECT COUNT(*) FROM alerts") == 0
    assert world.fake.calls_to("editMessageText") == []


async def test_a_coordinator_without_a_session_is_asked_for_the_pin_then_composes(
    world: World,
) -> None:
    world.bot.clock.advance(timedelta(minutes=11))  # the session opened by /pin has ended
    await world.say(PUMA, "/aviso")
    assert world.fake.texts(PUMA)[-1] == ASK_PIN
    assert world.count("SELECT COUNT(*) FROM alert_drafts") == 0
    typed = world.fake.push_message(PUMA, STAFF_PIN)
    await world.bot.settle()
    # The command resumes by itself (issue #12.6): the templates, no need to repeat /aviso.
    resumed = last_call(world, "sendMessage", PUMA)
    assert resumed.params["text"].startswith("Elige una plantilla.")
    assert "Quedarse en casa" in buttons(resumed)
    assert typed not in world.fake.live_messages(PUMA)  # the PIN was deleted at once

    message_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, "alert:tpl:stay_home", message_id)
    await world.press(PUMA, buttons(last_call(world, "editMessageText", PUMA))["Pichari"])
    await world.press(PUMA, "alert:regs", message_id)
    await world.press(PUMA, "alert:sev:warning", message_id)
    confirm = buttons(last_call(world, "editMessageText", PUMA))["Confirmar y enviar"]
    await world.press(PUMA, confirm, message_id)
    await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    assert world.count("SELECT COUNT(*) FROM alerts WHERE status = 'sending'") == 1
    assert all(STAFF_PIN not in text for text in world.fake.texts(PUMA))


async def test_an_approval_pressed_without_a_session_changes_nothing(world: World) -> None:
    message_id, confirm = await compose(
        world, start="/aviso_texto Cuidado con el río || Paqtataq mayu", template=None
    )
    await world.press(PUMA, confirm, message_id)
    await world.wait_sent(APU, "/aprobar")
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU)
    listing_id = world.bot.last_message_id(APU)
    edits = len(world.fake.calls_to("editMessageText"))

    world.bot.clock.advance(timedelta(minutes=11))
    query_id = await world.press_query(APU, buttons(listing)["Aprobar"], listing_id)
    assert world.fake.texts(APU)[-1] == ASK_PIN
    assert query_id in [
        c.params["callback_query_id"] for c in world.fake.calls_to("answerCallbackQuery")
    ]
    assert len(world.fake.calls_to("editMessageText")) == edits  # the listing is untouched
    assert world.count("SELECT COUNT(*) FROM alerts WHERE status = 'pending'") == 1
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert'") == 0
    assert world.audit_results("alert_approve") == []
    await world.say(APU, "/alertas")  # listing recent alerts is gated the same way
    assert world.fake.texts(APU)[-1] == ASK_PIN

    world.fake.push_message(APU, STAFF_PIN)
    await world.bot.settle()
    await world.press(APU, buttons(listing)["Aprobar"], listing_id)
    assert "Aprobaste el aviso" in last_call(world, "editMessageText", APU).params["text"]
    await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    assert world.audit_results("alert_approve") == ["ok"]


async def test_taking_a_help_request_needs_an_open_session(world: World) -> None:
    await _sent_alert(world)
    await world.press(ROSA, buttons(world.fake.sent(ROSA)[0])["Yanapaway! / Necesito ayuda"])
    ack = buttons(await world.wait_sent(PUMA, "pidió ayuda"))["Yo lo atiendo"]
    world.bot.clock.advance(timedelta(minutes=11))
    await world.press(PUMA, ack)
    assert world.fake.texts(PUMA)[-1] == ASK_PIN
    assert world.audit_results("help_ack") == []
    assert all("atiende el pedido" not in text for text in world.fake.texts(ZORRO))
    # The informant's answer needed no PIN at all (informants are never gated here).
    assert world.audit_results("alert_answer") == ["help"]


# --------------------------------------------------------------------------- on a phone (#12.6)


async def test_place_and_time_are_chosen_with_buttons(world: World) -> None:
    await world.say(PUMA, "/aviso")
    message_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, "alert:tpl:avoid_area", message_id)
    places = last_call(world, "editMessageText", PUMA)
    assert {"Pichari", "Kimbiri"} <= set(buttons(places))  # the listed places
    await world.press(PUMA, buttons(places)["Kimbiri"], message_id)
    times = last_call(world, "editMessageText", PUMA)
    assert times.params["text"] == "¿Hasta qué hora?"
    # 10:00 in Lima: the next hours on the hour.
    assert rows(times)[:2] == [["11:00", "12:00", "13:00", "14:00"], ["16:00", "18:00", "22:00"]]
    await world.press(PUMA, "alert:time:2599", message_id)  # forged: no such time
    assert world.count("SELECT COUNT(*) FROM alerts") == 0
    await world.press(PUMA, buttons(times)["18:00"], message_id)
    regions = last_call(world, "editMessageText", PUMA)
    await world.press(PUMA, buttons(regions)["Pichari"], message_id)
    await world.press(PUMA, "alert:regs", message_id)
    await world.press(PUMA, "alert:sev:warning", message_id)
    preview = last_call(world, "editMessageText", PUMA)
    assert "aprobación" not in preview.params["text"]  # a listed place: no approval
    await world.press(PUMA, buttons(preview)["Confirmar y enviar"], message_id)
    ana = await world.wait_sent(ANA, "Kimbiri")
    assert "Zona que debes evitar hasta las 18:00: Kimbiri." in ana.params["text"]


async def test_coordinators_have_alert_buttons_on_their_menu(world: World) -> None:
    await world.say(PUMA, "/menu")
    keyboard = last_call(world, "sendMessage", PUMA).params["reply_markup"]["keyboard"]
    assert [[b["text"] for b in row] for row in keyboard][:2] == [
        ["Enviar aviso"],
        ["Avisos recientes", "Por aprobar"],
    ]
    await world.say(PUMA, "Enviar aviso")
    assert "Quedarse en casa" in buttons(last_call(world, "sendMessage", PUMA))
    await world.say(PUMA, "Por aprobar")
    assert world.fake.texts(PUMA)[-1] == "No hay avisos pendientes."
    await world.say(PUMA, "Avisos recientes")
    assert world.fake.texts(PUMA)[-1] == "No hubo avisos en las últimas 24 horas."

    # Without a session the button asks for the PIN, then the list follows by itself.
    world.bot.clock.advance(timedelta(minutes=11))
    await world.say(PUMA, "Avisos recientes")
    assert world.fake.texts(PUMA)[-1] == ASK_PIN
    await world.say(PUMA, STAFF_PIN)
    assert world.fake.texts(PUMA)[-1] == "No hubo avisos en las últimas 24 horas."

    # An informant typing the same words gets the generic answer (T-13).
    await world.say(ANA, "Enviar aviso")
    assert world.fake.texts(ANA)[-1] == "Este comando no está disponible. Escribe /menu."
    assert world.count("SELECT COUNT(*) FROM alert_drafts") == 1  # Puma's only


# --------------------------------------------------------------------------- late decisions


async def test_a_late_reject_hears_that_someone_else_decided(world: World) -> None:
    """*Rechazar* on an alert decided meanwhile answers like a late *Aprobar* (#12.5)."""
    message_id, confirm = await compose(
        world, start="/aviso_texto Cuidado con el río || Paqtataq mayu", template=None
    )
    await world.press(PUMA, confirm, message_id)
    withdraw = buttons(last_call(world, "editMessageText", PUMA))["Retirar el aviso"]
    await world.wait_sent(APU, "/aprobar")
    await world.say(APU, "/aprobar")
    listing = last_call(world, "sendMessage", APU)
    listing_id = world.bot.last_message_id(APU)
    await world.press(PUMA, withdraw, message_id)  # the author withdraws it meanwhile

    await world.press(APU, buttons(listing)["Rechazar"], listing_id)
    edited = last_call(world, "editMessageText", APU)
    assert edited.params["text"] == "Otra persona ya decidió sobre este aviso."
    assert buttons(edited) == {}
    assert EXPIRED not in world.fake.texts(APU)
    assert world.audit_results("alert_reject") == []

    # A press by someone who may not decide is still "menú vencido", and audited (T-10).
    await world.press(ZORRO, buttons(listing)["Rechazar"])
    assert world.fake.texts(ZORRO)[-1] == EXPIRED
    assert world.audit_results("alert_approve") == ["denied"]


# --------------------------------------------------------------------------- follow-ups (#12.5)

WHO = "Quién pidió ayuda / quién no respondió (n.º {alert})"
ALL_CLEAR_ES = "Fin del aviso: ya pasó el peligro."
REACH_ES = "Un coordinador vio tu pedido de ayuda y se comunicará contigo."


async def _both_delivered(world: World) -> None:
    """Both alert rows recorded as sent (the answer buttons need it, T-10)."""

    def sent(fake: FakeBotApi) -> bool:
        return (
            world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND status = 'sent'")
            == 2
        )

    await world.fake.wait_for(sent)


def edit_of(world: World, user_id: int, message_id: int) -> str:
    """The latest text of one message (tally edits of other messages may interleave)."""
    calls = [
        c
        for c in world.fake.calls_to("editMessageText")
        if c.params.get("chat_id") == user_id and c.params.get("message_id") == message_id
    ]
    assert calls, f"no edit of {message_id} in {user_id}"
    return str(calls[-1].params["text"])


async def _ask_for_help(world: World) -> None:
    """Rosa presses *Necesito ayuda*; both Pichari coordinators get the note."""
    await world.press(ROSA, buttons(world.fake.sent(ROSA)[0])["Yanapaway! / Necesito ayuda"])
    await world.wait_sent(PUMA, "pidió ayuda")
    await world.wait_sent(ZORRO, "pidió ayuda")


async def _alert_list(world: World, user_id: int) -> tuple[Call, int]:
    await world.say(user_id, "/alertas")
    return last_call(world, "sendMessage", user_id), world.bot.last_message_id(user_id)


async def test_staff_of_the_region_see_who_asked_for_help_and_who_has_not_answered(
    world: World,
) -> None:
    alert_id, _ = await _sent_alert(world)
    await _both_delivered(world)
    await _ask_for_help(world)
    deletions = world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'deletion'")

    listing, listing_id = await _alert_list(world, ZORRO)  # not the author: same region
    who = buttons(listing)[WHO.format(alert=alert_id)]
    assert buttons(listing)[f"Fin del aviso n.º {alert_id}"] == f"afu:end:{alert_id}"
    await world.press(ZORRO, who, listing_id)
    page = last_call(world, "sendMessage", ZORRO)
    assert page.params["text"] == (
        f"<b>Respuestas al aviso n.º {alert_id}</b>\n"
        "\n<b>Pidieron ayuda (1):</b>\n• Halcon\n"
        "\n<b>Lo recibieron y no respondieron (1):</b>\n• Condor"
    )
    assert rows(page) == [["Avisar a Halcon que lo viste"]]
    assert page.params["protect_content"] is True
    # Codenames on screen: the list deletes itself like other sensitive views (M-10).
    assert world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'deletion'") == deletions + 1
    assert world.audit_results("alert_answers") == ["ok"]

    # Condor answers: the list no longer names them; a page press edits in place.
    await world.press(ANA, buttons(world.fake.sent(ANA)[0])["Estoy bien"])
    page_id = world.bot.last_message_id(ZORRO)
    await world.press(ZORRO, f"afu:pg:{alert_id}:7", page_id)  # clamped to the last page
    edited = edit_of(world, ZORRO, page_id)
    assert "Condor" not in edited
    assert "• Halcon" in edited

    # Another region's coordinator and an informant cannot read it (T-10, T-11).
    await world.press(OSO, who)
    assert world.fake.texts(OSO)[-1] == EXPIRED
    await world.press(ANA, who)
    assert "Halcon" not in "".join(world.fake.texts(ANA))
    assert world.audit_results("alert_answers") == ["ok", "ok", "denied"]

    # Without an open PIN session the press shows nothing and asks for the PIN (M-05).
    world.bot.clock.advance(timedelta(minutes=11))
    sent_before = len(world.fake.sent(ZORRO))
    await world.press(ZORRO, who, listing_id)
    assert world.fake.texts(ZORRO)[sent_before:] == [ASK_PIN]
    assert world.audit_results("alert_answers") == ["ok", "ok", "denied"]


async def test_the_answers_list_is_paged_under_telegrams_limit(world: World) -> None:
    """Hundreds of long codenames: every page fits in one message, none is lost, a section
    goes on under its header, and each page carries at most ten help buttons."""
    alert = Alert(
        id=7,
        creator_id=1,
        nonce="n",
        content=AlertContent(template="stay_home"),
        severity=Severity.URGENT,
        regions=("Pichari",),
        status=AlertStatus.SENDING,
        recipients=400,
        created_at=datetime(2026, 3, 14, 12, 0, tzinfo=LIMA),
    )
    when = alert.created_at
    helped = tuple(
        (HelpRequest(id=i, alert_id=7, member_id=i, region="Pichari", created_at=when), f"H{i}")
        for i in range(1, 26)
    )
    silent = tuple(f"Informante_{'x' * 50}_{i:03d}" for i in range(300))
    answers = AlertAnswers(alert, helped, silent, ("Vicuna",))
    t = world.bot.app.bot_data.catalogs.for_lang(Lang.ES)
    pages = answer_pages(t, answers)
    assert len(pages) > 3
    texts = [render_answers_page(t, answers, n)[0] for n in range(len(pages))]
    assert all(len(text) <= 4096 for text in texts)
    assert all(len(page.help) <= 10 for page in pages)
    shown = "\n".join(texts)
    assert all(f"• {name}\n" in shown + "\n" for name in silent)
    assert all(f"• H{i}\n" in shown for i in range(1, 26))
    assert "Página 2 de" in texts[1]
    assert texts[3].split("\n")[3] == "<b>Lo recibieron y no respondieron (300):</b>"
    _, keyboard = render_answers_page(t, answers, 1)
    assert [(b.text, b.callback_data) for b in keyboard.inline_keyboard[-1]] == [
        ("◀ Anterior", "afu:pg:7:0"),
        ("Siguiente ▶", "afu:pg:7:2"),
    ]


async def test_the_all_clear_reaches_the_same_recipients_once(world: World) -> None:
    alert_id, _ = await _sent_alert(world)
    await _both_delivered(world)
    listing, listing_id = await _alert_list(world, PUMA)
    end = buttons(listing)[f"Fin del aviso n.º {alert_id}"]

    await world.press(PUMA, end, listing_id)
    ask = last_call(world, "sendMessage", PUMA)
    assert ask.params["text"] == (
        f"¿Enviar «<b>{ALL_CLEAR_ES}</b>» a las 2 personas que recibieron el aviso n.º {alert_id}?"
    )
    assert world.count("SELECT COUNT(*) FROM outbox WHERE template = 'alert_all_clear'") == 0
    ask_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, buttons(ask)["Sí, enviar"], ask_id)
    assert edit_of(world, PUMA, ask_id) == f"Fin del aviso n.º {alert_id}: se envía a 2 personas."
    ana = await world.wait_sent(ANA, ALL_CLEAR_ES)
    assert ana.params["text"] == f"<b>{ALL_CLEAR_ES}</b>"
    assert buttons(ana) == {}
    rosa = await world.wait_sent(ROSA, ALL_CLEAR_ES)  # Quechua first, the Spanish under it
    assert rosa.params["text"] == f"<b>Willay tukukun: manañam peligro kanchu.\n{ALL_CLEAR_ES}</b>"
    assert world.fake.sent(LUIS) == []

    # Pressing twice, or a colleague pressing too, sends nothing more (one row per recipient).
    await world.press(PUMA, buttons(ask)["Sí, enviar"], ask_id)
    assert edit_of(world, PUMA, ask_id) == f"El fin del aviso n.º {alert_id} ya se envió."
    await world.press(ZORRO, f"afu:endok:{alert_id}")
    assert world.count("SELECT COUNT(*) FROM outbox WHERE template = 'alert_all_clear'") == 2
    assert world.audit_results("alert_all_clear") == ["ok", "repeat", "repeat"]

    # Out of scope, forged or cancelled: nothing is sent (T-10, T-11).
    await world.press(OSO, f"afu:endok:{alert_id}")
    assert world.fake.texts(OSO)[-1] == EXPIRED
    await world.press(PUMA, "afu:endok:9999")
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    await world.press(PUMA, end, listing_id)
    second_ask = world.bot.last_message_id(PUMA)
    await world.press(PUMA, f"afu:endno:{alert_id}", second_ask)
    assert edit_of(world, PUMA, second_ask) == f"No se envió el fin del aviso n.º {alert_id}."
    assert world.count("SELECT COUNT(*) FROM outbox WHERE template = 'alert_all_clear'") == 2
    assert len([t for t in world.fake.texts(ANA) if ALL_CLEAR_ES in t]) == 1


async def test_an_all_clear_during_quiet_hours_cancels_the_held_alert(world: World) -> None:
    world.bot.clock.set(datetime(2026, 3, 14, 22, 0, tzinfo=LIMA))
    await open_pin_session(world.bot, PUMA)
    alert_id, _ = await _compose_and_confirm(world)
    listing, listing_id = await _alert_list(world, PUMA)
    await world.press(PUMA, buttons(listing)[f"Fin del aviso n.º {alert_id}"], listing_id)
    ask = last_call(world, "sendMessage", PUMA)
    assert "2 envíos del aviso que aún esperan se cancelarán." in ask.params["text"]
    ask_id = world.bot.last_message_id(PUMA)
    await world.press(PUMA, buttons(ask)["Sí, enviar"], ask_id)
    assert edit_of(world, PUMA, ask_id) == "Se cancelaron 2 envíos del aviso que aún esperaban."
    assert (
        world.count("SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND status = 'cancelled'")
        == 2
    )

    # Morning: the held warning never leaves, nobody gets an all clear for it.
    world.bot.clock.set(datetime(2026, 3, 15, 6, 1, tzinfo=LIMA))
    await world.run_job("outbox-housekeeping")
    await world.say(ANA, "/menu")
    assert not any(STAY_HOME_ES in t or ALL_CLEAR_ES in t for t in world.fake.texts(ANA))
    assert world.count("SELECT COUNT(*) FROM outbox WHERE template = 'alert_all_clear'") == 0


async def test_a_coordinator_tells_who_asked_for_help_that_it_was_seen_once(
    world: World,
) -> None:
    alert_id, _ = await _sent_alert(world)
    await _both_delivered(world)
    await _ask_for_help(world)
    listing, listing_id = await _alert_list(world, PUMA)
    await world.press(PUMA, buttons(listing)[WHO.format(alert=alert_id)], listing_id)
    page = last_call(world, "sendMessage", PUMA)
    reach = buttons(page)["Avisar a Halcon que lo viste"]

    query_id = await world.press_query(PUMA, reach, world.bot.last_message_id(PUMA))
    [toast] = [
        c
        for c in world.fake.calls_to("answerCallbackQuery")
        if c.params["callback_query_id"] == query_id
    ]
    assert toast.params["text"] == "Le enviamos el mensaje. Comunícate con esa persona."
    told = await world.wait_sent(ROSA, REACH_ES)  # Quechua first, the Spanish under it
    assert told.params["text"] == (
        "Huk coordinadormi yanapa mañakuyniykita qawarqa, qanwanmi rimanqa.\n" + REACH_ES
    )
    assert "Puma" not in told.params["text"]

    # Once per alert and informant, whoever presses (T-33); out of scope refused (T-11).
    await world.press(ZORRO, reach)
    await world.press(PUMA, reach, world.bot.last_message_id(PUMA))
    await world.press(OSO, reach)
    assert world.fake.texts(OSO)[-1] == EXPIRED
    await world.press(PUMA, "afu:reach:999")
    assert world.fake.texts(PUMA)[-1] == EXPIRED
    assert world.count("SELECT COUNT(*) FROM outbox WHERE template = 'alert_help_reach'") == 1
    assert world.audit_results("help_reach") == ["ok", "repeat", "repeat", "denied", "denied"]
    assert len([t for t in world.fake.texts(ROSA) if REACH_ES in t]) == 1
