"""Tests of the fake Bot API itself, driven by a real PTB ``Bot`` and ``Application``.

Every handler test trusts this fake, so these tests pin down that PTB parses what it answers and
maps its injected errors to the exceptions our code catches (T-40..T-43).
"""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")  # before telegram: RetryAfter must not warn

import asyncio
import datetime as dtm
from collections.abc import AsyncIterator
from typing import NamedTuple

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from tests.fakes.bot_api import BOT_USER, NON_TEXT_KINDS, FakeBotApi, html_text, serve

TOKEN = "123:TEST"
ANA = 4242


@pytest.fixture
def fake() -> FakeBotApi:
    return FakeBotApi()


@pytest.fixture
async def url(fake: FakeBotApi) -> AsyncIterator[str]:
    async with serve(fake) as base_url:
        yield base_url


@pytest.fixture
async def bot(url: str) -> AsyncIterator[Bot]:
    async with Bot(token=TOKEN, base_url=url) as client:
        yield client


async def test_get_me_answers_the_test_bot(bot: Bot, fake: FakeBotApi) -> None:
    me = await bot.get_me()

    assert (me.id, me.is_bot, me.username) == (10000, True, "chaski_test_bot")
    assert bot.username == BOT_USER["username"]  # initialize() already called getMe
    assert len(fake.calls_to("getMe")) == 2


async def test_send_message_returns_increasing_ids_and_is_recorded(
    bot: Bot, fake: FakeBotApi
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sí", callback_data="x:y:1")]])

    first = await bot.send_message(ANA, "hola", protect_content=True, reply_markup=keyboard)
    second = await bot.send_message(ANA, "123")

    assert second.message_id == first.message_id + 1
    assert first.chat.id == ANA
    assert first.from_user is not None
    assert first.from_user.is_bot
    assert first.reply_markup == keyboard
    assert first.has_protected_content is True
    assert fake.texts(ANA) == ["hola", "123"]  # "123" stays text although PTB sends it bare
    [call, _] = fake.sent(ANA)
    assert call.params["chat_id"] == ANA
    assert call.params["protect_content"] is True
    assert call.params["reply_markup"] == keyboard.to_dict()
    assert fake.live_messages(ANA) == {first.message_id, second.message_id}


async def test_message_ids_are_shared_with_incoming_messages(bot: Bot, fake: FakeBotApi) -> None:
    incoming = fake.push_message(ANA, "hola")
    reply = await bot.send_message(ANA, "respuesta")

    assert reply.message_id == incoming + 1


async def test_injected_429_raises_retry_after_with_timedelta(bot: Bot, fake: FakeBotApi) -> None:
    fake.fail(
        "sendMessage", status=429, description="Too Many Requests: retry after 30", retry_after=30
    )

    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(ANA, "hola")

    assert caught.value.retry_after == dtm.timedelta(seconds=30)
    [call] = fake.calls_to("sendMessage")
    assert call.failed
    assert call.status == 429
    assert fake.sent(ANA) == []
    assert fake.live_messages(ANA) == set()
    await bot.send_message(ANA, "otra vez")  # times=1: the next call succeeds
    assert fake.texts(ANA) == ["otra vez"]


class ErrorCase(NamedTuple):
    status: int
    description: str
    error: type[Exception]
    message: str  # what PTB makes of the description


@pytest.mark.parametrize(
    "case",
    [
        ErrorCase(403, "Forbidden: bot was blocked by the user", Forbidden, "blocked by the user"),
        ErrorCase(400, "Bad Request: chat not found", BadRequest, "^Chat not found$"),
        ErrorCase(502, "Bad Gateway", NetworkError, "Bad Gateway"),
    ],
    ids=["403", "400", "502"],
)
async def test_injected_errors_map_to_ptb_exceptions(
    bot: Bot, fake: FakeBotApi, case: ErrorCase
) -> None:
    fake.fail("sendMessage", status=case.status, description=case.description, chat_id=ANA)

    await bot.send_message(ANA + 1, "other chat is unaffected")
    with pytest.raises(case.error, match=case.message) as caught:
        await bot.send_message(ANA, "hola")

    if case.status == 502:
        assert not isinstance(caught.value, BadRequest)
    assert [c.failed for c in fake.calls_to("sendMessage")] == [False, True]


async def test_fault_without_limit_lasts_until_cleared(bot: Bot, fake: FakeBotApi) -> None:
    fake.fail("*", status=403, description="Forbidden: user is deactivated", times=None)

    for _ in range(3):
        with pytest.raises(Forbidden):
            await bot.send_message(ANA, "hola")
    fake.clear_faults()

    await bot.send_message(ANA, "hola")
    assert len(fake.sent(ANA, include_failed=True)) == 4
    assert len(fake.sent(ANA)) == 1


async def test_dropped_connection_raises_network_error(bot: Bot, fake: FakeBotApi) -> None:
    fake.drop_connection("sendMessage")

    with pytest.raises(NetworkError) as caught:
        await bot.send_message(ANA, "hola")

    assert not isinstance(caught.value, BadRequest)
    [call] = fake.calls_to("sendMessage")
    assert call.failed
    assert call.status == 0
    await bot.send_message(ANA, "again")  # the client reconnects
    assert fake.texts(ANA) == ["again"]


async def test_delete_unknown_message_is_not_found(bot: Bot, fake: FakeBotApi) -> None:
    sent = await bot.send_message(ANA, "pin")
    assert await bot.delete_message(ANA, sent.message_id)

    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ANA, sent.message_id)  # already deleted
    with pytest.raises(BadRequest, match="Message to delete not found"):
        await bot.delete_message(ANA, 999)


async def test_undeletable_message_reports_the_48h_window(bot: Bot, fake: FakeBotApi) -> None:
    sent = await bot.send_message(ANA, "old")
    fake.undeletable.add(sent.message_id)

    with pytest.raises(BadRequest, match="can't be deleted for everyone"):
        await bot.delete_message(ANA, sent.message_id)
    assert fake.live_messages(ANA) == {sent.message_id}


async def test_delete_messages_removes_live_messages_and_skips_missing(
    bot: Bot, fake: FakeBotApi
) -> None:
    typed_pin = fake.push_message(ANA, "123456")
    reply = (await bot.send_message(ANA, "secreto")).message_id
    kept = (await bot.send_message(ANA, "menú")).message_id

    assert await bot.delete_messages(ANA, [typed_pin, reply, 77])

    assert fake.live_messages(ANA) == {kept}
    [call] = fake.calls_to("deleteMessages")
    assert call.params["message_ids"] == [typed_pin, reply, 77]
    with pytest.raises(BadRequest):
        await bot.delete_messages(ANA, list(range(1, 102)))


async def test_edits_report_missing_and_unmodified_messages(bot: Bot, fake: FakeBotApi) -> None:
    sent = await bot.send_message(ANA, "uno")

    edited = await bot.edit_message_text("dos", chat_id=ANA, message_id=sent.message_id)
    assert isinstance(edited, type(sent))
    assert edited.text == "dos"
    with pytest.raises(BadRequest, match="not modified"):
        await bot.edit_message_text("dos", chat_id=ANA, message_id=sent.message_id)
    with pytest.raises(BadRequest, match="Message to edit not found"):
        await bot.edit_message_reply_markup(chat_id=ANA, message_id=999)


async def test_commands_are_kept_per_scope(bot: Bot, fake: FakeBotApi) -> None:
    scope = BotCommandScopeChat(ANA)
    await bot.set_my_commands([BotCommand("estado", "Ver tu reclamo")], scope=scope)
    await bot.set_my_commands([BotCommand("start", "Empezar")])

    assert [c.command for c in await bot.get_my_commands(scope=scope)] == ["estado"]
    assert [c.command for c in await bot.get_my_commands()] == ["start"]
    await bot.delete_my_commands(scope=scope)
    assert await bot.get_my_commands(scope=scope) == ()
    assert fake.commands_for({"type": "chat", "chat_id": ANA}) is None


async def test_enforced_limits_answer_429_past_one_message_per_chat_second(url: str) -> None:
    limited = FakeBotApi(enforce_limits=True, overall_per_second=30, per_chat_per_second=1)
    async with serve(limited) as limited_url, Bot(token=TOKEN, base_url=limited_url) as client:
        await client.send_message(ANA, "1")
        for text in ("2", "3"):
            with pytest.raises(RetryAfter) as caught:
                await client.send_message(ANA, text)
            assert caught.value.retry_after == dtm.timedelta(seconds=1)
        await client.send_message(ANA + 1, "another chat has its own window")

    assert limited.rejected_429 == 2
    assert limited.texts(ANA) == ["1"]


async def test_pushed_updates_parse_in_ptb_and_honour_offset(bot: Bot, fake: FakeBotApi) -> None:
    ids = [fake.push_non_text(ANA, kind) for kind in sorted(NON_TEXT_KINDS)]
    fake.push_message(ANA, "/start abc", username="ana")
    fake.push_message(ANA, "reenviado", forward=True)
    fake.push_message(ANA, "corregido", edited=True)
    fake.push_callback(ANA, "claim:view:7", message_id=ids[0])

    updates = await bot.get_updates(limit=100)

    messages = [u.message for u in updates[: len(ids)]]
    assert [m.effective_attachment is not None for m in messages if m] == [True] * len(ids)
    assert [u.update_id for u in updates] == list(range(1, len(ids) + 5))
    command, forwarded, edited, callback = updates[len(ids) :]
    assert command.message is not None
    assert command.message.text == "/start abc"
    assert filters.COMMAND.check_update(command)
    assert forwarded.message is not None
    assert forwarded.message.forward_origin is not None
    assert edited.edited_message is not None
    assert edited.edited_message.edit_date is not None
    assert callback.callback_query is not None
    assert callback.callback_query.data == "claim:view:7"

    again = await bot.get_updates(offset=updates[-2].update_id, limit=1)
    assert [u.update_id for u in again] == [updates[-2].update_id]  # limit honoured
    assert await bot.get_updates(offset=updates[-1].update_id + 1) == ()
    await fake.wait_updates_fetched()


async def test_allowed_updates_drop_other_types_like_telegram(bot: Bot, fake: FakeBotApi) -> None:
    fake.push_message(ANA, "corregido", edited=True)
    fake.push_message(ANA, "hola")

    updates = await bot.get_updates(allowed_updates=[Update.MESSAGE])

    assert [u.effective_message.text for u in updates if u.effective_message] == ["hola"]
    await fake.wait_updates_fetched()  # the edit counts as settled: it is never delivered


async def test_long_poll_returns_as_soon_as_an_update_is_pushed(
    bot: Bot, fake: FakeBotApi
) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=dtm.timedelta(seconds=30)))
    await fake.wait_for_call("getUpdates")

    fake.push_message(ANA, "hola")
    [update] = await asyncio.wait_for(poll, 2)

    assert update.message is not None
    assert update.message.text == "hola"


async def test_wait_for_times_out_with_a_summary(bot: Bot, fake: FakeBotApi) -> None:
    await bot.send_message(ANA, "hola")

    with pytest.raises(AssertionError, match=r"2 x sendMessage(.|\n)*sendMessage .*'hola'"):
        await fake.wait_for_call("sendMessage", count=2, timeout=0.05)


async def test_raw_requests_in_ptbs_spelling_only_and_unknown_methods_404(
    url: str, fake: FakeBotApi
) -> None:
    """Stricter than Telegram on purpose: a method name spelt otherwise than PTB's typed
    methods spell it means a call bypassed them (and their ``Defaults``), so it is a 404."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{url}{TOKEN}/sendMessage", json={"chat_id": str(ANA), "text": "json"}
        ) as response:
            body = await response.json()
        async with session.post(
            f"{url}{TOKEN}/sendmessage", json={"chat_id": str(ANA), "text": "raw"}
        ) as other_spelling:
            refused = await other_spelling.json()
        async with session.get(f"{url}{TOKEN}/noSuchMethod") as missing:
            error = await missing.json()

    assert body["ok"] is True
    assert body["result"]["chat"]["id"] == ANA
    assert fake.texts(ANA) == ["json"]
    assert other_spelling.status == 404
    assert missing.status == 404
    assert refused == error == {"ok": False, "error_code": 404, "description": "Not Found"}


async def test_application_polls_a_pushed_message_and_replies(url: str, fake: FakeBotApi) -> None:
    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text(f"eco: {update.effective_message.text}")

    app = ApplicationBuilder().token(TOKEN).base_url(url).build()
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
    try:
        fake.push_message(ANA, "hola")
        [reply] = await fake.wait_for_call("sendMessage", chat_id=ANA)
    finally:
        await app.updater.stop()
        await app.stop()
        await app.shutdown()

    assert reply.params["text"] == "eco: hola"
    assert fake.calls_to("getUpdates")[-1].params["offset"] == 2  # the update was confirmed


@pytest.mark.parametrize(
    "text",
    ["a &quo", "<b>open", "x < y", "&amp", "<b>a</i>", "<script>x</script>", "<b", "a &zz; b"],
)
async def test_html_telegram_cannot_parse_is_refused(
    bot: Bot, fake: FakeBotApi, text: str
) -> None:
    """A cut entity or tag fails like on Telegram, so a test cannot miss it (#11.10)."""
    with pytest.raises(BadRequest, match="parse entities"):
        await bot.send_message(ANA, text, parse_mode="HTML")

    sent = await bot.send_message(ANA, text.replace("<", "&lt;").replace("&", "&amp;"))
    assert sent.text == text.replace("<", "&lt;").replace("&", "&amp;")  # no parse mode


def test_html_text_decodes_entities_and_drops_tags() -> None:
    assert html_text("<b>R-1</b> &lt;&gt;&amp;&quot;&#39;&#x41;") == "R-1 <>&\"'A"
