"""Help escalations under a storm (issue #13): coalesced per coordinator, nobody dropped.

Telegram takes about one message a second in a chat; one escalation message per help request
would keep a region's coordinator minutes behind a storm of *Necesito ayuda*. While an
escalation to a coordinator still waits, a new request for the same alert replaces it by one
that names everybody (the outbox unites the names in the transaction that cancels the waiting
row); once one was sent, the next request starts a new message. Real application, fake Bot API
with Telegram's limits switched on, real SQLite.
"""

from __future__ import annotations

import json
import re
import sqlite3
from contextlib import closing
from pathlib import Path

from telegram import InlineKeyboardMarkup

from bot.domain.models import Lang
from bot.domain.notices import HelpRequested
from bot.i18n import Catalogs
from handlers.alerts.renderers import MAX_HELP_BUTTONS, render_help
from tests.conftest import enforce_telegram_limits
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.world import World
from tests.handlers.test_alerts import PUMA, ZORRO
from tests.handlers.test_alerts import world as world  # noqa: PLC0414 - the fixture
from tests.handlers.test_tally import handled, send_alert

ACK = re.compile(r"^help:ack:(\d+)$")
HELP_TEXT = ("pidió ayuda al responder", "Pidieron ayuda en el aviso")


def escalations(fake: FakeBotApi, chat: int) -> list[Call]:
    """Help escalation messages that reached ``chat``, in order."""
    return [c for c in fake.sent(chat) if any(s in str(c.params.get("text")) for s in HELP_TEXT)]


def acked_ids(call: Call) -> list[int]:
    """The help request ids a message's "take it" buttons cover."""
    markup = call.params.get("reply_markup") or {}
    ids = []
    for row in markup.get("inline_keyboard", []):
        for button in row:
            found = ACK.match(str(button.get("callback_data", "")))
            if found:
                ids.append(int(found.group(1)))
    return ids


def help_ids(world: World) -> set[int]:
    with closing(sqlite3.connect(f"file:{world.db_path}?mode=ro", uri=True)) as conn:
        return {int(row[0]) for row in conn.execute("SELECT id FROM help_requests")}


async def press_help(world: World, alert_id: int, chats: list[int]) -> None:
    """Every chat in ``chats`` presses *Necesito ayuda* at once; returns once all are answered
    (the answer is given after the request was recorded)."""
    answered = len(world.fake.calls_to("answerCallbackQuery"))
    for chat in chats:
        world.fake.push_callback(
            chat, f"alert:help:{alert_id}", message_id=world.bot.last_message_id(chat)
        )
    await handled(world)
    await world.fake.wait_for(
        lambda f: len(f.calls_to("answerCallbackQuery")) >= answered + len(chats), timeout=20
    )


async def everybody_named(world: World, chat: int, ids: set[int]) -> None:
    def covered(fake: FakeBotApi) -> bool:
        return ids <= {i for call in escalations(fake, chat) for i in acked_ids(call)}

    await world.fake.wait_for(covered, timeout=20)


async def test_a_burst_of_help_reaches_each_coordinator_as_few_messages_naming_everyone(
    world: World, tmp_path: Path
) -> None:
    alert_id, _, chats = await send_alert(world, tmp_path, extra=29)
    late = chats.pop()  # asks for help after the burst was escalated
    enforce_telegram_limits(world.bot)

    await press_help(world, alert_id, chats)  # 30 help presses within a second
    ids = help_ids(world)
    assert len(ids) == 30

    for coordinator in (PUMA, ZORRO):
        await everybody_named(world, coordinator, ids)
        sent = escalations(world.fake, coordinator)
        assert len(sent) <= 4, [c.params["text"] for c in sent]  # not one per request
        named = {i for call in sent for i in acked_ids(call)}
        assert named == ids  # everybody, nobody invented
        text = " ".join(str(c.params["text"]) for c in sent)
        assert all(f"Extra-{n}" in text for n in range(28))
    assert world.fake.rejected_429 == 0

    # Once sent, the next request starts a new message that names only its asker.
    before = {chat: len(escalations(world.fake, chat)) for chat in (PUMA, ZORRO)}
    await press_help(world, alert_id, [late])
    new_ids = help_ids(world) - ids
    assert len(new_ids) == 1
    for coordinator in (PUMA, ZORRO):

        def one_more(fake: FakeBotApi, chat: int = coordinator) -> bool:
            return len(escalations(fake, chat)) == before[chat] + 1

        await world.fake.wait_for(one_more, timeout=10)
        last = escalations(world.fake, coordinator)[-1]
        assert acked_ids(last) == sorted(new_ids)
        assert last.params["text"] == (
            f"<b>Extra-28 pidió ayuda al responder el aviso n.º {alert_id}.</b>"
        )
    assert world.fake.rejected_429 == 0


async def test_help_held_back_by_a_429_is_merged_not_lost(world: World, tmp_path: Path) -> None:
    alert_id, _, chats = await send_alert(world, tmp_path, extra=6)
    enforce_telegram_limits(world.bot)
    world.fake.fail(
        "sendMessage",
        status=429,
        description="Too Many Requests: retry after 2",
        retry_after=2,
        chat_id=PUMA,
    )

    world.fake.push_callback(
        chats[0], f"alert:help:{alert_id}", message_id=world.bot.last_message_id(chats[0])
    )
    await world.fake.wait_for(
        lambda f: any(c.failed for c in f.sent(PUMA, include_failed=True)), timeout=10
    )
    # The rest ask while the 429 pause holds the first escalation.
    await press_help(world, alert_id, chats[1:])
    ids = help_ids(world)
    assert len(ids) == len(chats)

    await everybody_named(world, PUMA, ids)
    sent = escalations(world.fake, PUMA)
    assert len(sent) <= 2, [c.params["text"] for c in sent]
    assert {i for call in sent for i in acked_ids(call)} == ids
    assert (
        world.count(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'help' AND status IN ('queued', 'errored')"
        )
        == 0
    )

    # Taking one of several requests keeps the buttons of the others on that message.
    several = sent[-1]  # the coordinator's last message
    first, *others = acked_ids(several)
    assert others
    await world.press(PUMA, f"help:ack:{first}", world.bot.last_message_id(PUMA))
    [edit] = [
        c
        for c in world.fake.calls_to("editMessageText")
        if c.params["chat_id"] == PUMA and "Tú atiendes este pedido" in c.params["text"]
    ]
    assert acked_ids(edit) == others


def test_an_escalation_naming_hundreds_stays_under_telegrams_limits() -> None:
    asked = {str(n): f"Codename-largo-{n:05d}" for n in range(1, 301)}
    t = Catalogs.load().for_lang(Lang.ES)
    rendered = render_help(
        t, Lang.ES, HelpRequested.from_params({"alert": "4", "asked": json.dumps(asked)})
    )

    assert rendered.text.startswith("<b>Pidieron ayuda en el aviso n.º 4 (300 personas): ")
    assert len(rendered.text) < 4096
    assert "Codename-largo-00001, Codename-largo-00002" in rendered.text
    shown = rendered.text.count("Codename-largo-")
    assert rendered.text.endswith(f" … (+{300 - shown}).</b>")
    markup = rendered.reply_markup
    assert isinstance(markup, InlineKeyboardMarkup)
    buttons = [b for row in markup.inline_keyboard for b in row]
    assert len(buttons) == MAX_HELP_BUTTONS
    assert buttons[0].text == "Atiendo a Codename-largo-00001"
    assert buttons[0].callback_data == "help:ack:1"
