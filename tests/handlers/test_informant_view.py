"""What an informant and a blocked member meet in the chat (issue #14.7, #14.8), end to end.

The claim list is one message paged with buttons that edit it in place; a history shows the
day a status took effect when the import said so; a member flagged as having blocked the bot
is unflagged by their next message.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import RunningBot, seed_claims, seed_invite, seed_region

ANA = 801
BOT_USER = {"id": 10000, "is_bot": True, "first_name": "Chaski Test"}


@pytest.fixture
async def ana(running_bot: RunningBot) -> RunningBot:
    services = running_bot.services
    await seed_region(services)
    await running_bot.register(ANA, await seed_invite(services, "Puma"))
    running_bot.fake.reset_calls()
    return running_bot


def keyboard(params: dict[str, Any]) -> list[list[tuple[str, str]]]:
    rows = params["reply_markup"]["inline_keyboard"]
    return [[(b["text"], b["callback_data"]) for b in row] for row in rows]


async def test_many_claims_are_one_message_paged_in_place(ana: RunningBot) -> None:
    rows = [
        f"R-2016-{n:04d},Puma,Tornado 2016,2016-05-20,Pichari,100,approved,,," for n in range(400)
    ]
    await seed_claims(ana.services, *rows)
    fake = ana.fake

    fake.push_message(ANA, "/estado")
    await ana.settle()

    [listing] = fake.sent(ANA)  # 400 claims: one message, not one per 4096 characters
    assert listing.params["text"].endswith("Página 1 de 80")
    buttons = keyboard(listing.params)
    assert len(buttons) == 6  # five history buttons and the move row
    assert buttons[-1] == [("Siguiente ▶", "claim:page:1")]
    message_id = ana.last_message_id(ANA)

    fake.push_callback(ANA, "claim:page:1", message_id=message_id)
    await ana.settle()

    assert len(fake.sent(ANA)) == 1  # nothing new was sent
    [edit] = fake.calls_to("editMessageText")
    assert edit.params["message_id"] == message_id
    assert edit.params["text"].endswith("Página 2 de 80")
    assert keyboard(edit.params)[-1] == [
        ("◀ Anterior", "claim:page:0"),
        ("Siguiente ▶", "claim:page:2"),
    ]
    fake.push_callback(ANA, "claim:page:999999", message_id=message_id)
    await ana.settle()
    last = fake.calls_to("editMessageText")[-1]
    assert last.params["text"].endswith("Página 80 de 80")
    assert keyboard(last.params)[-1] == [("◀ Anterior", "claim:page:78")]


async def test_the_history_shows_the_day_the_status_took_effect(ana: RunningBot) -> None:
    header = (
        "reference,codename,operation,operation_date,region,promised_amount,status,"
        "promised_date,next_step,next_step_date,paid_amount,status_date\n"
    )
    row = "R-2016-0001,Puma,Tornado 2016,2016-05-20,Pichari,100,partially_paid,,,,40,2019-05-30\n"
    await ana.services.claims_import.import_file((header + row).encode())
    fake = ana.fake
    fake.push_message(ANA, "/estado")
    await ana.settle()
    [listing] = fake.sent(ANA)
    assert "Pagado hasta ahora: S/\xa040" in listing.params["text"]
    [[(_label, data)]] = keyboard(listing.params)

    fake.push_callback(ANA, data, message_id=ana.last_message_id(ANA))
    await ana.settle()

    history = fake.texts(ANA)[-1]
    assert history.splitlines()[2] == "30/05/2019 · Pagado en parte"


async def test_any_message_clears_the_blocked_flag(ana: RunningBot) -> None:
    """Issue #14.7: the unblock notice may never come; the member's message is proof."""
    ana.fake.push_update(
        {
            "my_chat_member": {
                "chat": {"id": ANA, "type": "private", "first_name": "A"},
                "from": {"id": ANA, "is_bot": False, "first_name": "A"},
                "date": 1_700_000_000,
                "old_chat_member": {"status": "member", "user": BOT_USER},
                "new_chat_member": {"status": "kicked", "user": BOT_USER, "until_date": 0},
            }
        }
    )
    await ana.settle()
    [flagged] = [m for m in await ana.services.directory.list_members() if m.codename == "Puma"]
    assert flagged.blocked

    ana.fake.push_message(ANA, "/menu")
    await ana.settle()

    [cleared] = [m for m in await ana.services.directory.list_members() if m.codename == "Puma"]
    assert not cleared.blocked
    assert ana.fake.texts(ANA) == ["Elige una opción del menú."]
