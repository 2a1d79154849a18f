"""A change made from the server reaches the member's command menu (issue #16.3).

``chaski members set-role`` and ``members unlink`` run in another process than the bot; they
share the database only. The change writes a ``chat_menu`` outbox row in its own transaction,
and the running bot's sender turns it into ``setMyCommands`` (the new role's commands, in the
member's language) or ``deleteMyCommands`` (an unlinked phone keeps no role menu, M-13c) for
that chat. Real application, fake Bot API, real SQLite file; the service is called as the
CLI calls it, with no Telegram at hand.
"""

from __future__ import annotations

from typing import Any

from bot.domain.models import Role
from tests.fakes.bot_api import FakeBotApi
from tests.handlers.test_members_admin import ANA, JEFE, World
from tests.handlers.test_members_admin import world as world  # noqa: PLC0414 - the fixture
from tests.handlers.test_outbox_sender import all_in, rows, until

INFORMANT_MENU = ["estado", "pin", "menu", "idioma", "ayuda", "borrar"]


def _menu(fake: FakeBotApi, chat: int) -> list[str] | None:
    commands: list[dict[str, Any]] | None = fake.commands_for({"type": "chat", "chat_id": chat})
    return None if commands is None else [command["command"] for command in commands]


async def test_a_role_changed_from_the_cli_refreshes_the_members_command_menu(
    world: World,
) -> None:
    assert "desvincular" in (_menu(world.fake, JEFE) or [])
    # As ``chaski members set-role Jefe informant`` does: the service alone, no Telegram.
    await world.bot.services.registrations.set_role("Jefe", Role.INFORMANT)
    await world.fake.wait_for(lambda fake: _menu(fake, JEFE) == INFORMANT_MENU, timeout=10)
    # Only the set-role's chat: nobody else's menu was touched, and nothing was sent.
    calls = world.fake.calls
    assert [call.method for call in calls if call.method.endswith("MyCommands")] == [
        "setMyCommands"
    ]
    assert not [call for call in calls if call.method == "sendMessage"]

    # Promoted again: the staff menu comes back, administrators' own command included.
    await world.bot.services.registrations.set_role("Jefe", Role.ADMIN)
    await world.fake.wait_for(lambda fake: "miembros" in (_menu(fake, JEFE) or []), timeout=10)


async def test_the_menu_of_a_quechua_speaker_comes_in_quechua(world: World) -> None:
    await world.say(JEFE, "/idioma")
    await world.press(JEFE, "lang:set:qu")
    before = world.fake.commands_for({"type": "chat", "chat_id": JEFE}) or []
    world.fake.reset_calls()
    await world.bot.services.registrations.set_role("Jefe", Role.ADMIN)
    await world.fake.wait_for(lambda fake: "miembros" in (_menu(fake, JEFE) or []), timeout=10)
    after = world.fake.commands_for({"type": "chat", "chat_id": JEFE}) or []
    descriptions = {command["command"]: command["description"] for command in after}
    # In the language the member chose (Quechua), as the language choice set it.
    assert {c["command"]: c["description"] for c in before}["menu"] == descriptions["menu"]
    assert descriptions["menu"] != "Mostrar el menú"
    assert descriptions["miembros"] != "Ver y gestionar miembros"


async def test_a_phone_unlinked_from_the_cli_loses_its_command_menu(world: World) -> None:
    assert _menu(world.fake, ANA) == INFORMANT_MENU
    await world.bot.services.registrations.unlink("Puma")
    await world.fake.wait_for(lambda fake: _menu(fake, ANA) is None, timeout=10)
    assert _menu(world.fake, JEFE) is not None


async def test_a_suspended_members_menu_follows_the_role_for_their_return(
    world: World,
) -> None:
    registrations = world.bot.services.registrations
    await registrations.suspend("Jefe")
    await registrations.set_role("Jefe", Role.INFORMANT)
    await world.fake.wait_for(lambda fake: _menu(fake, JEFE) == INFORMANT_MENU, timeout=10)


async def test_a_menu_telegram_refuses_is_a_dead_letter_not_a_retry_loop(world: World) -> None:
    world.fake.fail("setMyCommands", status=400, description="Bad Request: chat not found")
    await world.bot.services.registrations.set_role("Jefe", Role.INFORMANT)
    await until(world.bot, all_in(world.bot, "menu:", "dead"))
    assert (await rows(world.bot, "menu:"))[0][3] == "chat_not_found"
    assert "desvincular" in (_menu(world.fake, JEFE) or [])
