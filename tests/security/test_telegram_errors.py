"""security.md §4.5, Telegram errors and load: the error kinds the sender tests leave out.

The 429 storm, blocked users, 5xx/resets, a 400, deletions and a revoked token run against
the real application in tests/handlers/test_outbox_sender.py. Here: every error the
classification must tell apart (T-41 "user is deactivated", T-42 each 400 with its own code,
T-44 ``Conflict``, T-45 ``ChatMigrated``), and a deactivated account through the real sender.
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

from bot.domain.outbox import Outcome
from handlers.notifier import classify
from tests.conftest import RunningBot, seed_region
from tests.handlers.test_outbox_sender import alert, all_in, link, rows, until


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
    await bot.services.outbox.enqueue(alert("deact:1", member))

    await until(bot, all_in(bot, "deact:", "blocked"))

    assert await rows(bot, "deact:") == [("deact:1", "blocked", 1, "403")]
    assert len(bot.fake.calls_to("sendMessage")) == 1  # no retry
