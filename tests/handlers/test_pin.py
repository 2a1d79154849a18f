"""PIN end to end (M-05, M-13b, T-15, T-16, T-17): real application, fake Bot API, real DB."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import Role
from bot.domain.pin import SessionState
from handlers.ticks import SAFETY_JOB
from tests.conftest import (
    RunningBot,
    ServedFake,
    TestClock,
    World,
    seed_claims,
    seed_invite,
    seed_region,
)
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.world import bot_process
from tests.secrets_registry import remember

ANA, LUIS, JEFE, OTRO = 601, 602, 603, 604
STRANGER = 609
PIN, DURESS, WRONG = "482916", "735204", "550913"
ASK = "Escribe tu PIN. El bot borrará tu mensaje."
NEW = (
    "Escribe tu nuevo PIN: de 6 a 12 cifras, sin fechas ni números fáciles. "
    "El bot borrará tu mensaje."
)
CONFIRM = "Escríbelo otra vez para confirmarlo."
SAVED = "Listo: tu PIN quedó guardado. Si lo olvidas, tu coordinador puede borrarlo."
EMPTY = "Todavía no tienes trámites."
CREATE_FIRST = "Primero crea tu PIN con /pin."
CURRENT = "Escribe tu PIN actual. El bot borrará tu mensaje."
EDITED_PIN = (
    "El bot borró tu mensaje editado porque parecía un PIN. Si el bot te pidió tu PIN,"
    " escríbelo en un mensaje nuevo."
)
ANA_CLAIM = "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,,,"


async def say(bot: RunningBot, user: int, text: str) -> int:
    message_id = bot.fake.push_message(user, text)
    await bot.settle()
    return message_id


def last_text(fake: FakeBotApi, chat: int) -> str:
    return fake.texts(chat)[-1]


def deleted_ids(fake: FakeBotApi) -> set[int]:
    return {int(c.params["message_id"]) for c in fake.calls_to("deleteMessage")}


async def seed(bot: RunningBot) -> dict[str, str]:
    services = bot.services
    await seed_region(services)
    await seed_region(services, "Llochegua")
    codes = {
        "Puma": await seed_invite(services, "Puma"),
        "Condor": await seed_invite(services, "Condor"),
        "Jefe": await seed_invite(services, "Jefe", role=Role.COORDINATOR),
        "Otro": await seed_invite(services, "Otro", role=Role.COORDINATOR, region="Llochegua"),
    }
    await seed_claims(services, ANA_CLAIM)
    return codes


async def set_pin(bot: RunningBot, user: int, pin: str = PIN) -> list[int]:
    remember(pin)  # T-47
    await say(bot, user, "/pin")
    assert last_text(bot.fake, user) == NEW
    first = await say(bot, user, pin)
    assert last_text(bot.fake, user) == CONFIRM
    second = await say(bot, user, pin)
    assert last_text(bot.fake, user) == SAVED
    return [first, second]


async def set_duress(bot: RunningBot, user: int) -> None:
    """``/pin_duress``: the current PIN first (always, issue #11.2), then the duress PIN twice."""
    remember(DURESS)
    await say(bot, user, "/pin_duress")
    assert last_text(bot.fake, user) == CURRENT
    for text in (PIN, DURESS, DURESS):
        await say(bot, user, text)
    assert last_text(bot.fake, user) == "Listo: tu PIN de emergencia quedó guardado."


@pytest.fixture
async def codes(running_bot: RunningBot) -> dict[str, str]:
    return await seed(running_bot)


@pytest.mark.polling  # end to end through getUpdates, as in production
async def test_with_a_pin_estado_asks_for_it_and_every_pin_message_is_deleted(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    typed = await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))  # the session opened by /pin has ended
    await say(bot, ANA, "/estado")
    assert last_text(fake, ANA) == ASK
    typed.append(await say(bot, ANA, PIN))
    assert "R-2016-0007" in last_text(fake, ANA)
    assert set(typed) <= deleted_ids(fake)
    assert not set(typed) & fake.live_messages(ANA)
    # Within the session no PIN is asked again.
    await say(bot, ANA, "/estado")
    assert "R-2016-0007" in last_text(fake, ANA)
    assert all(PIN not in text for text in fake.texts(ANA))


async def test_informant_without_pin_sees_claims_at_once(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    await running_bot.register(ANA, codes["Puma"])
    await say(running_bot, ANA, "/estado")
    assert "R-2016-0007" in last_text(running_bot.fake, ANA)


async def test_a_menu_button_instead_of_the_pin_cancels_the_prompt(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    bot = running_bot
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    await say(bot, ANA, "Cómo usar")
    assert "/estado" in bot.fake.texts(ANA)[-2]  # the help text, not a PIN failure
    assert "fotografiar" in last_text(bot.fake, ANA)  # then the safety rules
    assert not await bot.services.pin.prompt_armed_for(ANA)


@pytest.mark.parametrize("variant", ["\uff14\uff18\uff12\uff19\uff11\uff16", "٤٨٢٩١٦", "48 29 16"])
async def test_pin_variants_are_normalised(
    running_bot: RunningBot, codes: dict[str, str], variant: str
) -> None:
    """T-16: full-width and Arabic-Indic digits and spaces are the same PIN."""
    bot = running_bot
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    await say(bot, ANA, variant)
    assert "R-2016-0007" in last_text(bot.fake, ANA)


@pytest.mark.parametrize("junk", ["🙂🙂🙂🙂🙂🙂", "1" * 100, "hola"])
async def test_junk_instead_of_a_pin_is_a_failed_attempt_and_deleted(
    running_bot: RunningBot, codes: dict[str, str], junk: str
) -> None:
    bot = running_bot
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    typed = await say(bot, ANA, junk)
    assert last_text(bot.fake, ANA) == "PIN incorrecto. Te quedan 4 intentos."
    assert typed in deleted_ids(bot.fake)


async def test_lockout_survives_a_restart(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """T-15: 5 wrong PINs lock for 15 minutes, even across a restart; all deleted."""
    fake = fake_api_server.fake
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        codes = await seed(bot)
        await bot.register(ANA, codes["Puma"])
        await set_pin(bot, ANA)
        clock.advance(timedelta(minutes=11))
        await say(bot, ANA, "/estado")
        typed = [await say(bot, ANA, WRONG) for _ in range(5)]
        assert fake.texts(ANA)[-5:-1] == [
            "PIN incorrecto. Te quedan 4 intentos.",
            "PIN incorrecto. Te quedan 3 intentos.",
            "PIN incorrecto. Te quedan 2 intentos.",
            "PIN incorrecto. Te queda 1 intento.",
        ]
        assert last_text(fake, ANA) == (
            "Demasiados intentos fallidos. Inténtalo de nuevo en 15 minutos."
        )
    clock.advance(timedelta(minutes=5))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        # The stopped process's last long poll may still take this update on the fake's
        # side (its client is gone), so wait for the reply instead of ``settle``.
        replies = len(fake.sent(ANA))
        fake.push_message(ANA, "/estado")
        await fake.wait_for_call("sendMessage", chat_id=ANA, count=replies + 1)
        await bot.settle()
        assert last_text(fake, ANA) == (
            "Demasiados intentos fallidos. Inténtalo de nuevo en 10 minutos."
        )
        typed.append(await say(bot, ANA, PIN))  # the right PIN, still refused
        assert "R-2016-0007" not in last_text(fake, ANA)
        assert "Inténtalo de nuevo" in last_text(fake, ANA)
        clock.advance(timedelta(minutes=10))
        await say(bot, ANA, "/estado")
        assert last_text(fake, ANA) == ASK
        typed.append(await say(bot, ANA, PIN))
        assert "R-2016-0007" in last_text(fake, ANA)
    assert set(typed) <= deleted_ids(fake)


async def test_duress_pin_shows_the_real_empty_state_warns_and_unlinks(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """T-17: decoy identical in text and markup to a real empty list; quiet flag; unlink."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await bot.register(LUIS, codes["Condor"])  # no claims: the real empty state
    await bot.register(JEFE, codes["Jefe"])
    await say(bot, LUIS, "/estado")
    [real_empty] = fake.sent(LUIS)[-1:]
    await set_pin(bot, ANA)
    await set_duress(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    told = len(fake.sent(JEFE))
    typed = await say(bot, ANA, DURESS)
    decoy = fake.sent(ANA)[-1]
    assert decoy.params["text"] == real_empty.params["text"] == EMPTY
    assert decoy.params.get("reply_markup") == real_empty.params.get("reply_markup")
    assert typed in deleted_ids(fake)
    await fake.wait_for_call("sendMessage", chat_id=JEFE, count=told + 1)
    assert last_text(fake, JEFE) == (
        "Puma usó su PIN de emergencia. Puede estar bajo presión: comunícate con cuidado, "
        "por un medio seguro."
    )
    # Asked again inside the decoy session, the list stays empty.
    await say(bot, ANA, "/estado")
    assert last_text(fake, ANA) == EMPTY
    # After the decoy's deletion time the tick unlinks the account and wipes the chat.
    bot.clock.advance(timedelta(minutes=12))
    [job] = bot.app.job_queue.get_jobs_by_name(SAFETY_JOB)  # type: ignore[union-attr]
    await job.run(bot.app)
    assert await bot.services.registration.identify(ANA) is None
    assert fake.calls_to("deleteMessages")
    assert fake.live_messages(ANA) == set()
    fake.reset_calls()
    await say(bot, ANA, "/estado")
    assert fake.texts(ANA) == ["Este servicio no está disponible."]


async def test_coordinators_need_a_pin_for_reset_and_reset_only_their_informants(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await bot.register(JEFE, codes["Jefe"])
    await bot.register(OTRO, codes["Otro"])
    await set_pin(bot, ANA)
    await say(bot, JEFE, "/pin_reset Puma")
    assert last_text(fake, JEFE) == CREATE_FIRST
    await set_pin(bot, JEFE)
    await set_pin(bot, OTRO)
    await say(bot, OTRO, "/pin_reset Puma")
    assert last_text(fake, OTRO) == "No encontramos a ese miembro."
    await say(bot, JEFE, "/pin_reset")
    assert last_text(fake, JEFE) == "Escribe /pin_reset y el nombre clave."
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, JEFE, "/pin_reset Puma")
    assert last_text(fake, JEFE) == ASK
    await say(bot, JEFE, PIN)
    assert last_text(fake, JEFE) == "PIN correcto. Ya puedes continuar."
    await say(bot, JEFE, "/pin_reset Puma")
    assert last_text(fake, JEFE) == (
        "Listo: el PIN de Puma fue borrado. Puede crear uno nuevo con /pin."
    )
    await say(bot, ANA, "/estado")
    assert "R-2016-0007" in last_text(fake, ANA)  # no PIN any more


async def test_the_duress_pin_is_not_offered_to_coordinators_or_without_a_pin(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await bot.register(JEFE, codes["Jefe"])
    await say(bot, ANA, "/pin_duress")
    assert last_text(fake, ANA) == CREATE_FIRST
    await say(bot, JEFE, "/pin_duress")
    assert last_text(fake, JEFE) == "Este comando no está disponible. Escribe /menu."


async def test_quechua_member_gets_quechua_pin_prompts(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    bot = running_bot
    await bot.register(ANA, codes["Puma"], "qu")
    await say(bot, ANA, "/pin")
    t = bot.app.bot_data.catalogs.for_lang(__import__("bot.domain.models").domain.models.Lang.QU)
    assert last_text(bot.fake, ANA) == t.gettext(NEW) != NEW


async def test_a_duress_pin_wipes_the_claim_list_shown_before_at_once(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """Issue #11.2: a claim list from the last session (its deletion not yet due) must not
    sit above the decoy. The decoy goes out first, then every recorded message of the chat up
    to the PIN is deleted in one go; the decoy stays until the unlink."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    await set_duress(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    await say(bot, ANA, PIN)
    bot.clock.advance(timedelta(minutes=9))
    await say(bot, ANA, "/estado")  # inside the session: the list again, deleted at +10 min
    claim_list = bot.last_message_id(ANA)
    assert "R-2016-0007" in last_text(fake, ANA)
    bot.clock.advance(timedelta(minutes=2))  # the session ended, the list is still there
    await say(bot, ANA, "/estado")
    assert last_text(fake, ANA) == ASK
    calls_before = len(fake.calls)
    typed = await say(bot, ANA, DURESS)

    decoy = bot.last_message_id(ANA)
    assert last_text(fake, ANA) == EMPTY
    assert fake.live_messages(ANA) == {decoy}  # the list, the prompts, everything else gone
    assert claim_list < typed < decoy
    methods = [c.method for c in fake.calls[calls_before:] if c.method != "getUpdates"]
    assert methods.index("sendMessage") < methods.index("deleteMessages")  # decoy first
    # The unlink later takes the decoy too.
    bot.clock.advance(timedelta(minutes=12))
    [job] = bot.app.job_queue.get_jobs_by_name(SAFETY_JOB)  # type: ignore[union-attr]
    await job.run(bot.app)
    assert fake.live_messages(ANA) == set()
    assert await bot.services.registration.identify(ANA) is None


async def test_a_real_pin_wipes_nothing(running_bot: RunningBot, codes: dict[str, str]) -> None:
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    await set_duress(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    await say(bot, ANA, PIN)
    assert "R-2016-0007" in last_text(fake, ANA)
    assert fake.calls_to("deleteMessages") == []
    assert len(fake.live_messages(ANA)) > 1


async def test_pin_asks_the_current_pin_in_real_and_decoy_sessions_alike(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """Issue #11.2: /pin and /pin_duress answer the same inside a real session (just opened
    by the real PIN) and inside a decoy one (opened by the duress PIN)."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)  # opens a real session

    def replies() -> list[tuple[str, object]]:
        return [(c.params["text"], c.params.get("reply_markup")) for c in fake.sent(ANA)[-1:]]

    await say(bot, ANA, "/pin")
    real_pin = replies()
    await say(bot, ANA, "/pin_duress")
    real_duress = replies()
    await set_duress(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    await say(bot, ANA, DURESS)  # a decoy session now
    await say(bot, ANA, "/pin")
    decoy_pin = replies()
    await say(bot, ANA, "/pin_duress")
    decoy_duress = replies()

    assert real_pin == decoy_pin == [(CURRENT, None)]
    assert real_duress == decoy_duress == [(CURRENT, None)]


TIME_RAN_OUT = "El tiempo para escribir el PIN terminó. Vuelve a intentarlo."
NOT_AVAILABLE = "Este comando no está disponible. Escribe /menu."


async def test_a_pin_typed_after_the_prompt_expired_is_deleted_and_not_consumed(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """Issue #11.3: the prompt ran out (2 minutes); the PIN is still deleted at once, counts
    as nothing (no session, no failure), and the answer says the time ran out."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    await say(bot, ANA, "/estado")
    assert last_text(fake, ANA) == ASK
    bot.clock.advance(timedelta(minutes=3))
    for text in (PIN, WRONG, "48 29 16"):
        typed = await say(bot, ANA, text)
        assert typed in deleted_ids(fake)
        assert typed not in fake.live_messages(ANA)
        assert last_text(fake, ANA) == TIME_RAN_OUT
    assert NOT_AVAILABLE not in fake.texts(ANA)
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert await bot.services.pin.session(member) is SessionState.CLOSED
    await say(bot, ANA, "/estado")  # no failure was counted: asked again, the PIN works
    await say(bot, ANA, PIN)
    assert "R-2016-0007" in last_text(fake, ANA)


@pytest.mark.parametrize("armed", [False, True], ids=["no prompt", "prompt armed"])
async def test_a_forwarded_pin_is_deleted_and_never_consumed(
    running_bot: RunningBot, codes: dict[str, str], armed: bool
) -> None:
    """Issue #11.3, T-09: a forwarded PIN never answers a prompt (not even an armed one),
    and never stays in the chat."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    if armed:
        await say(bot, ANA, "/estado")
    forwarded = fake.push_message(ANA, PIN, forward=True)
    await bot.settle()
    assert forwarded in deleted_ids(fake)
    assert last_text(fake, ANA) == TIME_RAN_OUT
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert await bot.services.pin.session(member) is SessionState.CLOSED
    assert await bot.services.pin.prompt_armed_for(ANA) is armed


@pytest.mark.parametrize("armed", [False, True], ids=["no prompt", "prompt armed"])
async def test_a_message_edited_into_a_pin_is_deleted_and_never_consumed(
    running_bot: RunningBot, codes: dict[str, str], armed: bool
) -> None:
    """T-09: a member edits an earlier message into their PIN. It must not stay in the chat:
    deleted at once, and the member told why. An edit never answers a prompt, not even an
    armed one; the PIN typed anew then opens it."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    await set_pin(bot, ANA)
    bot.clock.advance(timedelta(minutes=11))
    original = await say(bot, ANA, "hola")
    if armed:
        await say(bot, ANA, "/estado")
        assert last_text(fake, ANA) == ASK
    fake.push_message(ANA, PIN, edited=True, message_id=original)
    await bot.settle()
    assert original in deleted_ids(fake)
    assert original not in fake.live_messages(ANA)
    assert last_text(fake, ANA) == EDITED_PIN
    assert "R-2016-0007" not in " ".join(fake.texts(ANA))
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert await bot.services.pin.session(member) is SessionState.CLOSED
    assert await bot.services.pin.prompt_armed_for(ANA) is armed
    if armed:
        await say(bot, ANA, PIN)
        assert "R-2016-0007" in last_text(fake, ANA)


async def test_an_edit_that_is_no_pin_or_comes_from_a_stranger_gets_no_answer(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """T-09, M-02: edits reach the bot (counted as processed), but only a member's PIN is
    acted on: an ordinary edit stays as it is, a stranger's PIN-like edit gets nothing."""
    bot, fake = running_bot, running_bot.fake
    world = World.of(bot)
    await bot.register(ANA, codes["Puma"])
    original = await say(bot, ANA, "hola")
    fake.reset_calls()
    processed = world.count("SELECT COUNT(*) FROM processed_updates")
    fake.push_message(ANA, "hola de nuevo", edited=True, message_id=original)
    fake.push_message(STRANGER, PIN, edited=True, message_id=1)
    await bot.settle()
    assert world.count("SELECT COUNT(*) FROM processed_updates") == processed + 2
    assert fake.calls_to("deleteMessage") == []
    assert fake.sent(ANA) == []
    assert fake.sent(STRANGER) == []


async def test_a_pin_typed_while_the_bot_was_down_is_deleted_after_the_restart(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """Issue #11.3: asked for the PIN, the bot stops; the PIN typed meanwhile arrives after
    the restart, when the prompt has run out: deleted, "time ran out", nothing else."""
    fake = fake_api_server.fake
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        codes = await seed(bot)
        await bot.register(ANA, codes["Puma"])
        await set_pin(bot, ANA)
        clock.advance(timedelta(minutes=11))
        await say(bot, ANA, "/estado")
        assert last_text(fake, ANA) == ASK
    typed = fake.push_message(ANA, PIN)  # while the bot is down
    clock.advance(timedelta(minutes=5))
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        replies = len(fake.sent(ANA))
        await fake.wait_for_call("sendMessage", chat_id=ANA, count=replies + 1)
        await bot.settle()
        assert typed in deleted_ids(fake)
        assert typed not in fake.live_messages(ANA)
        assert last_text(fake, ANA) == TIME_RAN_OUT
        member = await bot.services.registration.identify(ANA)
        assert member is not None
        assert await bot.services.pin.session(member) is SessionState.CLOSED


async def test_digits_from_a_member_without_a_pin_are_deleted_but_strangers_are_untouched(
    running_bot: RunningBot, codes: dict[str, str]
) -> None:
    """Members never send free text, so digits of PIN length go whoever types them; a
    stranger gets the one neutral reply and nothing is deleted (M-02)."""
    bot, fake = running_bot, running_bot.fake
    await bot.register(ANA, codes["Puma"])
    typed = await say(bot, ANA, PIN)
    assert typed in deleted_ids(fake)
    assert last_text(fake, ANA) == TIME_RAN_OUT
    short = await say(bot, ANA, "4829")  # not PIN-shaped: an ordinary text
    assert short not in deleted_ids(fake)
    assert last_text(fake, ANA) == NOT_AVAILABLE
    stranger = await say(bot, OTRO, PIN)
    assert stranger in fake.live_messages(OTRO)
    assert [c for c in fake.calls_to("deleteMessage") if c.params["chat_id"] == OTRO] == []
    assert fake.texts(OTRO) == ["Este servicio no está disponible."]
