"""The one way handler and security tests run the bot: the builder and the world around it.

:func:`bot_process` starts the real ``Application`` of ``bot.root.app.build_application``
(the composition root wires the services in ``post_init``, over a real SQLite file under the
test's ``tmp_path``), whose Bot API calls go over HTTP to the fake Bot API of
``tests/fakes/bot_api.py``. Updates reach it in one of two ways:

* **directly** (the default): every update a test pushes to the fake is built into a real
  ``telegram.Update`` (``Update.de_json`` of the very dict ``getUpdates`` would serve) and
  handed to ``application.process_update`` through the application's update processor, as
  PTB's own update fetcher does. So the inbound pipeline (limits, dedupe, gatekeeper: handler
  groups) and the per-chat concurrency (``handlers.transport.concurrency``) run exactly as in
  production, and :meth:`RunningBot.settle` awaits those handler tasks themselves: no
  ``getUpdates`` round trip to wait for;
* **by polling** (``polling=True``; tests marked ``@pytest.mark.polling``): the application
  long-polls the fake like ``run_polling`` does. Kept for what polling itself does (offsets,
  ``allowed_updates``, the intake quarantine, the heartbeat) and a few end-to-end journeys.

:class:`World` holds what handler tests of every feature ask of the bot (say, press, read
the buttons and the audit); feature modules subclass it for their own readings.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from telegram import Update
from telegram.error import TelegramError

from bot.config import Settings
from bot.domain.models import Member
from bot.root.app import ALLOWED_UPDATES, build_application
from bot.services.container import Services
from handlers.context import BotApplication
from handlers.transport.send import follow_ups_done
from tests.fakes.bot_api import Call, FakeBotApi
from tests.fakes.clock import FakeClock
from tests.secrets_registry import remember

TOKEN = "123456:TEST-TOKEN-abcdefghijklmnop"
#: scrypt cost of PIN hashes in handler tests (N = 16 instead of production's 2**15: about
#: a tenth of a second less for every PIN set, checked or refused).
PIN_SCRYPT_LOG_N = 4


@dataclass(slots=True)
class ServedFake:
    """The fake Bot API and the ``base_url`` PTB must use to reach it."""

    fake: FakeBotApi
    base_url: str


class DirectFeed:
    """Hands each pushed update to the application as PTB's update fetcher would.

    The fetcher runs ``update_processor.process_update(update, application.process_update(
    update))`` in a task per update; so does this, minus the queue and the HTTP round trip.
    Tasks start in push order, so the per-chat lock keeps one chat's updates in order while
    different chats run concurrently, as in production.
    """

    __slots__ = ("_app", "_tasks")

    def __init__(self, app: BotApplication) -> None:
        """Feed ``app`` (initialized and started)."""
        self._app = app
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, raw: dict[str, Any]) -> None:
        """Start handling ``raw`` now (called by the fake for every deliverable push)."""
        update = Update.de_json(raw, self._app.bot)
        task = asyncio.get_running_loop().create_task(self._process(update))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _process(self, update: Update) -> None:
        app = self._app
        await app.update_processor.process_update(update, app.process_update(update))

    async def drain(self) -> None:
        """Wait until every update pushed so far has been fully handled."""
        while self._tasks:
            await asyncio.gather(*self._tasks)


@dataclass(slots=True)
class RunningBot:
    """The real application, fed by the fake, with the services it built."""

    app: BotApplication
    fake: FakeBotApi
    clock: FakeClock
    db_path: Path
    feed: DirectFeed | None = None
    """None when the application polls the fake (``polling=True``)."""

    @property
    def services(self) -> Services:
        """The services the application wired in ``post_init``."""
        return self.app.bot_data.services

    @property
    def polling(self) -> bool:
        """Whether updates travel through ``getUpdates``."""
        return self.feed is None

    async def settle(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every pushed update has been fully handled, follow-up edits included.

        Fed directly: await the handler tasks themselves. Polling: PTB's poller enqueues a
        batch before it asks ``getUpdates`` again, and the application calls ``task_done``
        only after an update's handlers (and error handler) finished, so "fetched, next poll
        seen, queue joined" means nothing is in flight.
        """
        await self.handled(timeout)
        # Edits a handler left to run after it (an alert answer's restatement).
        await follow_ups_done(self.app.bot_data)

    async def handled(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until every pushed update's handlers have finished (follow-up edits may not)."""
        if self.feed is not None:
            async with asyncio.timeout(timeout):
                await self.feed.drain()
        else:
            await self.fake.wait_updates_fetched(timeout)
            polls = len(self.fake.calls_to("getUpdates"))
            await self.fake.wait_for_call("getUpdates", count=polls + 1, timeout=timeout)
            await self.app.update_queue.join()

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


def bot_settings(server: ServedFake, tmp_path: Path, **overrides: Any) -> Settings:
    """Settings of a test bot: the fake's URL, files under ``tmp_path``, no per-chat wait,
    cheap PIN hashes.

    Sends are paced at production's global rate; the per-chat interval (about a second
    between two messages to one chat) is lifted so that a test's conversation is not slowed
    down, until the test calls ``tests.conftest.enforce_telegram_limits``. PIN hashes are
    made at :data:`PIN_SCRYPT_LOG_N`: what a PIN does is the same at any cost, and
    production's cost is checked on its own (``tests/fakes/test_world.py``).
    """
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "base_url": server.base_url,
        "database_path": tmp_path / "db" / "chaski.sqlite3",
        "key_dir": tmp_path / "keys",
        "per_chat_interval": 0.0,
        "pin_scrypt_log_n": PIN_SCRYPT_LOG_N,
    }
    values.update(overrides)
    return Settings(**values)


@asynccontextmanager
async def bot_process(
    server: ServedFake,
    tmp_path: Path,
    clock: FakeClock,
    *,
    polling: bool = False,
    **overrides: Any,
) -> AsyncIterator[RunningBot]:
    """Start the application like ``run_polling`` does; stop it in reverse order.

    Two in a row over the same ``tmp_path`` and server are a restart of the bot.
    ``overrides`` are ``Settings`` fields (``quechua_drafts``, ``digest_hour``, …).
    """
    settings = bot_settings(server, tmp_path, **overrides)
    app = build_application(settings, clock=clock)
    await app.initialize()
    assert app.post_init is not None
    await app.post_init(app)
    assert app.updater is not None
    feed: DirectFeed | None = None
    if polling:

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
    if not polling:
        feed = DirectFeed(app)
        server.fake.deliver_to(feed, allowed_updates=ALLOWED_UPDATES)
    assert settings.database_path is not None
    bot = RunningBot(app, server.fake, clock, settings.database_path, feed)
    try:
        yield bot
    finally:
        if feed is not None:
            server.fake.deliver_to(None)
            await feed.drain()
        elif app.updater.running:
            await app.updater.stop()
        await app.stop()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)
        await app.shutdown()


def query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Read-only SQL on the bot's database file from outside (as an auditor would)."""
    # closing(): a sqlite3 connection's own context manager commits but never closes.
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        return list(conn.execute(sql, params).fetchall())


@dataclass(slots=True)
class World:
    """A running bot and what a test asks of it, the way a person would act."""

    bot: RunningBot
    db_path: Path

    @classmethod
    def of(cls, bot: RunningBot) -> Self:
        """The world of ``bot`` (its database file included)."""
        return cls(bot, bot.db_path)

    @property
    def fake(self) -> FakeBotApi:
        """The fake Bot API the bot talks to."""
        return self.bot.fake

    @property
    def services(self) -> Services:
        """The bot's services (seeding and reading back, as the CLI would)."""
        return self.bot.services

    async def member(self, user_id: int) -> Member:
        """The linked member of ``user_id``."""
        member = await self.bot.services.registration.identify(user_id)
        assert member is not None
        return member

    def last(self, user_id: int) -> str:
        """The text of the last message delivered to ``user_id`` ("" if none)."""
        texts = self.fake.texts(user_id)
        return texts[-1] if texts else ""

    async def say(self, user_id: int, text: str) -> str:
        """Send ``text`` as ``user_id``; return the last text delivered to them after it."""
        self.fake.push_message(user_id, text)
        await self.bot.settle()
        return self.last(user_id)

    async def press_query(self, user_id: int, data: str, message_id: int | None = None) -> str:
        """Press a button carrying ``data`` on ``message_id`` (default: the newest message);
        return the callback query's id."""
        query_id = self.fake.push_callback(
            user_id, data, message_id=message_id or self.bot.last_message_id(user_id)
        )
        await self.bot.settle()
        return query_id

    async def press(self, user_id: int, data: str, message_id: int | None = None) -> str:
        """Like :meth:`press_query`; return the last text delivered to ``user_id``."""
        await self.press_query(user_id, data, message_id)
        return self.last(user_id)

    def buttons(self, user_id: int) -> dict[str, str]:
        """The inline buttons of the last message to ``user_id``: label -> data."""
        markup: dict[str, Any] = self.fake.sent(user_id)[-1].params.get("reply_markup") or {}
        return {
            b["text"]: b["callback_data"] for row in markup.get("inline_keyboard", []) for b in row
        }

    async def wait_sent(self, chat_id: int, needle: str) -> Call:
        """Wait until a message containing ``needle`` was delivered to ``chat_id``."""

        def matching(fake: FakeBotApi) -> list[Call]:
            return [c for c in fake.sent(chat_id) if needle in str(c.params.get("text", ""))]

        await self.fake.wait_for(lambda fake: bool(matching(fake)))
        return matching(self.fake)[-1]

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Read-only SQL on the bot's database file from outside (as an auditor would)."""
        return query(self.db_path, sql, params)

    def count(self, sql: str) -> int:
        """The single number ``sql`` selects."""
        return int(self.query(sql)[0][0])

    def audit(self, *actions: str) -> list[tuple[Any, ...]]:
        """``(actor_role, action, target, result)`` of the audit rows of ``actions``."""
        marks = ", ".join("?" for _ in actions)
        return self.query(
            "SELECT actor_role, action, target, result FROM audit"  # noqa: S608 - only marks
            f" WHERE action IN ({marks}) ORDER BY id",
            actions,
        )

    def audit_results(self, action: str) -> list[Any]:
        """The results of the audit rows of ``action``, oldest first."""
        return [row[3] for row in self.audit(action)]

    async def run_job(self, name: str) -> None:
        """Run the application's job ``name`` now, as the JobQueue would."""
        job_queue = self.bot.app.job_queue
        assert job_queue is not None
        [job] = job_queue.get_jobs_by_name(name)
        await job.run(self.bot.app)
