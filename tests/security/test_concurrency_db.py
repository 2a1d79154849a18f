"""docs/security-tests.md §4.4, concurrency, database, restarts: the handler-level cases left open.

T-33 (a double tap on the language button: one state change, one audit row) and T-34 (the
database locked past ``busy_timeout`` while a member acts: the neutral "try later", nothing
half-written). The alert and approval double taps, the crash test and the storage cases are
proved elsewhere (docs/security-tests.md).
"""

from __future__ import annotations

import sqlite3

import pytest

from bot.domain.models import Lang
from tests.conftest import RunningBot, seed_invite, seed_region
from tests.security.helpers import PICKER, database, db_file, query

ANA = 72_101
BUSY = "El servicio está ocupado. Inténtalo más tarde."


@pytest.fixture
async def ana(running_bot: RunningBot) -> RunningBot:
    await seed_region(running_bot.services)
    await running_bot.register(ANA, await seed_invite(running_bot.services, "Kuntur-tap"), "es")
    running_bot.fake.reset_calls()
    return running_bot


def _language_audits(bot: RunningBot) -> int:
    [(count,)] = query(db_file(bot), "SELECT count(*) FROM audit WHERE action = 'choose_language'")
    return int(count)


async def test_t33_double_tap_on_a_language_button_changes_and_audits_once(
    ana: RunningBot,
) -> None:
    """The second tap finds the language already chosen: no write, no second audit row."""
    bot = ana
    before = _language_audits(bot)
    bot.fake.push_message(ANA, "/idioma")
    await bot.settle()
    picker = bot.last_message_id(ANA)
    bot.fake.push_callback(ANA, "lang:set:qu", message_id=picker)
    bot.fake.push_callback(ANA, "lang:set:qu", message_id=picker)  # ~the same instant
    await bot.settle()

    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.QU
    assert len(bot.fake.calls_to("answerCallbackQuery")) == 2  # both spinners stop
    assert _language_audits(bot) == before + 1


async def test_t33_choosing_the_stored_language_again_writes_nothing(ana: RunningBot) -> None:
    """A later tap on the language already stored is a no-op too; a different one is not."""
    bot = ana
    before = _language_audits(bot)
    for lang in ("es", "es", "qu"):
        bot.fake.push_message(ANA, "/idioma")
        await bot.settle()
        bot.fake.push_callback(ANA, f"lang:set:{lang}", message_id=bot.last_message_id(ANA))
        await bot.settle()

    assert _language_audits(bot) == before + 1  # es was stored at registration; only qu
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.QU
    assert len(bot.fake.calls_to("answerCallbackQuery")) == 3


async def test_t33_double_tap_leaves_one_language_and_answers_both(ana: RunningBot) -> None:
    """The state ends right and no press is left unanswered."""
    bot = ana
    bot.fake.push_message(ANA, "/idioma")
    await bot.settle()
    picker = bot.last_message_id(ANA)
    bot.fake.push_callback(ANA, "lang:set:qu", message_id=picker)
    bot.fake.push_callback(ANA, "lang:set:qu", message_id=picker)
    await bot.settle()

    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.QU
    assert len(bot.fake.calls_to("answerCallbackQuery")) == 2
    [(lang,)] = query(db_file(bot), "SELECT lang FROM members WHERE lang_chosen = 1")
    assert lang == "qu"


async def test_t34_locked_database_gets_the_neutral_try_later_and_writes_nothing(
    ana: RunningBot,
) -> None:
    """T-34/R-10: past ``busy_timeout`` the member is told to try later; no partial write."""
    bot = ana
    db = database(bot)
    await db.writer.execute("PRAGMA busy_timeout = 50")  # the production 5 s, shortened
    path = db_file(bot)
    audits = query(path, "SELECT count(*) FROM audit")
    other = sqlite3.connect(path, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # someone else holds the write lock
        bot.fake.push_message(ANA, "/idioma")
        await bot.settle()
        bot.fake.push_callback(ANA, "lang:set:qu", message_id=bot.last_message_id(ANA))
        await bot.settle()
        other.execute("ROLLBACK")
    finally:
        other.close()

    texts = bot.fake.texts(ANA)
    # Reading (the picker) still works under WAL; the write is refused with the neutral text.
    assert texts[-1] == BUSY
    assert set(texts) <= {BUSY, PICKER}  # never a stack trace, never a half-done answer
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.ES
    assert query(path, "SELECT count(*) FROM audit") == audits

    # The lock is gone: the same action works and is recorded once.
    await db.writer.execute("PRAGMA busy_timeout = 5000")
    bot.fake.push_message(ANA, "/idioma")
    await bot.settle()
    bot.fake.push_callback(ANA, "lang:set:qu", message_id=bot.last_message_id(ANA))
    await bot.settle()
    member = await bot.services.registration.identify(ANA)
    assert member is not None
    assert member.lang is Lang.QU
