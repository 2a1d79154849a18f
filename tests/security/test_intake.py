"""Intake that one bad update cannot stop or leak (#11.5, T-30, T-47).

Telegram hands the bot its updates in batches. PTB parses a batch as a whole, so before the
quarantine in ``handlers.transport.polling`` one update it could not read made every ``getUpdates``
fail on the same batch again and again (nobody's message was answered any more), and PTB
logged the raw batch, other people's names and texts included, at CRITICAL.
"""

from __future__ import annotations

import json
import logging
import time

import pytest

from bot.root.logging_setup import RedactingFilter
from handlers.transport.polling import quarantine
from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region
from tests.security.helpers import NEUTRAL

ANA, LUIS = 73_101, 73_102
SECRET_TEXT = "Mi vecino Eusebio sabe dónde está el depósito"


def _poisoned(update_id: int | None = None) -> dict[str, object]:
    """An update PTB cannot parse (a message that is a string), carrying someone's text."""
    raw: dict[str, object] = {"message": {"message_id": 9, "date": "ayer", "text": SECRET_TEXT}}
    if update_id is not None:
        raw["update_id"] = update_id
    return raw


@pytest.mark.polling  # what polling itself does
async def test_t30_an_unreadable_update_costs_only_itself(
    running_bot: RunningBot, caplog: pytest.LogCaptureFixture
) -> None:
    bot = running_bot
    caplog.set_level(logging.DEBUG)
    bot.fake.push_message(ANA, "/start")
    poisoned = bot.fake.push_update(_poisoned())
    bot.fake.push_message(LUIS, "/start")
    await bot.settle()

    # Both strangers around the unreadable update got the neutral reply, once each.
    assert bot.fake.texts(ANA) == [NEUTRAL]
    assert bot.fake.texts(LUIS) == [NEUTRAL]
    # The unreadable update was confirmed like the others: the next poll moves past it.
    offsets = [c.params.get("offset") for c in bot.fake.calls_to("getUpdates")]
    assert any(isinstance(o, int) and o > poisoned for o in offsets)
    # Only its update_id was logged; nothing at CRITICAL, no text of anyone's.
    assert [r for r in caplog.records if r.levelno >= logging.CRITICAL] == []
    skipped = [r.getMessage() for r in caplog.records if r.name == "handlers.transport.polling"]
    assert skipped == [f"Skipped an update that could not be read: update_id={poisoned}"]
    assert all(SECRET_TEXT not in r.getMessage() for r in caplog.records)


async def test_t08_a_private_update_whose_chat_is_not_its_sender_is_dropped(
    running_bot: RunningBot,
) -> None:
    """A forged update (sender A, chat B) would make the bot send A's claims into B's chat."""
    bot = running_bot
    await seed_region(bot.services)
    await bot.register(ANA, await seed_invite(bot.services, "Puma"))
    await bot.register(LUIS, await seed_invite(bot.services, "Condor"))
    await seed_claims(bot.services, "R-1,Puma,Tornado 2016,2016-05-20,Pichari,150.00,approved,,,")
    bot.fake.reset_calls()

    bot.fake.push_message(ANA, "/estado", chat_id=LUIS)
    await bot.settle()
    assert bot.fake.calls_to("sendMessage") == []

    # The same command from Ana's own chat is answered there: the drop is the mismatch only.
    bot.fake.push_message(ANA, "/estado")
    await bot.settle()
    assert [c.params["chat_id"] for c in bot.fake.calls_to("sendMessage")] == [ANA]
    assert "R-1" in bot.fake.texts(ANA)[-1]


def test_t30_a_readable_batch_passes_untouched() -> None:
    now = int(time.time())
    chat = {"id": ANA, "type": "private", "first_name": "Ana"}
    message = {"message_id": 1, "date": now, "chat": chat, "text": "hola"}
    body = json.dumps({"ok": True, "result": [{"update_id": 5, "message": message}]}).encode()
    assert quarantine(body) is body


@pytest.mark.parametrize(
    "body", [b"not json", b'{"ok": false, "error_code": 409}', b'{"ok": true, "result": true}']
)
def test_t30_anything_but_a_batch_is_left_for_ptb_to_report(body: bytes) -> None:
    assert quarantine(body) is body


def test_t30_an_unreadable_update_without_an_id_is_left_out() -> None:
    body = json.dumps({"ok": True, "result": [_poisoned(), _poisoned(7)]}).encode()
    assert json.loads(quarantine(body)) == {"ok": True, "result": [{"update_id": 7}]}


def test_t47_raw_api_data_in_a_library_record_is_redacted() -> None:
    record = logging.LogRecord(
        "telegram.Bot",
        logging.CRITICAL,
        __file__,
        1,
        "Error while parsing updates! Received data was %r",
        ([{"update_id": 3, "message": {"text": SECRET_TEXT, "from": {"first_name": "Eusebio"}}}],),
        None,
    )
    assert RedactingFilter().filter(record)
    assert (
        record.getMessage() == "Error while parsing updates! Received data was '<redacted data>'"
    )


def test_t47_our_own_records_keep_their_container_arguments() -> None:
    record = logging.LogRecord(
        "bot.services", logging.INFO, __file__, 1, "kinds %s", (["alert", "tally"],), None
    )
    assert RedactingFilter().filter(record)
    assert record.getMessage() == "kinds ['alert', 'tally']"
