"""Log redaction and escaping (M-17, M-20, T-24, T-47; ASVS 7.3.1)."""

from __future__ import annotations

import datetime as dtm
import io
import logging
from collections.abc import Iterator

import pytest
from telegram import Chat, Message, Update, User
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from bot.root.logging_setup import RedactingFilter, configure_logging
from tests.fakes.bot_api import FakeBotApi, serve

TOKEN = "7012345678:AAHk3v9xQpL2mZr8TnB4cYw6dFs1gJe0uVq"
INVITE = "q3ZkT8vNw2LbR5xYc9HfJ1mPaD4sG7uEo6iK0tBnVzA"
PIN = "482913"
TELEGRAM_ID = 7123456789
SECRET_TEXT = "voy al puente a las 9"


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Production logging into a buffer; restores the logging tree afterwards."""
    root = logging.getLogger()
    saved = (root.level, list(root.handlers), {h: list(h.filters) for h in root.handlers})
    names = ("telegram", "telegram.ext", "httpx", "httpcore", "apscheduler")
    levels = {name: logging.getLogger(name).level for name in names}
    buffer = io.StringIO()
    yield buffer
    for handler in list(root.handlers):
        if handler not in saved[1]:
            root.removeHandler(handler)
    for handler, kept in saved[2].items():
        handler.filters[:] = kept
    root.setLevel(saved[0])
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _update() -> Update:
    user = User(id=TELEGRAM_ID, first_name="Ana", is_bot=False)
    message = Message(
        message_id=5,
        date=dtm.datetime(2025, 1, 1, tzinfo=dtm.UTC),
        chat=Chat(id=TELEGRAM_ID, type=Chat.PRIVATE),
        from_user=user,
        text=f"{SECRET_TEXT} PIN {PIN}",
    )
    return Update(update_id=912345678, message=message)


def _leaks(text: str) -> list[str]:
    needles = [TOKEN, TOKEN.split(":")[1], INVITE, PIN, str(TELEGRAM_ID), SECRET_TEXT, "Ana"]
    return [needle for needle in needles if needle in text]


def test_secrets_identifiers_and_updates_are_redacted(log_output: io.StringIO) -> None:
    configure_logging(logging.INFO, stream=log_output)
    log = logging.getLogger("chaski.test")
    log.info("Calling https://api.telegram.org/bot%s/getMe", TOKEN)
    log.info("token %s", TOKEN)
    log.warning("Invite %s rejected", INVITE)
    log.info("PIN attempt %s from %d", PIN, TELEGRAM_ID)
    log.info("chat %d", -1001234567890)
    log.error("Handler failed for %s", _update())
    log.error("Batch %s", [_update()])
    log.error("Keyed %(u)s", {"u": _update().message})
    log.info("update_id=%d handled in %d ms", 912345678, 12)
    out = log_output.getvalue()
    assert _leaks(out) == []
    assert "/bot<token>/getMe" in out
    assert "Invite <secret> rejected" in out
    assert "PIN attempt <number> from <number>" in out
    assert "chat <number>" in out
    assert "Handler failed for <redacted Update>" in out
    assert "Keyed <redacted Update>" in out
    assert "update_id=912345678 handled in 12 ms" in out  # the one long number we keep


def test_line_breaks_and_invisible_characters_are_escaped(log_output: io.StringIO) -> None:
    configure_logging(logging.INFO, stream=log_output)
    logging.getLogger("chaski.test").warning("name %s", "line1\nFAKE ENTRY\r\u202egnp.exe")
    lines = log_output.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].endswith("name line1\\nFAKE ENTRY\\r\\u202egnp.exe")


def test_tracebacks_are_redacted_but_stay_readable(log_output: io.StringIO) -> None:
    configure_logging(logging.INFO, stream=log_output)

    def send() -> None:
        raise RuntimeError(f"POST /bot{TOKEN}/sendMessage chat_id={TELEGRAM_ID}")

    try:
        send()
    except RuntimeError:
        logging.getLogger("chaski.test").exception("Send failed")
    out = log_output.getvalue()
    assert _leaks(out) == []
    assert "Traceback (most recent call last):\n" in out
    assert "RuntimeError: POST /bot<token>/sendMessage chat_id=<number>" in out


def test_exact_secrets_registered_later_are_redacted(log_output: io.StringIO) -> None:
    redactor = configure_logging(logging.INFO, stream=log_output)
    redactor.add_secret("webhook-secret")
    logging.getLogger("chaski.test").info("secret is webhook-secret")
    assert "secret is <token>" in log_output.getvalue()


def test_the_filter_covers_handlers_others_added(log_output: io.StringIO) -> None:
    other = io.StringIO()
    foreign = logging.StreamHandler(other)
    logging.getLogger().addHandler(foreign)
    configure_logging(logging.INFO)
    configure_logging(logging.INFO)  # twice: one filter per handler, not two
    try:
        logging.getLogger("chaski.test").warning("pin %s", PIN)
    finally:
        logging.getLogger().removeHandler(foreign)
    assert other.getvalue() == "pin <number>\n"
    assert sum(isinstance(f, RedactingFilter) for f in foreign.filters) == 1


def test_library_debug_output_is_dropped_even_if_enabled(log_output: io.StringIO) -> None:
    configure_logging(logging.DEBUG, stream=log_output)
    assert logging.getLogger("telegram").level == logging.INFO
    assert logging.getLogger("httpx").level == logging.WARNING
    logging.getLogger("telegram.ext").setLevel(logging.DEBUG)  # someone turns it up
    logging.getLogger("telegram.ext.Application").debug("Processing update %s", _update())
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    logging.getLogger("httpx").info("HTTP Request: POST https://x/bot%s/getUpdates", TOKEN)
    logging.getLogger("telegram.ext.Application").critical(
        "Error while building CallbackContext for update %s", _update()
    )
    out = log_output.getvalue()
    assert "Processing update" not in out
    assert "update <redacted Update>" in out
    assert _leaks(out) == []


async def test_a_debug_run_of_a_real_application_leaks_nothing(log_output: io.StringIO) -> None:
    """PTB at DEBUG polling a fake Bot API: the update text, PIN and ids stay out of logs."""
    configure_logging(logging.DEBUG, stream=log_output)
    logging.getLogger("telegram").setLevel(logging.DEBUG)
    logging.getLogger("httpx").setLevel(logging.DEBUG)
    fake = FakeBotApi()

    async def echo(update: Update, _: ContextTypes.DEFAULT_TYPE) -> None:
        logging.getLogger("chaski.handlers").info("Got %s", update)
        assert update.effective_message is not None
        await update.effective_message.reply_text("ok")

    async with serve(fake) as base_url:
        app = ApplicationBuilder().token(TOKEN).base_url(base_url).build()
        app.add_handler(MessageHandler(filters.TEXT, echo))
        await app.initialize()
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=dtm.timedelta(seconds=1))
        try:
            fake.push_message(TELEGRAM_ID, f"{SECRET_TEXT} PIN {PIN}")
            await fake.wait_for_call("sendMessage", chat_id=TELEGRAM_ID)
        finally:
            await app.updater.stop()
            await app.stop()
            await app.shutdown()
    out = log_output.getvalue()
    assert "Got <redacted Update>" in out
    assert _leaks(out) == []
