"""``handlers.transport.send``: the one send path through PTB's typed methods and ``Defaults``.

Driven by a real ``ExtBot`` (the bot class of the Application) over ``AiohttpRequest`` against
the fake Bot API, so what is checked is what leaves on the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from telegram import LinkPreviewOptions
from telegram.constants import ParseMode
from telegram.error import InvalidToken
from telegram.ext import Defaults, ExtBot

from handlers.transport.http import AiohttpRequest
from handlers.transport.send import bot_defaults, callback_keyboard, post_message, post_photo
from tests.conftest import LIMA, ServedFake
from tests.fakes.bot_api import FakeBotApi, Upload

TOKEN = "123456:TEST-token-not-real-0123456789"  # fake server only
CHAT = 4242
ROWS = [
    [("Ver R-2016-0007", "claim:history:7")],
    [("Sí, borrar", "wipe:yes"), ("Cancelar <b>&", "wipe:no")],
]


async def _bot(served: ServedFake, defaults: Defaults) -> ExtBot[None]:
    bot: ExtBot[None] = ExtBot(
        TOKEN,
        base_url=served.base_url,
        request=AiohttpRequest(),
        get_updates_request=AiohttpRequest(connection_pool_size=1),
        defaults=defaults,
    )
    await bot.initialize()
    return bot


@pytest.fixture
async def bot(fake_api_server: ServedFake) -> AsyncIterator[ExtBot[None]]:
    """An ``ExtBot`` with the Application's own ``Defaults``."""
    bot = await _bot(fake_api_server, bot_defaults(LIMA))
    yield bot
    await bot.shutdown()


def test_the_defaults_are_html_and_protected() -> None:
    defaults = bot_defaults(LIMA)
    assert defaults.parse_mode == ParseMode.HTML
    assert defaults.protect_content is True
    assert defaults.tzinfo is LIMA


async def test_post_message_sends_html_protected_with_ptbs_keyboard(
    bot: ExtBot[None], fake_api: FakeBotApi
) -> None:
    message_id = await post_message(bot, CHAT, "<b>Hola</b>", callback_keyboard(ROWS))

    [call] = fake_api.calls_to("sendMessage")
    assert call.params["parse_mode"] == "HTML"
    assert call.params["protect_content"] is True
    assert call.params["reply_markup"] == {
        "inline_keyboard": [
            [{"text": "Ver R-2016-0007", "callback_data": "claim:history:7"}],
            [
                {"text": "Sí, borrar", "callback_data": "wipe:yes"},
                {"text": "Cancelar <b>&", "callback_data": "wipe:no"},
            ],
        ]
    }
    assert fake_api.live_messages(CHAT) == {message_id}


async def test_post_message_follows_every_default_of_the_bot(
    fake_api_server: ServedFake, fake_api: FakeBotApi
) -> None:
    """A default added where the Application is built reaches the one send path unrepeated."""
    defaults = Defaults(
        parse_mode=ParseMode.HTML,
        protect_content=True,
        link_preview_options=LinkPreviewOptions(is_disabled=True),
    )
    bot = await _bot(fake_api_server, defaults)
    try:
        await post_message(bot, CHAT, "https://example.org", None, disable_notification=True)
    finally:
        await bot.shutdown()

    [call] = fake_api.calls_to("sendMessage")
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert call.params["disable_notification"] is True


async def test_a_rejected_token_is_invalid_token(bot: ExtBot[None], fake_api: FakeBotApi) -> None:
    """The outbox stops all sending on ``InvalidToken`` (A7); PTB raises it itself."""
    fake_api.fail("sendMessage", status=401, description="Unauthorized")

    with pytest.raises(InvalidToken):
        await post_message(bot, CHAT, "hola", None)


async def test_a_bot_without_the_protection_default_sends_nothing(
    fake_api_server: ServedFake, fake_api: FakeBotApi
) -> None:
    """M-11 rests on the bot's ``Defaults``: a bot built without them must fail loudly, not
    send a message that can be forwarded."""
    bot = await _bot(fake_api_server, Defaults(parse_mode=ParseMode.HTML))
    try:
        with pytest.raises(RuntimeError, match="M-11"):
            await post_message(bot, CHAT, "hola", None)
    finally:
        await bot.shutdown()

    assert fake_api.calls_to("sendMessage") == []


#: The smallest PNG: the signature is what the fake checks of an uploaded photo.
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


async def test_a_photo_is_uploaded_protected_with_an_html_caption(
    bot: ExtBot[None], fake_api: FakeBotApi
) -> None:
    message_id = await post_photo(bot, CHAT, PNG, filename="informe.png", caption="<b>40</b>")
    [call] = fake_api.calls_to("sendPhoto")
    assert call.params["protect_content"] is True  # M-11, from the bot's Defaults
    assert call.params["parse_mode"] == "HTML"
    assert call.params["caption"] == "<b>40</b>"
    upload = call.params["photo"]
    assert isinstance(upload, Upload)
    assert (upload.filename, upload.data) == ("informe.png", PNG)
    assert message_id in fake_api.live_messages(CHAT)


async def test_a_bot_without_the_protection_default_uploads_no_photo(
    fake_api_server: ServedFake, fake_api: FakeBotApi
) -> None:
    bot = await _bot(fake_api_server, Defaults(parse_mode=ParseMode.HTML))
    try:
        with pytest.raises(RuntimeError, match="M-11"):
            await post_photo(bot, CHAT, PNG, filename="informe.png")
    finally:
        await bot.shutdown()
    assert fake_api.calls_to("sendPhoto") == []
