"""security-tests.md §4.5, Telegram errors and load: the error kinds the sender tests leave out.

The 429 storm, blocked users, 5xx/resets, a 400, deletions and a revoked token run against
the real application in tests/handlers/test_outbox_sender.py. Here: every error the
classification must tell apart (T-41 "user is deactivated", T-42 each 400 with its own code,
T-44 ``Conflict``, T-45 ``ChatMigrated``), a deactivated account through the real sender,
the private ``my_chat_member`` block/unblock notices (T-41, R-06), and a 409 ``Conflict`` on
``getUpdates``, which pages the administrators (T-44, A7).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.domain.models import Role
from bot.domain.outbox import Outcome
from handlers.notifier import classify
from tests.conftest import RunningBot, seed_region, uow_of
from tests.handlers.test_outbox_sender import BLOCKED, alert, all_in, db_of, link, rows, until


@pytest.mark.parametrize(
    ("error", "outcome", "code"),
    [
        (Forbidden("Forbidden: bot was blocked by the user"), Outcome.BLOCKED, "403"),
        (Forbidden("Forbidden: user is deactivated"), Outcome.BLOCKED, "403"),
        (BadRequest("Bad Request: message is too long"), Outcome.PERMANENT, "too_long"),
        (
            BadRequest("Bad Request: can't parse entities: unexpected end tag"),
            Outcome.PERMANENT,
            "parse_entities",
        ),
        (BadRequest("Bad Request: chat not found"), Outcome.PERMANENT, "chat_not_found"),
        (BadRequest("Bad Request: something new"), Outcome.PERMANENT, "bad_request"),
        (
            Conflict("Conflict: terminated by other getUpdates request"),
            Outcome.STOP_ALL,
            "Conflict",
        ),
        (InvalidToken(), Outcome.STOP_ALL, "InvalidToken"),
        (ChatMigrated(-1001234567890), Outcome.PERMANENT, "ChatMigrated"),
        (TimedOut(), Outcome.TRANSIENT, "TimedOut"),
        (NetworkError("Bad Gateway"), Outcome.TRANSIENT, "NetworkError"),
        (TelegramError("unknown"), Outcome.TRANSIENT, "TelegramError"),
    ],
    ids=lambda value: value if isinstance(value, str) else type(value).__name__,
)
def test_t41_to_t45_each_error_has_its_outcome(
    error: TelegramError, outcome: Outcome, code: str
) -> None:
    result = classify(error)
    assert (result.outcome, result.error_code) == (outcome, code)
    # The code is short and content-free: never the description Telegram sent (T-42).
    assert result.error_code is not None
    assert " " not in result.error_code


def test_t40_rate_limit_carries_the_wait_without_spending_an_attempt() -> None:
    result = classify(RetryAfter(timedelta(seconds=30)))
    assert (result.outcome, result.retry_after_s, result.error_code) == (
        Outcome.RATE_LIMITED,
        30.0,
        "429",
    )


async def test_t41_a_deactivated_account_is_marked_blocked(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    bot = running_bot
    await seed_region(bot.services)
    member = await link(bot, tmp_path, "Kuntur-gone", 7_301)
    bot.fake.fail(
        "sendMessage", status=403, description="Forbidden: user is deactivated", times=None
    )
    await uow_of(bot.services).outbox.enqueue(alert("deact:1", member))

    await until(bot, all_in(bot, "deact:", "blocked"))

    assert await rows(bot, "deact:") == [("deact:1", "blocked", 1, "403")]
    assert len(bot.fake.calls_to("sendMessage")) == 1  # no retry


# --------------------------------------------------------------------------- T-41

_BOT_USER = {"id": 10000, "is_bot": True, "first_name": "Chaski Test"}


def _my_chat_member(user_id: int, old: str, new: str) -> dict[str, object]:
    """A private ``my_chat_member`` update as Telegram sends it on block/unblock."""
    member: dict[str, object] = {"status": new, "user": _BOT_USER}
    if new == "kicked":
        member["until_date"] = 0  # ChatMemberBanned: 0 means forever
    old_member: dict[str, object] = {"status": old, "user": _BOT_USER}
    if old == "kicked":
        old_member["until_date"] = 0
    return {
        "my_chat_member": {
            "chat": {"id": user_id, "type": "private", "first_name": "X"},
            "from": {"id": user_id, "is_bot": False, "first_name": "X"},
            "date": 1_700_000_000,
            "old_chat_member": old_member,
            "new_chat_member": member,
        }
    }


async def _audit_rows(bot: RunningBot, action: str) -> list[tuple[str, str, str | None]]:
    found = await db_of(bot).fetchall(
        "SELECT action, result, target FROM audit WHERE action = ? ORDER BY id", (action,)
    )
    return [(r[0], r[1], r[2]) for r in found]


async def test_t41_block_notice_flags_cancels_and_tells_the_coordinator_once(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """``kicked``: flagged, queue cancelled, one note, audited; a 403 later adds nothing."""
    bot = running_bot
    await seed_region(bot.services)
    ana = await link(bot, tmp_path, "Kuntur-block", 7_401)
    await link(bot, tmp_path, "Puma-jefe", 7_499, Role.COORDINATOR)
    later = bot.clock.now() + timedelta(hours=1)
    await uow_of(bot.services).outbox.enqueue(alert("queued:1", ana, not_before=later))

    bot.fake.push_update(_my_chat_member(7_401, "member", "kicked"))
    await bot.settle()
    await until(bot, all_in(bot, "blocked:", "sent"))

    member = await bot.services.registration.identify(7_401)
    assert member is not None
    assert member.blocked
    assert [(key, status) for key, status, _, _ in await rows(bot, "queued:")] == [
        ("queued:1", "cancelled")
    ]
    assert bot.fake.texts(7_499) == ["Kuntur-block bloqueó el bot o desactivó su cuenta."]
    assert await _audit_rows(bot, "member_blocked") == [("member_blocked", "ok", f"member:{ana}")]
    assert bot.fake.sent(7_401) == []  # nothing is sent to a chat that blocked the bot

    # The same notice again, then a row the sender would have met a 403 for: no second note.
    bot.fake.push_update(_my_chat_member(7_401, "member", "kicked"))
    await bot.settle()
    await uow_of(bot.services).outbox.enqueue(alert("after-block:1", ana))
    await until(bot, all_in(bot, "after-block:", "blocked"))
    assert len(bot.fake.texts(7_499)) == 1
    assert len(await _audit_rows(bot, "member_blocked")) == 1
    assert bot.fake.sent(7_401, include_failed=True) == []


async def test_t41_unblock_notice_clears_the_flag_and_sending_resumes(
    running_bot: RunningBot, tmp_path: Path
) -> None:
    """403 first (the sender flags), then ``member``: flag cleared, audited, sends again."""
    bot = running_bot
    await seed_region(bot.services)
    ana = await link(bot, tmp_path, "Kuntur-back", 7_411)
    await link(bot, tmp_path, "Puma-back", 7_498, Role.COORDINATOR)
    bot.fake.fail("sendMessage", status=403, description=BLOCKED, chat_id=7_411, times=1)
    await uow_of(bot.services).outbox.enqueue(alert("first:1", ana))
    await until(bot, all_in(bot, "first:", "blocked"))
    await until(bot, all_in(bot, "blocked:", "sent"))
    # The block notice arriving after the sender's 403 is the same block: told once.
    bot.fake.push_update(_my_chat_member(7_411, "member", "kicked"))
    await bot.settle()
    assert len(bot.fake.texts(7_498)) == 1

    bot.fake.push_update(_my_chat_member(7_411, "kicked", "member"))
    await bot.settle()

    member = await bot.services.registration.identify(7_411)
    assert member is not None
    assert not member.blocked
    assert await _audit_rows(bot, "member_unblocked") == [
        ("member_unblocked", "ok", f"member:{ana}")
    ]
    await uow_of(bot.services).outbox.enqueue(alert("second:1", ana))
    await until(bot, all_in(bot, "second:", "sent"))
    assert bot.fake.texts(7_411) == ["Tienes una novedad. Escribe /menu."]

    # Unblocking twice changes nothing more.
    bot.fake.push_update(_my_chat_member(7_411, "kicked", "member"))
    await bot.settle()
    assert len(await _audit_rows(bot, "member_unblocked")) == 1


async def test_t41_a_strangers_block_notice_changes_nothing(running_bot: RunningBot) -> None:
    bot = running_bot
    audits = await db_of(bot).fetchall("SELECT count(*) FROM audit")
    outbox = await db_of(bot).fetchall("SELECT count(*) FROM outbox")
    bot.fake.reset_calls()

    bot.fake.push_update(_my_chat_member(7_999, "member", "kicked"))
    bot.fake.push_update(_my_chat_member(7_999, "kicked", "member"))
    await bot.settle()

    assert await db_of(bot).fetchall("SELECT count(*) FROM audit") == audits
    assert await db_of(bot).fetchall("SELECT count(*) FROM outbox") == outbox
    assert [c.method for c in bot.fake.calls if c.method != "getUpdates"] == []


# --------------------------------------------------------------------------- T-44 (A7)

CONFLICT_NOTE = (
    "Alerta: Telegram ya no entrega al bot los mensajes que recibe, porque otro programa los"
    " recibe con el token del bot. Si no hay otra copia del bot en marcha, el token pudo"
    " filtrarse: revócalo con @BotFather y sigue la parada de emergencia del manual de"
    " operación."
)


@pytest.mark.polling  # what polling itself does
async def test_t44_a_polling_conflict_pages_the_admins_and_polling_resumes(
    running_bot: RunningBot, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Another poller or a webhook took the updates: CRITICAL log, one note per admin."""
    bot = running_bot
    await seed_region(bot.services)
    await link(bot, tmp_path, "Apu-admin", 7_501, Role.ADMIN)
    await link(bot, tmp_path, "Kuntur-conflict", 7_502)
    conflict = "Conflict: terminated by other getUpdates request; make sure that only one bot"
    bot.fake.fail("getUpdates", status=409, description=conflict + " instance is running", times=2)

    await until(bot, all_in(bot, "intake-conflict:", "sent"))

    assert bot.fake.texts(7_501) == [CONFLICT_NOTE]
    assert bot.fake.sent(7_502) == []  # informants are not told
    assert await _audit_rows(bot, "intake_conflict") == [("intake_conflict", "raised", None)]
    critical = [r for r in caplog.records if r.levelname == "CRITICAL"]
    assert len(critical) == 1  # two refusals, one alarm in the hour
    assert "409 Conflict" in critical[0].getMessage()
    assert not [r for r in caplog.records if r.getMessage().startswith("Unhandled Conflict")]

    # PTB retries the poll; once the other consumer is gone, updates flow again.
    bot.fake.push_message(7_502, "/ayuda")
    await bot.settle()
    assert len(bot.fake.texts(7_502)) == 2  # /ayuda: the commands, then the safety rules
    assert len(bot.fake.texts(7_501)) == 1  # still one note
