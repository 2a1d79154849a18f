"""One pacer for every message (issue #13): per-chat interval between actual sends, priorities.

End-to-end tests run the real application against the fake Bot API with Telegram's flood
limits switched on (``enforce_telegram_limits``: 30 sends a second overall and one a second
per chat, 429 beyond) and read the fake's arrival times. The ``SendPacer`` tests at the end
use short intervals so they run in a fraction of a second.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path

from handlers.transport.pacing import WINDOW_MARGIN, SendPacer, SendPriority
from tests.conftest import RunningBot, enforce_telegram_limits, seed_region, uow_of
from tests.fakes.bot_api import Call
from tests.fakes.world import World
from tests.handlers.test_alerts import ANA, PUMA, ROSA, compose
from tests.handlers.test_alerts import world as world  # noqa: PLC0414 - the fixture
from tests.handlers.test_outbox_sender import alert, all_in, link, until

#: Telegram's per-chat window, as the fake enforces it.
ONE_SECOND = 1.0


def gaps(calls: list[Call]) -> list[float]:
    """Seconds between consecutive successful calls, in arrival order."""
    times = sorted(c.at for c in calls if not c.failed)
    return [b - a for a, b in itertools.pairwise(times)]


def max_in_one_second(calls: list[Call]) -> int:
    """The most calls that arrived within any one-second window."""
    times = sorted(c.at for c in calls)
    return max((sum(1 for t in times if s <= t < s + ONE_SECOND) for s in times), default=0)


async def test_two_rows_to_one_chat_keep_a_second_apart_behind_a_busy_global_queue(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """Issue #13.1: the chat's slot was taken before the wait for the global one.

    Twenty-four rows to other chats fill the first second of the global queue; the first of
    two rows to one coordinator queues last, so it leaves about a second later. Its chat
    slot, taken when it started waiting, let the second row leave 1.1 s after *that*, 0.1 s
    after the first had arrived: Telegram answers 429.
    """
    bot = running_bot
    await seed_region(bot.services)
    others = [await link(bot, tmp_path, f"O{n}", 8100 + n) for n in range(24)]
    coordinator = await link(bot, tmp_path, "Puma", 8200)
    enforce_telegram_limits(bot)
    await uow_of(bot.services).outbox.enqueue_many(
        [alert(f"p:{m}", m) for m in others]
        + [alert("p:c1", coordinator), alert("p:c2", coordinator)]
    )

    await until(bot, all_in(bot, "p:", "sent"), timeout=20)

    assert bot.fake.rejected_429 == 0
    to_coordinator = bot.fake.sent(8200, include_failed=True)
    assert len(to_coordinator) == 2
    assert gaps(to_coordinator)[0] >= ONE_SECOND


async def test_the_confirm_edit_and_the_first_tally_edit_keep_a_second_apart(
    world: World,
) -> None:
    """Issue #13.2: "Enviando el aviso n.º 1…" and the outbox's first tally edit of the same
    message went out 247 ms apart: the reply and the outbox did not know about each other."""
    message_id, confirm = await compose(world)
    enforce_telegram_limits(world.bot)

    await world.press(PUMA, confirm, message_id)

    def edits_of_the_preview(calls: list[Call]) -> list[Call]:
        return [
            c
            for c in calls
            if c.method == "editMessageText"
            and c.params.get("chat_id") == PUMA
            and c.params.get("message_id") == message_id
        ]

    await world.fake.wait_for_call("sendMessage", chat_id=ANA)
    await world.fake.wait_for_call("sendMessage", chat_id=ROSA)
    await world.run_job("alert-tallies")
    await world.fake.wait_for(
        lambda fake: any(
            "Enviados: 2 de 2" in c.params["text"] and not c.failed
            for c in edits_of_the_preview(fake.calls)
        ),
        timeout=15,
    )
    edits = edits_of_the_preview(world.fake.calls)
    first = next(i for i, c in enumerate(edits) if "Enviando el aviso" in c.params["text"])
    edits = edits[first:]
    assert len(edits) >= 2  # the reply's edit, then the outbox's tally edit(s)
    assert world.fake.rejected_429 == 0
    assert all(gap >= ONE_SECOND for gap in gaps(edits))


async def test_replies_wait_for_no_broadcast_and_together_stay_under_the_rate(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """Replies join the outbox's pacing: first in line, and inside the same 25 a second."""
    bot = running_bot
    await seed_region(bot.services)
    members = [await link(bot, tmp_path, f"B{n}", 8000 + n) for n in range(50)]
    enforce_telegram_limits(bot)
    await uow_of(bot.services).outbox.enqueue_many([alert(f"w:{m}", m) for m in members])
    await bot.fake.wait_for(lambda f: len(f.calls_to("sendMessage")) >= 5)

    strangers = range(9900, 9912)
    started = asyncio.get_running_loop().time()
    for chat_id in strangers:  # twelve people at once: one neutral reply each (M-02)
        bot.fake.push_message(chat_id, "/menu")
    for chat_id in strangers:
        await bot.fake.wait_for_call("sendMessage", chat_id=chat_id)
    waited = asyncio.get_running_loop().time() - started
    await until(bot, all_in(bot, "w:", "sent"), timeout=20)

    assert waited < 1.5  # twelve slots at 25 a second, ahead of the queued broadcast
    assert bot.fake.rejected_429 == 0
    every_send = bot.fake.calls_to("sendMessage")
    assert max_in_one_second(every_send) <= 25  # spaced with room for arrival jitter


# --------------------------------------------------------------------------- the pacer alone


async def test_a_reply_is_granted_before_waiting_outbox_rows_and_follow_ups() -> None:
    pacer = SendPacer(50.0, per_chat_interval=0.5)
    order: list[str] = []

    async def send(name: str, chat_id: int, priority: SendPriority, rank: int = 0) -> None:
        await pacer.acquire(chat_id, rank, priority=priority)
        order.append(name)

    await send("first", 1, SendPriority.PROACTIVE)  # takes the slot: the rest must queue
    tasks = [
        asyncio.create_task(send("follow-up", 2, SendPriority.FOLLOW_UP)),
        asyncio.create_task(send("tally", 3, SendPriority.PROACTIVE, rank=1)),
        asyncio.create_task(send("row-a", 4, SendPriority.PROACTIVE, rank=1)),
        asyncio.create_task(send("help", 6, SendPriority.PROACTIVE, rank=0)),
    ]
    await asyncio.sleep(0)  # let them queue before the reply arrives
    tasks.append(asyncio.create_task(send("reply", 5, SendPriority.REPLY)))
    await asyncio.gather(*tasks)

    assert order == ["first", "reply", "help", "tally", "row-a", "follow-up"]


class SteppedClock:
    """The pacer's clock in virtual time: it jumps to the timer the pacer armed when that
    timer's turn comes on the event loop, so grant times follow the pacer's own decisions
    and not how late a loaded machine wakes a task (the wall-clock version of the test below
    failed under heavy load)."""

    def __init__(self) -> None:
        self.now = 0.0

    def time(self) -> float:
        return self.now

    def call_at(self, when: float, callback: Callable[[], object]) -> asyncio.Handle:
        def fire() -> None:
            self.now = max(self.now, when)
            callback()

        # The pacer keeps one timer at a time and re-arms it on every change: firing it on
        # the loop's next turn (after the tasks already woken, which read the time they
        # were granted at) is the next event in virtual time.
        return asyncio.get_running_loop().call_soon(fire)


async def test_the_chat_interval_holds_between_grants_and_a_busy_chat_blocks_no_one() -> None:
    clock = SteppedClock()
    pacer = SendPacer(100.0, per_chat_interval=0.3, clock=clock)
    granted: dict[str, float] = {}

    async def send(name: str, chat_id: int) -> None:
        await pacer.acquire(chat_id)
        granted[name] = clock.time()

    # A queue of other chats first, then two sends to chat 1 (issue #13.1 in small).
    await asyncio.gather(
        *(send(f"other-{n}", 100 + n) for n in range(10)),
        send("c1", 1),
        send("c2", 1),
        send("late-other", 200),
    )

    assert granted["c2"] - granted["c1"] >= 0.3
    assert granted["late-other"] < granted["c2"]  # not held up by chat 1's interval
    times = sorted(granted.values())
    spacing = (1 + WINDOW_MARGIN) / 100  # 100 a second, and any 100 over more than 1 s
    assert all(b - a >= spacing - 1e-6 for a, b in itertools.pairwise(times))


async def test_a_pause_holds_every_grant_and_a_bounded_wait_gives_up() -> None:
    pacer = SendPacer(None, per_chat_interval=10.0)
    loop = asyncio.get_running_loop()
    await pacer.acquire(7, priority=SendPriority.REPLY)
    assert not await pacer.try_acquire(7, SendPriority.FOLLOW_UP, 0.05)  # chat 7 is busy
    assert pacer.waiting == 0

    pacer.pause(0.2)
    started = loop.time()
    await pacer.acquire(8, priority=SendPriority.REPLY)
    assert loop.time() - started >= 0.19
