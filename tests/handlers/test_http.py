"""``handlers.transport.http.AiohttpRequest`` against the fake Bot API: bodies, timeouts,
error mapping.

The request class only moves bytes; PTB's ``BaseRequest.post`` turns HTTP answers into
exceptions. These tests check the whole path a handler sees through a real ``telegram.Bot``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut
from telegram.request import RequestData

from handlers.transport.http import AiohttpRequest
from tests.conftest import ServedFake
from tests.fakes.bot_api import FakeBotApi, serve

TOKEN = "123456:TEST-token-not-real-0123456789"  # fake server only
CHAT = 4242


@pytest.fixture
async def bot(fake_api_server: ServedFake) -> AsyncIterator[Bot]:
    """A PTB ``Bot`` whose every call goes through ``AiohttpRequest``."""
    bot = Bot(
        TOKEN,
        base_url=fake_api_server.base_url,
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
    )
    async with bot:
        yield bot


async def test_send_message_arrives_with_every_parameter(bot: Bot, fake_api: FakeBotApi) -> None:
    markup = InlineKeyboardMarkup([[InlineKeyboardButton("Ver", callback_data="claim:1")]])
    message = await bot.send_message(
        CHAT, "<b>Hola</b> ñandú", parse_mode="HTML", protect_content=True, reply_markup=markup
    )
    [call] = fake_api.sent(CHAT)
    assert call.params["text"] == "<b>Hola</b> ñandú"
    assert call.params["protect_content"] is True
    assert call.params["parse_mode"] == "HTML"
    assert call.params["reply_markup"] == markup.to_dict()
    assert message.chat.id == CHAT
    assert message.reply_markup == markup


async def test_get_updates_long_polls_through_its_own_request(
    bot: Bot, fake_api: FakeBotApi
) -> None:
    fake_api.push_message(CHAT, "/estado")
    updates = await bot.get_updates(timeout=1)
    assert [u.message.text for u in updates if u.message] == ["/estado"]


async def test_429_becomes_retry_after(bot: Bot, fake_api: FakeBotApi) -> None:
    fake_api.fail(
        "sendMessage", status=429, description="Too Many Requests: retry after 7", retry_after=7
    )
    with pytest.raises(RetryAfter) as caught:
        await bot.send_message(CHAT, "x", protect_content=True)
    assert caught.value.retry_after == timedelta(seconds=7)


@pytest.mark.parametrize(
    ("status", "description", "error"),
    [
        (403, "Forbidden: bot was blocked by the user", Forbidden),
        (400, "Bad Request: chat not found", BadRequest),
    ],
)
async def test_error_answers_map_like_httpx(
    bot: Bot, fake_api: FakeBotApi, status: int, description: str, error: type[Exception]
) -> None:
    fake_api.fail("sendMessage", status=status, description=description)
    with pytest.raises(error) as caught:
        await bot.send_message(CHAT, "x", protect_content=True)
    assert description.split(": ", 1)[1] in str(caught.value).lower()
    assert fake_api.sent(CHAT) == []


async def test_dropped_connection_is_a_network_error(bot: Bot, fake_api: FakeBotApi) -> None:
    fake_api.drop_connection("sendMessage")
    with pytest.raises(NetworkError) as caught:
        await bot.send_message(CHAT, "x", protect_content=True)
    assert not isinstance(caught.value, TimedOut)
    assert "aiohttp." in caught.value.message
    assert TOKEN not in caught.value.message
    # The pool recovers: the next call goes through.
    await bot.send_message(CHAT, "again", protect_content=True)
    assert fake_api.texts(CHAT) == ["again"]


async def test_refused_connection_is_a_network_error_without_the_token() -> None:
    fake = FakeBotApi()
    async with serve(fake) as base_url:
        pass  # the port is closed again: nothing listens there now
    request = AiohttpRequest(connect_timeout=2.0)
    await request.initialize()
    try:
        with pytest.raises(NetworkError) as caught:
            await request.do_request(f"{base_url}{TOKEN}/getMe", "POST")
    finally:
        await request.shutdown()
    assert not isinstance(caught.value, TimedOut)
    assert TOKEN not in caught.value.message


async def test_slow_answer_is_timed_out(fake_api_server: ServedFake) -> None:
    bot = Bot(TOKEN, base_url=fake_api_server.base_url, request=AiohttpRequest(read_timeout=0.05))
    async with bot:  # getMe, answered at once
        fake_api_server.fake.latency = 0.5
        with pytest.raises(TimedOut):
            await bot.send_message(CHAT, "x", protect_content=True)
        # A per-call read timeout overrides the default.
        fake_api_server.fake.latency = 0.1
        message = await bot.send_message(CHAT, "y", protect_content=True, read_timeout=None)
    assert message.text == "y"


async def test_uploads_are_sent_as_a_multipart_form(bot: Bot, fake_api: FakeBotApi) -> None:
    # The fake does not implement sendDocument (404 → InvalidToken), but records what came.
    with pytest.raises(InvalidToken):
        await bot.send_document(
            CHAT, b"data", filename="informe.txt", caption="hola", protect_content=True
        )
    [call] = fake_api.calls_to("sendDocument")
    assert call.params["document"] == "<file informe.txt>"
    assert call.params["caption"] == "hola"
    assert call.params["chat_id"] == CHAT


async def test_lifecycle_and_defaults() -> None:
    request = AiohttpRequest(read_timeout=3.0)
    assert request.read_timeout == 3.0
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST", RequestData())
    await request.shutdown()  # never opened: harmless
    await request.initialize()
    await request.initialize()  # already open: kept
    await request.shutdown()
    await request.shutdown()  # twice: harmless
    with pytest.raises(RuntimeError, match="not initialized"):
        await request.do_request("http://127.0.0.1:9/x", "POST")
    with pytest.raises(ValueError, match="pool"):
        AiohttpRequest(connection_pool_size=0)


async def test_reopens_after_shutdown(fake_api_server: ServedFake) -> None:
    request = AiohttpRequest(read_timeout=None, write_timeout=None)
    bot = Bot(TOKEN, base_url=fake_api_server.base_url, request=request)
    async with bot:
        await bot.send_message(CHAT, "uno", protect_content=True)
    async with bot:  # initialize() after shutdown() opens a new session
        await bot.send_message(CHAT, "dos", protect_content=True)
    assert fake_api_server.fake.texts(CHAT) == ["uno", "dos"]
