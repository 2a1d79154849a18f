"""The outbox engine in the real application against the fake Bot API (T-19..T-21, T-40..T-45).

Rows are written through ``services.outbox`` exactly as features do; the sender started by
``handlers.on_startup`` delivers them. Waiting is on the sender's progress pulses and the
fake's calls, never on sleeps; the test clock moves retry and deletion times forward and the
``outbox-housekeeping`` job is run by hand.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.models import Role
from bot.domain.notices import News
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.services.outbox import OutboxDeletions
from handlers.ticks import HOUSEKEEPING_JOB
from storage.database import Database
from storage.keys import load_keys
from storage.members import SqliteInviteRepository
from tests.conftest import RunningBot, seed_invite, seed_region, sender_of, uow_of
from tests.fakes.bot_api import Call

BLOCKED = "Forbidden: bot was blocked by the user"

#: Seconds within which a request sent before a 429 was handled can still arrive.
IN_FLIGHT_SLACK = 0.2


def db_of(bot: RunningBot) -> Database:
    return uow_of(bot.services).db


async def link(
    bot: RunningBot, tmp_path: Path, codename: str, chat_id: int, role: Role = Role.INFORMANT
) -> int:
    """A linked member (invite redeemed directly: faster than a chat, same rows)."""
    code = await seed_invite(bot.services, codename, role=role)
    repo = SqliteInviteRepository(db_of(bot), load_keys(tmp_path / "keys"))
    member = await repo.redeem(code, chat_id, bot.clock.now())
    assert member is not None
    return member.id


async def rows(bot: RunningBot, prefix: str) -> list[tuple[str, str, int, str | None]]:
    found = await db_of(bot).fetchall(
        "SELECT idempotency_key, status, attempts, last_error_code FROM outbox"
        " WHERE idempotency_key LIKE ? ORDER BY id",
        (prefix + "%",),
    )
    return [(r[0], r[1], r[2], r[3]) for r in found]


async def until(
    bot: RunningBot,
    check: Callable[[], Awaitable[bool]],
    timeout: float = 10.0,  # noqa: ASYNC109 - a test helper like asyncio.wait_for
) -> None:
    """Wait on the sender's progress pulses until ``check()`` holds."""
    sender = sender_of(bot.services)
    async with asyncio.timeout(timeout):
        while True:
            pulse = sender.progress_event()
            if await check():
                return
            await pulse.wait()


def all_in(bot: RunningBot, prefix: str, *statuses: str) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        found = await rows(bot, prefix)
        return bool(found) and all(status in statuses for _, status, _, _ in found)

    return check


async def tick(bot: RunningBot) -> None:
    """Run the housekeeping job now, as the JobQueue would."""
    job_queue = bot.app.job_queue
    assert job_queue is not None
    (job,) = job_queue.get_jobs_by_name(HOUSEKEEPING_JOB)
    await job.run(bot.app)


def alert(key: str, member_id: int, **extra: object) -> OutboxMessage:
    return OutboxMessage(key, OutboxKind.ALERT, member_id, News(), **extra)  # type: ignore[arg-type]


@pytest.fixture
async def region(running_bot: RunningBot) -> str:
    return await seed_region(running_bot.services)


async def test_rows_are_sent_protected_and_neutral(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7001)
    await uow_of(bot.services).outbox.enqueue(alert("t:1", member))

    await until(bot, all_in(bot, "t:", "sent"))

    (call,) = bot.fake.sent(7001)
    assert call.params["text"] == "Tienes una novedad. Escribe /menu."
    assert call.params["protect_content"] is True
    assert call.params["parse_mode"] == "HTML"
    assert sender_of(bot.services).running


async def test_429_storm_pauses_everything_then_delivers_all_without_spending_attempts(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    members = [await link(bot, tmp_path, f"M{n}", 7100 + n) for n in range(8)]
    bot.fake.fail(
        "sendMessage",
        status=429,
        description="Too Many Requests: retry after 1",
        retry_after=1,
        times=2,
    )
    await uow_of(bot.services).outbox.enqueue_many([alert(f"s:{m}", m) for m in members])

    await until(bot, all_in(bot, "s:", "sent"))

    assert [attempts for _, _, attempts, _ in await rows(bot, "s:")] == [1] * 8
    sends = bot.fake.calls_to("sendMessage")
    limited = [c for c in sends if c.status == 429]
    assert len(limited) == 2
    first_429 = limited[0].at
    # A request already on the wire when the first 429 came back may land just after it (it
    # cannot be recalled); nothing dispatched later may arrive before retry_after has passed.
    later = [c.at for c in sends if c.at - first_429 >= IN_FLIGHT_SLACK]
    assert min(later) - first_429 >= 1.0
    assert sorted(c.params["chat_id"] for c in sends if not c.failed) == [
        7100 + n for n in range(8)
    ]


async def test_blocked_recipients_are_marked_and_coordinators_told_once(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    ana = await link(bot, tmp_path, "Ana <b>", 7201)
    luis = await link(bot, tmp_path, "Luis", 7202)
    await link(bot, tmp_path, "Jefe", 7299, Role.COORDINATOR)
    bot.fake.fail("sendMessage", status=403, description=BLOCKED, chat_id=7201, times=None)
    await uow_of(bot.services).outbox.enqueue_many([alert("b:ana", ana), alert("b:luis", luis)])

    await until(bot, all_in(bot, "b:", "sent", "blocked"))
    await until(bot, all_in(bot, "blocked:", "sent"))

    assert await rows(bot, "b:") == [("b:ana", "blocked", 1, "403"), ("b:luis", "sent", 1, None)]
    member = await bot.services.registration.identify(7201)
    assert member is not None
    assert member.blocked
    assert bot.fake.texts(7299) == ["Ana &lt;b&gt; bloqueó el bot o desactivó su cuenta."]

    # A later row to the blocked member is not even tried: no second note either.
    await uow_of(bot.services).outbox.enqueue(alert("b:again", ana))
    await until(bot, all_in(bot, "b:again", "blocked"))
    assert len(bot.fake.sent(7201, include_failed=True)) == 1
    assert len(bot.fake.texts(7299)) == 1


async def test_5xx_and_dropped_connections_are_retried_then_sent(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7301)
    bot.fake.fail("sendMessage", status=502, description="Bad Gateway", times=1)
    bot.fake.drop_connection("sendMessage", times=1)
    await uow_of(bot.services).outbox.enqueue(alert("r:1", member))

    await until(bot, all_in(bot, "r:", "errored"))
    assert (await rows(bot, "r:"))[0][2:] == (1, "NetworkError")
    bot.clock.advance(timedelta(seconds=13))  # past 10 s + 20 % jitter
    await tick(bot)
    await until(bot, lambda: _attempts_at_least(bot, 2))
    bot.clock.advance(timedelta(seconds=73))  # past 1 min + 20 %
    await tick(bot)
    await until(bot, all_in(bot, "r:", "sent"))

    assert (await rows(bot, "r:"))[0][1:3] == ("sent", 3)
    assert len(bot.fake.sent(7301)) == 1
    assert len(bot.fake.sent(7301, include_failed=True)) == 3


async def _attempts_at_least(bot: RunningBot, n: int) -> bool:
    return (await rows(bot, "r:"))[0][2] >= n


async def test_400_is_dead_at_once(running_bot: RunningBot, region: str, tmp_path: Path) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7401)
    bot.fake.fail("sendMessage", status=400, description="Bad Request: chat not found")
    await uow_of(bot.services).outbox.enqueue(alert("d:1", member))

    await until(bot, all_in(bot, "d:", "dead"))

    assert await rows(bot, "d:") == [("d:1", "dead", 1, "chat_not_found")]
    report = await bot.services.outbox_admin.status()
    assert report.by_status()["dead"] == 1


async def test_sent_message_is_deleted_after_delete_after(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7501)
    await uow_of(bot.services).outbox.enqueue(
        OutboxMessage(
            "x:1", OutboxKind.NOTIFICATION, member, News(), delete_after=timedelta(minutes=10)
        )
    )
    await until(bot, all_in(bot, "x:", "sent"))
    assert len(bot.fake.sent(7501)) == 1
    message_id = max(bot.fake.live_messages(7501))
    await until(bot, all_in(bot, f"del:{member}:", "queued"))

    await tick(bot)  # not due yet
    assert bot.fake.calls_to("deleteMessage") == []
    bot.clock.advance(timedelta(minutes=10))
    await tick(bot)
    await until(bot, all_in(bot, f"del:{member}:", "sent"))

    (call,) = bot.fake.calls_to("deleteMessage")
    assert call.params == {"chat_id": 7501, "message_id": message_id}
    assert message_id not in bot.fake.live_messages(7501)


async def test_deletions_gone_and_too_old(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7601)
    bot.fake.undeletable.add(555)
    now = bot.clock.now()
    await OutboxDeletions(uow_of(bot.services).outbox).schedule_deletion(
        member, [444], now
    )  # never existed
    await OutboxDeletions(uow_of(bot.services).outbox).schedule_deletion(
        member, [555], now
    )  # past 48 h
    await sender_of(bot.services).housekeeping()

    await until(bot, all_in(bot, f"del:{member}:", "sent", "expired"))

    assert await rows(bot, f"del:{member}:") == [
        (f"del:{member}:444", "sent", 1, "gone"),
        (f"del:{member}:555", "expired", 1, "missed_window"),
    ]
    assert len(bot.fake.calls_to("deleteMessage")) == 2  # neither retried


async def test_invalid_token_stops_the_sender(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    member = await link(bot, tmp_path, "Cóndor-7", 7701)
    bot.fake.fail("sendMessage", status=401, description="Unauthorized", times=None)
    await uow_of(bot.services).outbox.enqueue_many([alert("k:1", member), alert("k:2", member)])

    await asyncio.wait_for(sender_of(bot.services).wait_stopped(), 5)

    assert sender_of(bot.services).halted
    assert len(bot.fake.calls_to("sendMessage")) == 1
    assert [status for _, status, _, _ in await rows(bot, "k:")] == ["queued", "queued"]


async def test_interactive_replies_do_not_wait_behind_a_broadcast(
    running_bot: RunningBot, region: str, tmp_path: Path
) -> None:
    bot = running_bot
    members = [await link(bot, tmp_path, f"B{n}", 8000 + n) for n in range(40)]
    bot.fake.enforce_limits = True  # 429 past 30/s overall or 1/s per chat, like Telegram
    await uow_of(bot.services).outbox.enqueue_many([alert(f"w:{m}", m) for m in members])
    await bot.fake.wait_for(lambda f: len(_broadcast(f.calls_to("sendMessage"))) >= 5)

    started = asyncio.get_running_loop().time()
    bot.fake.push_message(9999, "/menu")  # a stranger: one neutral reply (M-02)
    await bot.fake.wait_for_call("sendMessage", chat_id=9999)
    waited = asyncio.get_running_loop().time() - started

    assert (
        len(_broadcast(bot.fake.calls_to("sendMessage"))) < 40
    )  # the broadcast was still running (25 msg/s)
    assert waited < 0.5
    await until(bot, all_in(bot, "w:", "sent"))
    assert bot.fake.rejected_429 == 0
    times = sorted(c.at for c in _broadcast(bot.fake.calls_to("sendMessage")))
    window = max(sum(1 for t in times if start <= t < start + 1.0) for start in times)
    assert window <= 26  # 25/s paced by the client; one more for arrival jitter


def _broadcast(calls: list[Call]) -> list[Call]:
    return [c for c in calls if c.params["chat_id"] >= 8000]
