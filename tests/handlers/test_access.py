"""Strangers, groups, forwarded and edited messages, unknown commands, errors (M-02, M-20).

T-01: one neutral reply per stranger per day, whatever they send; T-08: groups are left;
T-09: forwarded or edited commands are not executed; T-13: unknown commands are "not
available"; M-20: an unexpected failure is logged without content and answered neutrally.
"""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest

from handlers.errors import _correlation
from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region, unprotected_calls
from tests.fakes.bot_api import Call

NEUTRAL = "Este servicio no está disponible."
ANA, STRANGER, GROUP = 734_590_123, 777, -100123
CLAIM = "R-2016-0007,Puma,Tornado 2016,2016-05-20,Pichari,2000000.00,approved,,,"


@pytest.fixture
async def ana(running_bot: RunningBot) -> RunningBot:
    await seed_region(running_bot.services)
    code = await seed_invite(running_bot.services, "Puma")
    await seed_claims(running_bot.services, CLAIM)
    await running_bot.register(ANA, code, "es")
    running_bot.fake.reset_calls()
    return running_bot


async def test_stranger_gets_one_neutral_reply_for_any_kind_of_update(
    running_bot: RunningBot,
) -> None:
    fake = running_bot.fake
    fake.push_message(STRANGER, "hola")
    fake.push_message(STRANGER, "/estado")
    fake.push_message(STRANGER, "/start")
    fake.push_message(STRANGER, "/ayuda")
    fake.push_non_text(STRANGER, "sticker")
    fake.push_non_text(STRANGER, "photo")
    query_id = fake.push_callback(STRANGER, "claim:history:1", message_id=1)
    await running_bot.settle()

    assert fake.texts(STRANGER) == [NEUTRAL]
    answered = [c.params["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")]
    assert answered == [query_id]
    assert fake.calls_to("setMyCommands") == []


async def test_stranger_is_answered_again_only_the_next_day(running_bot: RunningBot) -> None:
    fake = running_bot.fake
    fake.push_message(STRANGER, "hola")
    await running_bot.settle()
    fake.push_message(STRANGER, "hola")
    await running_bot.settle()
    assert fake.texts(STRANGER) == [NEUTRAL]

    running_bot.clock.advance(timedelta(hours=25))
    fake.push_message(STRANGER, "hola")
    await running_bot.settle()

    assert fake.texts(STRANGER) == [NEUTRAL, NEUTRAL]


async def test_stranger_callback_beyond_the_daily_reply_is_only_answered(
    running_bot: RunningBot,
) -> None:
    fake = running_bot.fake
    fake.push_message(STRANGER, "hola")
    await running_bot.settle()

    query_id = fake.push_callback(STRANGER, "lang:set:qu", message_id=1)
    await running_bot.settle()

    assert fake.texts(STRANGER) == [NEUTRAL]
    answered = [c.params["callback_query_id"] for c in fake.calls_to("answerCallbackQuery")]
    assert answered == [query_id]


@pytest.mark.parametrize("chat_type", ["group", "supergroup"])
async def test_group_message_makes_the_bot_leave_and_nothing_else(
    ana: RunningBot, chat_type: str
) -> None:
    fake = ana.fake
    fake.push_message(ANA, "/estado", chat_id=GROUP, chat_type=chat_type)
    await ana.settle()

    [leave] = fake.calls_to("leaveChat")
    assert leave.params == {"chat_id": GROUP}
    others = [c.method for c in fake.calls if c.method not in {"getUpdates", "leaveChat"}]
    assert others == []


async def test_bot_added_to_a_group_leaves(running_bot: RunningBot) -> None:
    fake = running_bot.fake
    fake.push_update(
        {
            "my_chat_member": {
                "chat": {"id": GROUP, "type": "group", "title": "Grupo"},
                "from": {"id": STRANGER, "is_bot": False, "first_name": "X"},
                "date": 1_700_000_000,
                "old_chat_member": {
                    "status": "left",
                    "user": {"id": 10000, "is_bot": True, "first_name": "Chaski Test"},
                },
                "new_chat_member": {
                    "status": "member",
                    "user": {"id": 10000, "is_bot": True, "first_name": "Chaski Test"},
                },
            }
        }
    )
    await running_bot.settle()

    assert [c.params for c in fake.calls_to("leaveChat")] == [{"chat_id": GROUP}]
    assert fake.calls_to("sendMessage") == []


@pytest.mark.parametrize("kind", ["forward", "edited"])
async def test_forwarded_or_edited_status_command_is_not_executed(
    ana: RunningBot, kind: str
) -> None:
    fake = ana.fake
    if kind == "forward":
        fake.push_message(ANA, "/estado", forward=True)
    else:
        original = fake.push_message(ANA, "hola")
        await ana.settle()
        fake.reset_calls()
        fake.push_message(ANA, "/estado", edited=True, message_id=original)
    await ana.settle()

    assert fake.sent(ANA) == []


async def test_channel_post_without_sender_is_ignored(running_bot: RunningBot) -> None:
    fake = running_bot.fake
    fake.push_update(
        {
            "channel_post": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": -100999, "type": "channel", "title": "Canal"},
                "text": "/estado",
            }
        }
    )
    await running_bot.settle()  # not in allowed_updates: never even delivered

    assert fake.calls_to("sendMessage") == []


@pytest.mark.parametrize("text", ["/admin", "/aviso todos", "/help", "texto libre"])
async def test_member_gets_not_available_for_unknown_commands_and_text(
    ana: RunningBot, text: str
) -> None:
    ana.fake.push_message(ANA, text)
    await ana.settle()

    assert ana.fake.texts(ANA) == ["Este comando no está disponible. Escribe /menu."]


async def test_member_non_text_messages_are_ignored(ana: RunningBot) -> None:
    ana.fake.push_non_text(ANA, "photo")
    ana.fake.push_non_text(ANA, "voice")
    await ana.settle()

    assert ana.fake.sent(ANA) == []


async def test_unexpected_failure_is_logged_without_content_and_answered_once(
    ana: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    fake = ana.fake
    fake.fail("sendMessage", status=400, description="Bad Request: can't parse entities")
    caplog.set_level(logging.INFO)

    fake.push_message(ANA, "/estado")
    await ana.settle()

    assert fake.texts(ANA) == ["Algo salió mal. Inténtalo más tarde."]
    [record] = [r for r in caplog.records if r.name == "handlers.errors"]
    message = record.getMessage()
    assert re.fullmatch(
        r"Unhandled BadRequest \(correlation [0-9a-f]{8}, update \d+\) at .+", message
    )
    logged = "\n".join(r.getMessage() for r in caplog.records)
    for secret in ("R-2016-0007", "Puma", "2,000,000", "parse entities", str(ANA)):
        assert secret not in logged


def test_correlation_ids_survive_the_log_filter() -> None:
    """An all-digit id would be redacted as a long number (2 % of random 8-hex ids were)."""
    ids = {_correlation() for _ in range(2000)}
    assert all(re.fullmatch(r"[0-9a-f]{8}", value) for value in ids)
    assert not any(value.isdigit() for value in ids)
    assert len(ids) > 1990  # still random


def test_protect_content_check_flags_unprotected_sends() -> None:
    calls = [
        Call("sendMessage", {"chat_id": 1, "text": "a", "protect_content": True}, 0.0),
        Call("sendMessage", {"chat_id": 1, "text": "b"}, 0.0),
        Call("sendPhoto", {"chat_id": 1, "protect_content": False}, 0.0),
        Call("sendChatAction", {"chat_id": 1, "action": "typing"}, 0.0),
        Call("answerCallbackQuery", {"callback_query_id": "1"}, 0.0),
    ]

    assert unprotected_calls(calls) == ["sendMessage", "sendPhoto"]
