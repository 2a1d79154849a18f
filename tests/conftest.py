"""Shared fixtures: a controllable clock, the fake Bot API, and the real bot polling it.

Handler tests run the real ``Application`` from ``bot.root.app.build_application`` against the
local fake Bot API (tests/fakes/bot_api.py) and a real SQLite file, exactly as ``run_polling``
would start it. Seeding goes through the services (never SQL), so tests exercise the same paths
as the CLI.
"""

from __future__ import annotations

import os

os.environ.setdefault("PTB_TIMEDELTA", "1")  # before telegram: RetryAfter must not warn

import csv
import logging
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from telegram.error import TelegramError

from bot.config import Settings
from bot.domain.models import Role
from bot.domain.pin import SessionState
from bot.root.app import ALLOWED_UPDATES, build_application
from bot.services.container import Services
from bot.services.outbox import OutboxSender
from bot.services.pin import PinOutcome
from handlers.context import BotApplication
from handlers.transport.pacing import PER_CHAT_INTERVAL, pacer_of
from handlers.transport.send import follow_ups_done
from storage.unit_of_work import SqliteUnitOfWork
from tests.fakes.bot_api import Call, FakeBotApi, serve
from tests.secrets_registry import LogCollector, find_leaks, remember, remembered

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnop"
LIMA = ZoneInfo("America/Lima")
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
    """Collect every log record of the session from DEBUG up (T-47)."""
    del config
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


@dataclass(slots=True)
class TestClock:
    """Implements ``bot.domain.ports.Clock``; tests set or advance ``now`` at will."""

    __test__ = False  # not a test class, whatever its name says

    current: datetime = field(default_factory=lambda: datetime(2026, 3, 14, 15, 0, tzinfo=UTC))
    zone: ZoneInfo = LIMA

    @property
    def tz(self) -> ZoneInfo:
        """The programme's time zone."""
        return self.zone

    def now(self) -> datetime:
        """The set instant (aware UTC)."""
        return self.current

    def today(self) -> date:
        """The set instant's date in Lima."""
        return self.current.astimezone(self.zone).date()

    def set(self, value: datetime) -> None:
        """Jump to ``value`` (must be aware)."""
        if value.tzinfo is None:
            raise ValueError("TestClock needs an aware datetime")
        self.current = value.astimezone(UTC)

    def advance(self, delta: timedelta) -> None:
        """Move forward by ``delta``."""
        self.current += delta


@dataclass(slots=True)
class ServedFake:
    """The fake Bot API and the ``base_url`` PTB must use to reach it."""

    fake: FakeBotApi
    base_url: str


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


@dataclass(slots=True)
class RunningBot:
    """The real application, polling the fake, with the services it built."""

    app: BotApplication
    fake: FakeBotApi
    clock: TestClock

    @property
    def services(self) -> Services:
        """The services the application wired in ``post_init``."""
        return self.app.bot_data.services

    async def settle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every pushed update has been fetched, queued and fully handled.

        PTB's poller enqueues a batch before it asks ``getUpdates`` again, and the
        application calls ``task_done`` only after an update's handlers (and error handler)
        finished, so "fetched, next poll seen, queue joined" means nothing is in flight.
        """
        await self.fake.wait_updates_fetched(timeout)
        polls = len(self.fake.calls_to("getUpdates"))
        await self.fake.wait_for_call("getUpdates", count=polls + 1, timeout=timeout)
        await self.app.update_queue.join()
        # Edits a handler left to run after it (an alert answer's restatement).
        await follow_ups_done(self.app.bot_data)

    def last_message_id(self, chat_id: int) -> int:
        """The newest message still in the chat (e.g. the bot's menu just sent)."""
        return max(self.fake.live_messages(chat_id))

    async def register(self, user_id: int, code: str, lang: str = "es") -> None:
        """Redeem ``code`` from ``user_id`` and press the ``lang`` button, as a person would."""
        remember(str(user_id))
        remember(code)
        self.fake.push_message(user_id, f"/start {code}")
        await self.settle()
        self.fake.push_callback(
            user_id, f"lang:set:{lang}", message_id=self.last_message_id(user_id)
        )
        await self.settle()


@pytest.fixture
async def running_bot(
    fake_api_server: ServedFake, tmp_path: Path, clock: TestClock, request: pytest.FixtureRequest
) -> AsyncIterator[RunningBot]:
    """Start the application like ``run_polling`` does; stop it in reverse order.

    Quechua drafts are served unless a test asks otherwise with
    ``@pytest.mark.parametrize("running_bot", [False], indirect=True)``. Sends are paced at
    production's global rate; the per-chat interval (about a second between two messages to
    one chat) is lifted so that a test's conversation is not slowed down, until the test
    calls :func:`enforce_telegram_limits`.
    """
    settings = Settings(
        bot_token=TOKEN,
        base_url=fake_api_server.base_url,
        database_path=tmp_path / "db" / "chaski.sqlite3",
        key_dir=tmp_path / "keys",
        # Tests read the Quechua drafts; production keeps them off until reviewed.
        quechua_drafts=getattr(request, "param", True),
        per_chat_interval=0.0,
    )
    app = build_application(settings, clock=clock)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None

    def polling_error(exc: TelegramError) -> None:
        # What ``run_polling`` passes: a failed getUpdates reaches the error handlers.
        app.create_task(app.process_error(error=exc, update=None))

    await app.updater.start_polling(
        poll_interval=0,
        timeout=1,
        allowed_updates=ALLOWED_UPDATES,
        error_callback=polling_error,
    )
    await app.start()
    try:
        yield RunningBot(app, fake_api_server.fake, clock)
    finally:
        await app.updater.stop()
        await app.stop()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        await app.shutdown()


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
