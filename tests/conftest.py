"""Shared fixtures: a controllable clock, the fake Bot API, and the real bot it serves.

Handler tests run the real ``Application`` from ``bot.root.app.build_application`` against the
local fake Bot API (tests/fakes/bot_api.py) and a real SQLite file, started as ``run_polling``
would start it (tests/fakes/world.py); updates reach it through ``process_update``, or by
polling for tests marked ``polling``. Seeding goes through the services (never SQL), so tests
exercise the same paths as the CLI.
"""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")  # before telegram: RetryAfter must not warn

import csv
import logging
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.domain.models import Role
from bot.domain.pin import SessionState
from bot.services.container import Services
from bot.services.outbox import OutboxSender
from bot.services.pin import PinOutcome
from handlers.transport.pacing import PER_CHAT_INTERVAL, pacer_of
from storage.unit_of_work import SqliteUnitOfWork
from tests.fakes.bot_api import Call, FakeBotApi, serve
from tests.fakes.clock import LIMA, TestClock
from tests.fakes.world import TOKEN, RunningBot, ServedFake, World, bot_process
from tests.secrets_registry import LogCollector, find_leaks, remember, remembered

# Tests import the harness from here (tests/fakes/ is where it lives).
__all__ = ["LIMA", "TOKEN", "RunningBot", "ServedFake", "TestClock", "World"]

#: Methods that accept ``protect_content``; every call of theirs must set it (M-11, T-21).
PROTECTED_PREFIXES = ("send", "copyMessage", "forwardMessage")
_UNPROTECTABLE = frozenset({"sendChatAction"})

# ---------------------------------------------------------------------- T-47 log check

#: Every log record of the session, unredacted (tests/secrets_registry.py).
LOG_COLLECTOR = LogCollector()
#: Libraries at the levels production gives them (``bot.root.logging_setup.configure_logging``):
#: PTB logs whole updates at DEBUG and httpx logs token URLs at INFO, which production never
#: emits. Everything else, our code first of all, is collected from DEBUG up.
_PRODUCTION_LEVELS = {
    "telegram": logging.INFO,
    "httpx": logging.WARNING,
    "httpcore": logging.WARNING,
    "apscheduler": logging.WARNING,
    "matplotlib": logging.WARNING,
    "aiosqlite": logging.INFO,
    "asyncio": logging.INFO,
}


def pytest_configure(config: pytest.Config) -> None:
    """Collect every log record of the session from DEBUG up (T-47); declare the markers."""
    config.addinivalue_line(
        "markers",
        "polling: an end-to-end test whose bot long-polls the fake Bot API (tests/fakes/world.py)",
    )
    root = logging.getLogger()
    if LOG_COLLECTOR not in root.handlers:
        root.handlers.insert(0, LOG_COLLECTOR)  # first: sees records before any redaction
    root.setLevel(logging.DEBUG)
    for name, level in _PRODUCTION_LEVELS.items():
        logging.getLogger(name).setLevel(level)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Fail the session if any fixture secret or the token reached a log record (T-47)."""
    del exitstatus
    leaks = find_leaks(LOG_COLLECTOR.records, {*remembered(), TOKEN, TOKEN.split(":")[1]})
    if not leaks:
        return
    session.exitstatus = pytest.ExitCode.TESTS_FAILED
    lines = [f"T-47: {len(leaks)} fixture secret(s) found in the session's logs:"]
    lines += [f"  {leak.value!r} in: {leak.record[:500]!r}" for leak in leaks[:20]]
    sys.stderr.write("\n".join(lines) + "\n")


def unprotected_calls(calls: list[Call]) -> list[str]:
    """Methods of calls that could carry ``protect_content`` but did not set it to true."""
    return [
        call.method
        for call in calls
        if call.method.startswith(PROTECTED_PREFIXES)
        and call.method not in _UNPROTECTABLE
        and call.params.get("protect_content") is not True
    ]


@pytest.fixture
def clock() -> TestClock:
    """A clock at 2026-03-14 15:00 UTC (10:00 in Lima)."""
    return TestClock()


@pytest.fixture
async def fake_api_server() -> AsyncIterator[ServedFake]:
    """Serve a fresh fake Bot API on 127.0.0.1.

    Teardown asserts T-21: every send the test caused carried ``protect_content=True``.
    (``editMessageText`` has no such parameter in the Bot API: an edited message keeps the
    protection of the message it edits.)
    """
    fake = FakeBotApi()
    async with serve(fake) as base_url:
        yield ServedFake(fake, base_url)
    assert unprotected_calls(fake.calls) == [], "sends without protect_content (T-21)"


@pytest.fixture
def fake_api(fake_api_server: ServedFake) -> FakeBotApi:
    """The fake Bot API of this test."""
    return fake_api_server.fake


def uow_of(services: Services) -> SqliteUnitOfWork:
    """The unit of work the services share, for tests that write rows or read tables
    directly (handlers never reach it: it is no member of ``Services``)."""
    uow = services.safety.uow
    assert isinstance(uow, SqliteUnitOfWork)
    return uow


def sender_of(services: Services) -> OutboxSender:
    """The whole outbox sender behind ``services.sending`` (tests wake it, watch it)."""
    sender = services.sending
    assert isinstance(sender, OutboxSender)
    return sender


@pytest.fixture
async def running_bot(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock, request: pytest.FixtureRequest
) -> AsyncIterator[RunningBot]:
    """The real application over a real SQLite file, talking to the fake Bot API.

    Updates a test pushes go straight to ``application.process_update`` (through the inbound
    pipeline and the update processor); a test marked ``@pytest.mark.polling`` gets an
    application that long-polls the fake instead (tests/fakes/world.py). Quechua drafts are
    served unless a test asks otherwise with
    ``@pytest.mark.parametrize("running_bot", [False], indirect=True)``.
    """
    polling = request.node.get_closest_marker("polling") is not None
    async with bot_process(
        fake_api_server,
        tmp_path,
        clock,
        polling=polling,
        # Tests read the Quechua drafts; production keeps them off until reviewed.
        quechua_drafts=getattr(request, "param", True),
    ) as bot:
        yield bot


def enforce_telegram_limits(bot: RunningBot) -> None:
    """From now on: production's per-chat interval, and 429s from the fake past Telegram's
    limits (30 sends a second overall, one a second per chat) as the real API answers."""
    pacer = pacer_of(bot.app.bot)
    assert pacer is not None
    pacer.per_chat_interval = PER_CHAT_INTERVAL
    bot.fake.enforce_limits = True


# ---------------------------------------------------------------------- seeding helpers


async def seed_region(services: Services, name: str = "Pichari") -> str:
    """Create a region through the invite service; return its name."""
    region = await services.invites.add_region(name)
    return region.name


async def seed_invite(
    services: Services,
    codename: str,
    *,
    region: str = "Pichari",
    role: Role = Role.INFORMANT,
    ttl_hours: int = 72,
) -> str:
    """Create a one-time invite for a new member; return the code (printed once)."""
    remember(codename)
    issued = await services.invites.create(
        role=role, region=region, codename=codename, ttl_hours=ttl_hours
    )
    remember(issued.code)
    return issued.code


#: The PIN tests give coordinators and administrators (mandatory before their actions, M-05).
STAFF_PIN = "482916"


async def set_pin_in_chat(bot: RunningBot, user_id: int, pin: str = STAFF_PIN) -> None:
    """Create a PIN as a member does: ``/pin``, the PIN, the PIN again (opens a session)."""
    remember(pin)  # T-47: a PIN must never reach a log line
    for text in ("/pin", pin, pin):
        bot.fake.push_message(user_id, text)
        await bot.settle()
    member = await bot.services.registration.identify(user_id)
    assert member is not None
    assert await bot.services.pin.session(member) is SessionState.OPEN


async def open_pin_session(bot: RunningBot, user_id: int, pin: str = STAFF_PIN) -> None:
    """Open a fresh PIN session through the PIN service (after the clock moved past one)."""
    member = await bot.services.registration.identify(user_id)
    assert member is not None
    await bot.services.pin.ask(member)
    result = await bot.services.pin.submit(member, pin)
    assert result.outcome is PinOutcome.OK


CLAIMS_HEADER = (
    "reference,codename,operation,operation_date,region,promised_amount,status,"
    "promised_date,next_step,next_step_date"
)


def claims_csv(*rows: str) -> bytes:
    """A claims import file with the required header and the given CSV rows."""
    return ("\n".join([CLAIMS_HEADER, *rows]) + "\n").encode("utf-8")


async def seed_claims(services: Services, *rows: str) -> None:
    """Import claims rows (CSV lines without the header) through the import service."""
    for record in csv.DictReader([CLAIMS_HEADER, *rows]):
        for column in ("reference", "codename", "operation", "promised_amount"):
            remember(record.get(column) or "")
    await services.claims_import.import_file(claims_csv(*rows))
