"""Durable wipes (issue #11.1): what Telegram refuses at the wipe is retried, the truth told.

The real application polls the fake Bot API, which fails deletions on demand (5xx, 429);
a second bot process over the same database and keys stands for a restart. Waiting is on the
sender's progress pulses and the fake's calls, never on sleeps. T-18, T-19, M-13.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from bot.domain.models import Lang, Role
from bot.domain.safety import WipeReport
from bot.i18n import Catalogs
from handlers.panic import wipe_incomplete_text
from storage.database import Database
from tests.conftest import (
    RunningBot,
    ServedFake,
    TestClock,
    seed_invite,
    seed_region,
    uow_of,
)
from tests.fakes.bot_api import FakeBotApi
from tests.fakes.world import bot_process
from tests.handlers.test_outbox_sender import all_in, tick, until
from tests.handlers.test_pin import set_pin

ANA, JEFE = 801, 802
IN_PROGRESS = (
    "Aún no se pudo borrar todo; el bot lo reintentará. Borra también este chat tú mismo."
)
REMOTE_IN_PROGRESS = (
    "Puma quedó desvinculado, pero aún no se pudieron borrar todos los mensajes de su chat:"
    " el bot seguirá intentándolo hasta 48 horas. Para volver necesitará una nueva invitación."
)


def db_of(bot: RunningBot) -> Database:
    return uow_of(bot.services).db


async def say(bot: RunningBot, user: int, text: str) -> int:
    message_id = bot.fake.push_message(user, text)
    await bot.settle()
    return message_id


async def wipe_rows(bot: RunningBot) -> list[tuple[str, int, bool]]:
    """``(status, attempts, chat still sealed in the row)`` of every wipe row."""
    found = await db_of(bot).fetchall(
        "SELECT status, attempts, params_enc IS NOT NULL FROM outbox"
        " WHERE idempotency_key LIKE 'wipe:%' ORDER BY id"
    )
    return [(r[0], r[1], bool(r[2])) for r in found]


def refuse_deletions(fake: FakeBotApi, status: int = 500, retry_after: int | None = None) -> None:
    """Every deletion fails until ``clear_faults`` (both methods: 1 id or a batch); status 0
    drops the connection instead (a reset or timeout: the client cannot tell what happened)."""
    for method in ("deleteMessages", "deleteMessage"):
        if status == 0:
            fake.drop_connection(method, times=None)
            continue
        fake.fail(
            method,
            status=status,
            description="Too Many Requests" if status == 429 else "Internal Server Error",
            retry_after=retry_after,
            times=None,
        )


async def seed(bot: RunningBot) -> None:
    services = bot.services
    await seed_region(services)
    await bot.register(ANA, await seed_invite(services, "Puma"))
    await bot.register(JEFE, await seed_invite(services, "Jefe", role=Role.COORDINATOR))


async def press_wipe(bot: RunningBot) -> None:
    await say(bot, ANA, "/borrar")
    bot.fake.push_callback(ANA, "wipe:yes", message_id=bot.last_message_id(ANA))
    await bot.settle()


@pytest.mark.parametrize("status", [500, 0], ids=["5xx", "connection dropped"])
async def test_a_refused_wipe_says_so_and_is_finished_after_a_restart(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock, status: int
) -> None:
    """A 5xx at /borrar: unlinked at once, the person told the wipe is not finished (an
    alert, not "Listo."), the ids kept as wipe rows; the outbox retries, a restart comes in
    between, and the next process deletes every message and erases the sealed chat id."""
    fake = fake_api_server.fake
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await seed(bot)
        await say(bot, ANA, "/menu")
        await say(bot, ANA, "hola")
        refuse_deletions(fake, status)
        await press_wipe(bot)

        [answer] = fake.calls_to("answerCallbackQuery")[-1:]
        assert answer.params.get("text") == IN_PROGRESS
        assert answer.params.get("show_alert") is True
        assert await bot.services.registration.identify(ANA) is None  # unlinked anyway
        left = fake.live_messages(ANA)
        assert len(left) >= 4  # the menu, "hola", its answer, the question...
        # The sender tried once more on its own (due at once) and backs off.
        await until(bot, all_in(bot, "wipe:", "errored"))
        assert {status for status, _, sealed in await wipe_rows(bot) if sealed} == {"errored"}

    fake.clear_faults()
    clock.advance(timedelta(seconds=15))  # past the first backoff (10 s + 20 %)
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await until(bot, all_in(bot, "wipe:", "sent"))
        assert fake.live_messages(ANA) == set()
        retried = [c for c in fake.calls_to("deleteMessages") if not c.failed]
        assert {c.params["chat_id"] for c in retried} == {ANA}
        assert left <= {int(i) for c in retried for i in c.params["message_ids"]}
        assert [sealed for _, _, sealed in await wipe_rows(bot)] == [False]  # chat id erased
        await say(bot, ANA, "/estado")
        assert fake.texts(ANA)[-1] == "Este servicio no está disponible."


async def test_a_429_at_the_wipe_is_honoured_before_the_retry(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """429 with retry_after 3: the wipe row is due only 3 s later (nothing sooner), then goes."""
    fake = fake_api_server.fake
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await seed(bot)
        refuse_deletions(fake, status=429, retry_after=3)
        wiped_at = clock.now()
        await press_wipe(bot)
        [answer] = fake.calls_to("answerCallbackQuery")[-1:]
        assert answer.params.get("text") == IN_PROGRESS
        tried = len(fake.calls_to("deleteMessages"))
        fake.clear_faults()
        row = await db_of(bot).fetchone(
            "SELECT status, not_before FROM outbox WHERE idempotency_key LIKE 'wipe:%'"
        )
        assert row is not None
        assert row[0] == "queued"
        assert datetime.fromisoformat(row[1]) == wiped_at + timedelta(seconds=3)

        clock.advance(timedelta(seconds=2))
        await tick(bot)
        await until(bot, lambda: _no_lease_left(bot))
        assert len(fake.calls_to("deleteMessages")) == tried  # not before retry_after

        clock.advance(timedelta(seconds=2))
        await tick(bot)
        await until(bot, all_in(bot, "wipe:", "sent"))
        assert fake.live_messages(ANA) == set()


async def _no_lease_left(bot: RunningBot) -> bool:
    row = await db_of(bot).fetchone("SELECT COUNT(*) FROM outbox WHERE status = 'sending'")
    return row is not None and row[0] == 0


async def test_a_wipe_that_never_gets_through_is_given_up_when_the_window_closes(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock
) -> None:
    """5xx for two days: retried hourly (never ``dead``), then ``expired`` once Telegram's
    48-hour window has closed, and the sealed chat id is erased."""
    fake = fake_api_server.fake
    async with bot_process(fake_api_server, tmp_path, clock) as bot:
        await seed(bot)
        refuse_deletions(fake)
        await press_wipe(bot)
        await until(bot, all_in(bot, "wipe:", "errored"))
        for _ in range(6):  # beyond the five failures that kill any other row
            attempts = (await wipe_rows(bot))[0][1]
            clock.advance(timedelta(hours=2))
            await tick(bot)
            await until(bot, lambda n=attempts: _attempts_above(bot, n))  # type: ignore[misc]
            assert [status for status, _, _ in await wipe_rows(bot)] == ["errored"]
        clock.advance(timedelta(hours=37))
        await tick(bot)
        assert [(status, sealed) for status, _, sealed in await wipe_rows(bot)] == [
            ("expired", False)
        ]


async def test_a_batch_refused_for_one_old_message_still_deletes_the_others(
    running_bot: RunningBot,
) -> None:
    """An emulator or Telegram may refuse a whole ``deleteMessages`` batch because one id is
    past the 48-hour window: the ids are then deleted one by one, the old one given up."""
    bot, fake = running_bot, running_bot.fake
    await seed(bot)
    await say(bot, ANA, "/menu")
    old = 7_000  # recorded as if sent long ago; Telegram refuses it
    fake.undeletable.add(old)
    await bot.services.safety.record_sent(ANA, old)
    fake.fail(
        "deleteMessages",
        status=400,
        description="Bad Request: message can't be deleted for everyone",
        times=1,
    )
    await press_wipe(bot)
    [answer] = fake.calls_to("answerCallbackQuery")[-1:]
    assert answer.params.get("text") == IN_PROGRESS
    await until(bot, all_in(bot, "wipe:", "sent", "expired"))
    assert fake.live_messages(ANA) == set()
    found = await db_of(bot).fetchall(
        "SELECT status, last_error_code FROM outbox WHERE idempotency_key = ?",
        (f"wipe:{await _member_id(bot)}:{old}",),
    )
    assert [(r[0], r[1]) for r in found] == [("expired", "missed_window")]


async def _member_id(bot: RunningBot) -> int:
    row = await db_of(bot).fetchone(
        "SELECT member_id FROM outbox WHERE idempotency_key LIKE 'wipe:%' LIMIT 1"
    )
    assert row is not None
    return int(row[0])


async def _attempts_above(bot: RunningBot, attempts: int) -> bool:
    rows = await wipe_rows(bot)
    return rows[0][1] > attempts and rows[0][0] == "errored"


async def test_remote_unlink_tells_the_coordinator_when_the_wipe_is_not_finished(
    running_bot: RunningBot,
) -> None:
    """/desvincular with deletions refused: the coordinator is told the truth, not "Listo"."""
    bot, fake = running_bot, running_bot.fake
    await seed(bot)
    await say(bot, ANA, "/menu")
    await set_pin(bot, JEFE)
    await say(bot, JEFE, "/desvincular Puma")
    [[yes, _no]] = fake.sent(JEFE)[-1].params["reply_markup"]["inline_keyboard"]
    refuse_deletions(fake)
    fake.push_callback(JEFE, yes["callback_data"], message_id=bot.last_message_id(JEFE))
    await bot.settle()
    assert fake.texts(JEFE)[-1] == REMOTE_IN_PROGRESS
    assert await bot.services.registration.identify(ANA) is None
    assert fake.live_messages(ANA)  # still there, for the outbox to retry
    await until(bot, all_in(bot, "wipe:", "errored"))  # the sender's own try failed too
    fake.clear_faults()
    bot.clock.advance(timedelta(seconds=15))
    await tick(bot)
    await until(bot, all_in(bot, "wipe:", "sent"))
    assert fake.live_messages(ANA) == set()


async def test_quechua_member_is_told_in_quechua(running_bot: RunningBot) -> None:
    bot, fake = running_bot, running_bot.fake
    services = bot.services
    await seed_region(services)
    await bot.register(ANA, await seed_invite(services, "Puma"), "qu")
    refuse_deletions(fake)
    await press_wipe(bot)
    [answer] = fake.calls_to("answerCallbackQuery")[-1:]
    text = str(answer.params.get("text"))
    assert text != IN_PROGRESS
    assert len(text) <= 200  # Telegram's limit for a callback answer
    t = bot.app.bot_data.catalogs.for_lang(Lang.QU)
    assert text == t.gettext(IN_PROGRESS)


@pytest.mark.parametrize("drafts", [False, True], ids=["drafts off", "drafts on"])
@pytest.mark.parametrize("lang", list(Lang))
@pytest.mark.parametrize("report", [WipeReport(retrying=1), WipeReport(lost=1)])
def test_every_wipe_alert_fits_a_callback_answer(
    drafts: bool, lang: Lang, report: WipeReport
) -> None:
    """Telegram refuses a callback answer over 200 characters: the alert must fit in every
    language, with the Spanish shown alongside an unreviewed Quechua draft too."""
    t = Catalogs.load(drafts=drafts).for_lang(lang)
    text = wipe_incomplete_text(t, report)
    assert 0 < len(text) <= 200
    assert "chat" in text
