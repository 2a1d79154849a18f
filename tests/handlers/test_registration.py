"""Registration by invite and the language choice, end to end (T-02..T-05, T-29, M-19)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from bot.domain.models import Lang, Role
from tests.conftest import RunningBot, seed_invite, seed_region
from tests.secrets_registry import remember

NEUTRAL = "Este servicio no está disponible."
PROMPT = (
    "Simiykita akllay.\nElige tu idioma.\n\n"
    "Runasimi: qillqakunaqa borradorllaraqmi, manaraqmi runasimi rimaqwan qawarisqachu."
    " Hawkaykipaq willaykunaqa españolpipas kanqa.\n"
    "Runasimi: textos en borrador, aún sin revisar por un hablante nativo. Los textos de"
    " seguridad van también en español."
)
"""The language picker while Quechua drafts are on (tests turn them on)."""
ANA, LUIS = 501, 502


def _chat_scope(chat_id: int) -> dict[str, Any]:
    return {"type": "chat", "chat_id": chat_id}


def _keyboard_labels(call_params: dict[str, Any]) -> list[str]:
    rows = call_params["reply_markup"]["keyboard"]
    return [button["text"] for row in rows for button in row]


@pytest.fixture
async def invite(running_bot: RunningBot) -> str:
    await seed_region(running_bot.services)
    return await seed_invite(running_bot.services, "Puma")


@pytest.mark.parametrize("language_code", ["es", "qu", "qu-PE", "en-US-u-ca-buddhist", None])
@pytest.mark.polling  # end to end through getUpdates, as in production
async def test_valid_invite_links_deletes_the_payload_and_asks_for_the_language(
    running_bot: RunningBot, invite: str, language_code: str | None
) -> None:
    fake = running_bot.fake
    start_id = fake.push_message(ANA, f"/start {invite}", language_code=language_code)
    await running_bot.settle()

    [deleted] = fake.calls_to("deleteMessage")
    assert deleted.params == {"chat_id": ANA, "message_id": start_id}
    assert start_id not in fake.live_messages(ANA)
    [picker] = fake.sent(ANA)
    assert picker.params["text"] == PROMPT
    buttons = picker.params["reply_markup"]["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        ("Español", "lang:set:es"),
        ("Runasimi", "lang:set:qu"),
    ]
    member = await running_bot.services.registration.identify(ANA)
    assert member is not None
    assert member.codename == "Puma"
    assert fake.commands_for(_chat_scope(ANA)) is not None


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("es", "Ya estás registrado. Elige una opción del menú."),
        ("qu", "Qillqasqañam kanki. Menúmanta huk botonta akllay."),
    ],
)
async def test_invite_replayed_by_the_linked_member_says_registered_in_their_language(
    running_bot: RunningBot, invite: str, lang: str, expected: str
) -> None:
    """Issue #14.7: the member re-taps their used link; they are no stranger to the bot."""
    await running_bot.register(ANA, invite, lang)
    running_bot.fake.reset_calls()

    running_bot.fake.push_message(ANA, f"/start {invite}")
    await running_bot.settle()

    [reply] = running_bot.fake.sent(ANA)
    assert reply.params["text"] == expected
    assert "keyboard" in reply.params["reply_markup"]  # the menu comes with it
    assert len(running_bot.fake.calls_to("deleteMessage")) == 1  # the code is gone


async def test_a_stranger_with_a_used_link_still_gets_only_the_neutral_sentence(
    running_bot: RunningBot, invite: str
) -> None:
    await running_bot.register(ANA, invite, "qu")
    running_bot.fake.reset_calls()

    running_bot.fake.push_message(LUIS, f"/start {invite}", language_code="qu")
    await running_bot.settle()

    assert running_bot.fake.texts(LUIS) == [NEUTRAL]


async def test_a_preset_language_skips_the_picker_and_greets_in_it(
    running_bot: RunningBot,
) -> None:
    """Issue #14.7: ``chaski invite create --language qu`` is honoured."""
    services = running_bot.services
    await seed_region(services)
    issued = await services.invites.create(
        role=Role.INFORMANT, region="Pichari", codename="Atoq", lang=Lang.QU
    )
    remember(issued.code)
    running_bot.fake.push_message(ANA, f"/start {issued.code}")
    await running_bot.settle()

    texts = running_bot.fake.texts(ANA)
    assert PROMPT not in texts
    [greeting] = texts
    assert greeting.startswith("Rimaykullayki!")
    assert "/pin" in greeting


@pytest.mark.parametrize(
    ("role", "advice"),
    [
        (Role.INFORMANT, "Te recomendamos crear un PIN con /pin"),
        (Role.COORDINATOR, "debes crear un PIN con /pin: es obligatorio."),
        (Role.ADMIN, "debes crear un PIN con /pin: es obligatorio."),
    ],
)
async def test_the_welcome_gives_the_pin_advice_of_the_role(
    running_bot: RunningBot, role: Role, advice: str
) -> None:
    """Issue #14.8: a PIN is suggested to informants and mandatory for the staff."""
    await seed_region(running_bot.services)
    code = await seed_invite(running_bot.services, "Atoq", role=role)
    await running_bot.register(ANA, code, "es")

    greeting = running_bot.fake.texts(ANA)[-1]
    assert greeting.startswith("¡Hola! Ya puedes usar el menú")
    assert advice in greeting


async def test_invite_replayed_by_another_account_links_nobody_new(
    running_bot: RunningBot, invite: str
) -> None:
    await running_bot.register(ANA, invite)

    running_bot.fake.push_message(LUIS, f"/start {invite}")
    await running_bot.settle()

    assert running_bot.fake.texts(LUIS) == [NEUTRAL]
    assert await running_bot.services.registration.identify(LUIS) is None
    assert await running_bot.services.registration.identify(ANA) is not None


async def test_expired_invite_gets_the_neutral_reply(running_bot: RunningBot) -> None:
    await seed_region(running_bot.services)
    code = await seed_invite(running_bot.services, "Puma", ttl_hours=1)
    running_bot.clock.advance(timedelta(hours=1, minutes=1))

    start_id = running_bot.fake.push_message(ANA, f"/start {code}")
    await running_bot.settle()

    assert running_bot.fake.texts(ANA) == [NEUTRAL]
    assert start_id not in running_bot.fake.live_messages(ANA)
    assert await running_bot.services.registration.identify(ANA) is None


async def test_two_accounts_redeeming_one_code_at_once_link_exactly_one(
    running_bot: RunningBot, invite: str
) -> None:
    fake = running_bot.fake
    fake.push_message(ANA, f"/start {invite}")
    fake.push_message(LUIS, f"/start {invite}")  # both queued before the next poll
    await running_bot.settle()

    registration = running_bot.services.registration
    linked = [uid for uid in (ANA, LUIS) if await registration.identify(uid) is not None]
    assert len(linked) == 1
    [loser] = {ANA, LUIS} - set(linked)
    assert fake.texts(loser) == [NEUTRAL]
    assert fake.texts(linked[0]) == [PROMPT]


@pytest.mark.parametrize(
    "payload",
    ["x" * 65, "abc", "'; DROP TABLE claims;--", "../../etc/passwd", "A" * 42 + "=", "ñ" * 43],
)
async def test_bad_payloads_get_the_same_neutral_reply_and_are_deleted(
    running_bot: RunningBot, invite: str, payload: str
) -> None:
    start_id = running_bot.fake.push_message(LUIS, f"/start {payload}")
    await running_bot.settle()

    assert running_bot.fake.texts(LUIS) == [NEUTRAL]
    assert start_id not in running_bot.fake.live_messages(LUIS)
    assert await running_bot.services.registration.identify(LUIS) is None


@pytest.mark.parametrize(
    ("lang", "labels", "descriptions"),
    [
        (
            "es",
            ["Mis trámites", "Cómo usar", "Idioma"],
            [
                "Ver tus trámites",
                "Crear o cambiar tu PIN",
                "Mostrar el menú",
                "Cambiar el idioma",
                "Cómo usar el bot",
                "Borrar este chat y desvincular tu cuenta",
            ],
        ),
        (
            "qu",
            ["Mañakuyniykuna", "Imayna llamkachina", "Simi"],
            [
                "Mañakuyniykikunata qaway",
                "PINniykita ruway utaq tikray",
                "Menúta rikuchiy",
                "Simiykita tikray",
                "Botta imayna llamkachina",
                "Kay chatta pichay, cuentaykitapas taqay",
            ],
        ),
    ],
)
async def test_language_choice_sets_menu_labels_and_chat_commands(
    running_bot: RunningBot,
    invite: str,
    lang: str,
    labels: list[str],
    descriptions: list[str],
) -> None:
    await running_bot.register(ANA, invite, lang)

    fake = running_bot.fake
    greeting = fake.sent(ANA)[-1]
    assert _keyboard_labels(greeting.params) == labels
    assert all(len(label) <= 20 for label in labels)
    member = await running_bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang(lang)
    assert member.lang_chosen
    last_set = fake.calls_to("setMyCommands")[-1].params
    assert last_set["scope"] == _chat_scope(ANA)
    assert "language_code" not in last_set
    assert [c["command"] for c in last_set["commands"]] == [
        "estado",
        "pin",
        "menu",
        "idioma",
        "ayuda",
        "borrar",
    ]
    assert [c["description"] for c in last_set["commands"]] == descriptions


async def test_idioma_switches_language_later_and_relabels_everything(
    running_bot: RunningBot, invite: str
) -> None:
    await running_bot.register(ANA, invite, "es")
    fake = running_bot.fake

    fake.push_message(ANA, "/idioma")
    await running_bot.settle()
    assert fake.texts(ANA)[-1] == PROMPT
    fake.push_callback(ANA, "lang:set:qu", message_id=running_bot.last_message_id(ANA))
    await running_bot.settle()

    assert _keyboard_labels(fake.sent(ANA)[-1].params) == [
        "Mañakuyniykuna",
        "Imayna llamkachina",
        "Simi",
    ]
    commands = fake.commands_for(_chat_scope(ANA))
    assert commands is not None
    assert commands[0]["description"] == "Mañakuyniykikunata qaway"


async def test_forged_language_data_changes_nothing(running_bot: RunningBot, invite: str) -> None:
    await running_bot.register(ANA, invite, "es")
    fake = running_bot.fake

    query_id = fake.push_callback(ANA, "lang:set:en", message_id=running_bot.last_message_id(ANA))
    await running_bot.settle()

    assert fake.texts(ANA)[-1] == "Este menú ya no está disponible. Escribe /menu."
    assert query_id in [
        c.params["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")
    ]
    member = await running_bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.ES


async def test_default_scope_commands_are_cleared_at_startup(running_bot: RunningBot) -> None:
    [call] = running_bot.fake.calls_to("deleteMyCommands")
    assert call.params.get("scope") in (None, {"type": "default"})
