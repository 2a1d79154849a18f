"""The harness itself: how updates reach the bot in handler tests (tests/fakes/world.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import Settings
from bot.root.wiring import open_wiring
from bot.services.pin import SCRYPT_LOG_N
from tests.conftest import RunningBot, ServedFake, TestClock, World, seed_invite, seed_region
from tests.fakes.world import PIN_SCRYPT_LOG_N, bot_process
from tests.security.helpers import NEUTRAL

STRANGER, ANA = 9_301, 9_302
MENU_ES = "Elige una opción del menú."
MENU_QU = "Menúmanta huk botonta akllay."


async def test_updates_are_handled_without_polling(running_bot: RunningBot) -> None:
    """The default: the pushed dict goes to ``process_update``; no getUpdates at all."""
    assert not running_bot.polling
    running_bot.fake.push_message(STRANGER, "/menu")
    await running_bot.settle()
    assert running_bot.fake.texts(STRANGER) == [NEUTRAL]
    assert running_bot.fake.calls_to("getUpdates") == []


@pytest.mark.polling
async def test_a_polling_test_gets_a_bot_that_polls(running_bot: RunningBot) -> None:
    assert running_bot.polling
    running_bot.fake.push_message(STRANGER, "/menu")
    await running_bot.settle()
    assert running_bot.fake.texts(STRANGER) == [NEUTRAL]
    assert running_bot.fake.calls_to("getUpdates") != []


async def test_updates_excluded_by_allowed_updates_never_reach_the_bot(
    running_bot: RunningBot,
) -> None:
    """Fed directly, the bot still sees only what ``allowed_updates`` lets Telegram send
    (an update that reached it would be in ``processed_updates``, the dedupe step's table)."""
    world = World.of(running_bot)
    running_bot.fake.push_update(
        {
            "channel_post": {
                "message_id": 1,
                "date": 1_700_000_000,
                "chat": {"id": -100999, "type": "channel", "title": "Canal"},
                "text": "/menu",
            }
        }
    )
    await running_bot.settle()
    assert world.count("SELECT COUNT(*) FROM processed_updates") == 0
    running_bot.fake.push_message(STRANGER, "/menu")
    await running_bot.settle()
    assert world.count("SELECT COUNT(*) FROM processed_updates") == 1


async def test_what_waited_while_the_bot_was_down_is_handled_after_the_start(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    fake_api_server.fake.push_message(STRANGER, "/menu")
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await bot.settle()
        assert bot.fake.texts(STRANGER) == [NEUTRAL]


async def test_only_the_harness_lowers_the_pin_cost(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """Handler tests hash PINs cheaply; production's settings keep threat-model §9's cost."""
    assert running_bot.services.pin.hasher.log_n == PIN_SCRYPT_LOG_N
    assert Settings().pin_scrypt_log_n == SCRYPT_LOG_N
    assert Settings.from_env({"CHASKI_PIN_SCRYPT_LOG_N": "4"}, need_token=False) == Settings()
    production = Settings(database_path=tmp_path / "prod.sqlite3", key_dir=tmp_path / "prod")
    wiring = await open_wiring(production, create=True)
    try:
        assert wiring.services.pin.hasher.log_n == SCRYPT_LOG_N
    finally:
        await wiring.close()


async def test_one_chats_updates_are_handled_in_order_through_the_update_processor(
    running_bot: RunningBot,
) -> None:
    """The feed goes through the application's update processor, as PTB's fetcher does:
    a language chosen and a menu asked for at once get the menu in the chosen language
    (``handlers.transport.concurrency``: one chat's updates in order)."""
    bot = running_bot
    await seed_region(bot.services)
    await bot.register(ANA, await seed_invite(bot.services, "Puma"), "es")
    for _ in range(3):
        bot.fake.push_callback(ANA, "lang:set:qu", message_id=bot.last_message_id(ANA))
        bot.fake.push_message(ANA, "/menu")
        await bot.settle()
        assert bot.fake.texts(ANA)[-1] == MENU_QU
        bot.fake.push_callback(ANA, "lang:set:es", message_id=bot.last_message_id(ANA))
        bot.fake.push_message(ANA, "/menu")
        await bot.settle()
        assert bot.fake.texts(ANA)[-1] == MENU_ES
