"""The coordinator's live tally under load (issue #13.3, #13.4): coalesced, never backwards.

A tally row carries its counts' version; a newer version cancels the edit still waiting, so
at most one edit per tally message is pending, and an older snapshot is never sent after a
newer one, also after a 429 or a retried transient error. Real application, fake Bot API
with Telegram's limits switched on for the answering phase, real SQLite.
"""

from __future__ import annotations

import itertools
import re
from datetime import timedelta
from pathlib import Path

from tests.conftest import enforce_telegram_limits
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.world import World
from tests.handlers.test_alerts import ANA, APU, PUMA, ROSA, compose
from tests.handlers.test_alerts import world as world  # noqa: PLC0414 - the fixture
from tests.handlers.test_outbox_sender import link, tick, until

SAFE = re.compile(r"Están bien: (\d+)")


def tally_edits(fake: FakeBotApi, message_id: int) -> list[Call]:
    """Successful edits of the coordinator's tally message, in arrival order."""
    return [
        c
        for c in fake.calls_to("editMessageText")
        if c.params.get("chat_id") == PUMA
        and c.params.get("message_id") == message_id
        and not c.failed
        and SAFE.search(str(c.params.get("text", "")))
    ]


def safe_counts(fake: FakeBotApi, message_id: int) -> list[int]:
    """The "Están bien" figure of every tally edit the coordinator saw, in order."""
    counts = []
    for call in tally_edits(fake, message_id):
        found = SAFE.search(call.params["text"])
        assert found is not None
        counts.append(int(found.group(1)))
    return counts


def pending_tally_rows(world: World) -> int:
    return world.count(
        "SELECT COUNT(*) FROM outbox WHERE kind = 'tally' AND status IN ('queued', 'errored')"
    )


async def send_alert(world: World, tmp_path: Path, extra: int) -> tuple[int, int, list[int]]:
    """An alert to Pichari's informants plus ``extra`` more, approved by the administrator if
    it needs it (over the threshold, M-14); returns (alert id, tally message id, every
    recipient's chat)."""
    chats = [ANA, ROSA]
    for n in range(extra):
        await link(world.bot, tmp_path, f"Extra-{n}", 20_000 + n)
        chats.append(20_000 + n)
    message_id, confirm = await compose(world)
    await world.press(PUMA, confirm, message_id)
    alert_id = world.count("SELECT MAX(id) FROM alerts")
    if world.count(f"SELECT status = 'pending' FROM alerts WHERE id = {alert_id}"):  # noqa: S608
        await world.bot.services.alerts.approve(await world.member(APU), alert_id)
    for chat in chats:
        await world.fake.wait_for_call("sendMessage", chat_id=chat, timeout=60)
    return alert_id, message_id, chats


def press_safe(world: World, alert_id: int, chat: int) -> None:
    world.fake.push_callback(
        chat, f"alert:safe:{alert_id}", message_id=world.bot.last_message_id(chat)
    )


async def handled(world: World) -> None:
    """Every pushed update handled (follow-up edits may still wait)."""
    await world.bot.handled(timeout=30)


async def test_300_answers_do_not_queue_300_edits(world: World, tmp_path: Path) -> None:
    alert_id, message_id, chats = await send_alert(world, tmp_path, extra=298)
    assert len(chats) == 300
    await world.run_job("alert-tallies")  # the tally after the broadcast: 0 answers
    await world.fake.wait_for(lambda f: safe_counts(f, message_id)[-1:] == [0], timeout=10)
    enforce_telegram_limits(world.bot)

    for chat in chats:
        press_safe(world, alert_id, chat)
    await handled(world)

    assert pending_tally_rows(world) <= 1  # one pending edit, whatever the answers
    await world.fake.wait_for(lambda f: safe_counts(f, message_id)[-1:] == [300], timeout=10)
    counts = safe_counts(world.fake, message_id)
    assert counts == sorted(counts)  # never backwards
    assert len(counts) < 20  # a handful of edits, not one per answer
    # The fake serves from this test's own event loop, which 300 answers keep busy: a request
    # can reach it a few hundred milliseconds after the pacer granted it, and two grants 1.1 s
    # apart can then land within Telegram's one second (seen once in CI under Python 3.12).
    # The spacing itself is proven in test_pacing.py; here one such 429 is tolerated, and the
    # tally must still end right and never go backwards (above).
    assert world.fake.rejected_429 <= 1
    assert world.count("SELECT COUNT(*) FROM alert_deliveries WHERE answer = 'safe'") == 300


async def test_the_tally_never_goes_backwards_after_a_429(world: World, tmp_path: Path) -> None:
    alert_id, message_id, chats = await send_alert(world, tmp_path, extra=8)
    enforce_telegram_limits(world.bot)
    world.fake.fail(
        "editMessageText",
        status=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        chat_id=PUMA,
    )

    press_safe(world, alert_id, chats[0])
    await world.fake.wait_for(
        lambda f: any(c.failed for c in f.calls_to("editMessageText")), timeout=10
    )
    for chat in chats[1:]:  # the rest answer while the 429 pause holds the requeued edit
        press_safe(world, alert_id, chat)
    await handled(world)

    await world.fake.wait_for(
        lambda f: safe_counts(f, message_id)[-1:] == [len(chats)], timeout=10
    )
    counts = safe_counts(world.fake, message_id)
    assert counts == sorted(counts)
    assert len(counts) <= 2  # the requeued snapshot was superseded, not sent
    assert pending_tally_rows(world) == 0


async def test_a_retried_older_tally_is_never_sent_after_a_newer_one(
    world: World, tmp_path: Path
) -> None:
    alert_id, message_id, chats = await send_alert(world, tmp_path, extra=2)
    world.fake.fail("editMessageText", status=502, description="Bad Gateway", chat_id=PUMA)

    press_safe(world, alert_id, chats[0])  # its tally edit fails: retried in about 10 s
    await world.fake.wait_for(
        lambda f: any(c.failed for c in f.calls_to("editMessageText")), timeout=10
    )
    await handled(world)
    for chat in chats[1:]:
        press_safe(world, alert_id, chat)
    await handled(world)
    await world.fake.wait_for(
        lambda f: safe_counts(f, message_id)[-1:] == [len(chats)], timeout=10
    )

    world.bot.clock.advance(timedelta(minutes=2))  # the failed edit's retry is due
    await tick(world.bot)

    async def no_tally_waiting() -> bool:
        return pending_tally_rows(world) == 0

    await until(world.bot, no_tally_waiting)
    counts = safe_counts(world.fake, message_id)
    assert counts[-1] == len(chats)
    assert all(a <= b for a, b in itertools.pairwise(counts))
    assert (
        world.count(
            "SELECT COUNT(*) FROM outbox WHERE kind = 'tally' AND last_error_code = 'superseded'"
        )
        >= 1
    )
