"""A local fake of the Telegram Bot API, served over real HTTP on 127.0.0.1.

Handler tests and benchmarks point PTB's ``base_url`` at this server instead of mocking our own
code (architecture.md §7): PTB then exercises its real request encoding, error mapping and polling
loop, while the fake records every call, keeps just enough chat state for deletions and edits to
behave like Telegram, injects the failures the security tests need (429/403/400/5xx, dropped
connections, flood limits; T-40..T-46) and lets tests wait on events instead of
sleeping.

Usage::

    fake = FakeBotApi()
    async with serve(fake) as base_url:
        bot = telegram.Bot("123:TEST", base_url=base_url)
        ...
        await fake.wait_for_call("sendMessage", chat_id=42)
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import re
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Final

from aiohttp import web

BOT_USER: Final[dict[str, Any]] = {
    "id": 10000,
    "is_bot": True,
    "first_name": "Chaski Test",
    "username": "chaski_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
    "can_connect_to_business": False,
    "has_main_web_app": False,
}
"""What ``getMe`` answers; PTB's ``initialize()`` needs ``is_bot`` and a username."""

MAX_TEXT_LENGTH: Final = 4096
"""Telegram's limit for a message text after entity parsing (docs/telegram-limits.md §1)."""

#: The tags Telegram's HTML parse mode accepts (Bot API, "HTML style").
HTML_TAGS: Final = frozenset(
    {
        "a",
        "b",
        "blockquote",
        "code",
        "del",
        "em",
        "i",
        "ins",
        "pre",
        "s",
        "span",
        "strike",
        "strong",
        "tg-emoji",
        "tg-spoiler",
        "u",
    }
)
_HTML_PART: Final = re.compile(
    r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)(\s[^<>]*)?>"
    r"|&(?:(lt|gt|amp|quot)|#([0-9]{1,7})|#[xX]([0-9a-fA-F]{1,6}));"
    r"|[<>&]"
)
_HTML_NAMED: Final = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}

NOT_MODIFIED: Final = (
    "Bad Request: message is not modified: specified new message content and reply markup "
    "are exactly the same as a current content and reply markup of the message"
)

# PTB form-encodes strings verbatim and everything else with json.dumps, so "123" may be an int
# or a text. These keys are always free text and must never be decoded.
_TEXT_KEYS: Final = frozenset(
    [
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "parse_mode",
        "language_code",
        "url",
        "description",
        "short_description",
        "name",
        "title",
        "query",
        "emoji",
        "action",
        "secret_token",
        "business_connection_id",
    ]
)
# Integer-typed keys; chat_id may also be "@channelusername", which stays a string.
_INT_KEYS: Final = frozenset(
    [
        "chat_id",
        "message_id",
        "offset",
        "limit",
        "timeout",
        "user_id",
        "from_chat_id",
        "reply_to_message_id",
        "message_thread_id",
        "cache_time",
    ]
)
# Methods subject to Telegram's flood limits when they carry a chat_id (telegram-limits.md §1).
_LIMITED_PREFIXES: Final = ("send", "editMessage", "copyMessage", "forwardMessage")
# Telegram's default when getUpdates never named allowed_updates (Bot API, getUpdates).
_NOT_DELIVERED_BY_DEFAULT: Final = frozenset(
    {"chat_member", "message_reaction", "message_reaction_count"}
)
NON_TEXT_KINDS: Final = frozenset(
    {"sticker", "photo", "voice", "location", "contact", "document", "dice"}
)


class Upload(str):
    """A file the client uploaded (multipart): equal to ``"<file NAME>"``, bytes in ``data``.

    A string, so that a recorded call reads as before (``params["document"] == "<file
    informe.txt>"``); ``sendPhoto`` checks ``data`` is an image, and tests can open it.
    """

    __slots__ = ("data", "filename")

    def __new__(cls, filename: str, data: bytes) -> Upload:
        upload = super().__new__(cls, f"<file {filename}>")
        upload.filename = filename
        upload.data = data
        return upload

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API request as the fake received it.

    Attributes:
        method: the method name as the client sent it (``"sendMessage"``).
        params: decoded parameters (nested JSON decoded, ids as ``int``, flags as ``bool``).
        at: ``time.monotonic()`` when it arrived, for ordering and benchmark timing.
        failed: True if the fake answered with an error or dropped the connection, so tests can
            count attempts separately from deliveries.
        status: HTTP status of the answer (0 for a dropped connection).
    """

    method: str
    params: dict[str, Any]
    at: float
    failed: bool = False
    status: int = 200


@dataclass(slots=True)
class _Fault:
    """A queued error answer (see :meth:`FakeBotApi.fail`)."""

    method: str
    status: int
    description: str
    retry_after: int | None
    chat_id: int | None
    times: int | None


@dataclass(slots=True)
class _Drop:
    """A queued dropped connection (see :meth:`FakeBotApi.drop_connection`)."""

    method: str
    times: int | None


@dataclass(slots=True)
class _StoredMessage:
    """What the fake remembers about a live message: enough to judge edits."""

    text: str | None
    reply_markup: dict[str, Any] | None
    from_bot: bool


class _ApiError(Exception):
    """Raised inside a method implementation to answer with a Bot API error."""

    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after


class FakeBotApi:
    """Answers the Bot API methods Chaski uses, records every call and injects failures.

    All state lives on the event loop's thread and is mutated without awaiting in between, so a
    test that wakes up from :meth:`wait_for_call` sees the call *and* its effect (a live message,
    a deletion) together.
    """

    def __init__(
        self,
        *,
        enforce_limits: bool = False,
        overall_per_second: int = 30,
        per_chat_per_second: int = 1,
        latency: float = 0.0,
        max_poll_wait: float = 2.0,
    ) -> None:
        """Create an empty fake.

        Args:
            enforce_limits: answer 429 past Telegram's flood limits, as the real API would
                (off by default so functional tests are not timing dependent).
            overall_per_second: sends per sliding second across all chats.
            per_chat_per_second: sends per sliding second to one chat.
            latency: seconds added before answering any method but ``getUpdates``
                (benchmarks use 0.05 to resemble a real round trip).
            max_poll_wait: upper bound on a long poll, so shutting a test down never waits for
                a client's full ``timeout``.
        """
        self.calls: list[Call] = []
        self.undeletable: set[int] = set()
        """Message ids that answer "message can't be deleted for everyone" (48 h window)."""
        self.latency = latency
        self.enforce_limits = enforce_limits
        self.overall_per_second = overall_per_second
        self.per_chat_per_second = per_chat_per_second
        self.max_poll_wait = max_poll_wait
        self.rejected_429 = 0
        self.commands: dict[tuple[str, str], list[dict[str, Any]]] = {}
        """setMyCommands state keyed by (scope as sorted JSON, language_code)."""

        self._by_method: dict[str, list[Call]] = {}
        self._by_method_chat: dict[tuple[str, Any], list[Call]] = {}
        self._faults: list[_Fault] = []
        self._drops: list[_Drop] = []
        self._overall_window: deque[float] = deque()
        self._chat_windows: dict[Any, deque[float]] = {}

        self._update_ids = itertools.count(1)
        self._last_update_id = 0
        self._settled_through = 0
        self._pending: deque[dict[str, Any]] = deque()
        self._allowed_updates: frozenset[str] | None = None
        self._callback_ids = itertools.count(1)
        self._receiver: Callable[[dict[str, Any]], None] | None = None

        self._messages: dict[Any, dict[int, _StoredMessage]] = {}
        self._last_message_id: dict[Any, int] = {}
        self._chats: dict[Any, dict[str, Any]] = {}

        # Events are replaced on every change ("pulse") instead of using a Condition: the push_*
        # helpers are synchronous and cannot take a Condition's lock, and on one event loop
        # thread a set-and-replace Event gives the same wake-everyone-then-recheck semantics.
        self._changed = asyncio.Event()
        self._updates_arrived = asyncio.Event()
        self._closing = False
        self._methods = self._implementations()

    # ------------------------------------------------------------------ serving

    def make_app(self) -> web.Application:
        """Return an aiohttp application routing ``/bot{token}/{method}`` to this fake."""
        app = web.Application()
        app.router.add_route("GET", "/bot{token}/{method}", self.handle)
        app.router.add_route("POST", "/bot{token}/{method}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """Answer one Bot API request in Telegram's JSON envelope."""
        # Telegram matches method names case-insensitively; the fake matches them exactly as
        # PTB's typed methods spell them, so a call that bypasses those (a raw name in another
        # spelling) is a 404 here instead of passing unnoticed.
        method = request.match_info["method"]
        params = await _read_params(request)

        if self._take_drop(method):
            self._record(method, params, failed=True, status=0)
            transport = request.transport
            if transport is not None:
                transport.abort()
            # Writing to the aborted transport raises ConnectionResetError inside aiohttp, which
            # it treats as a premature client disconnection: logged at DEBUG, no warning.
            return web.Response()

        fault = self._take_fault(method, params)
        if fault is not None:
            self._record(method, params, failed=True, status=fault.status)
            return await self._answer_error(
                _ApiError(fault.status, fault.description, fault.retry_after), method
            )

        if method == "getUpdates":
            self._record(method, params)
            return await self._get_updates(params)

        if self.enforce_limits and self._over_flood_limit(method, params):
            self.rejected_429 += 1
            self._record(method, params, failed=True, status=429)
            return await self._answer_error(
                _ApiError(429, "Too Many Requests: retry after 1", 1), method
            )

        implementation = self._methods.get(method)
        if implementation is None:
            self._record(method, params, failed=True, status=404)
            return await self._answer_error(_ApiError(404, "Not Found"), method)
        try:
            result = implementation(params)
        except _ApiError as exc:
            self._record(method, params, failed=True, status=exc.status)
            return await self._answer_error(exc, method)
        self._record(method, params)
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response({"ok": True, "result": result})

    async def _answer_error(self, error: _ApiError, method: str) -> web.Response:
        if self.latency and method != "getUpdates":
            await asyncio.sleep(self.latency)
        body: dict[str, Any] = {
            "ok": False,
            "error_code": error.status,
            "description": error.description,
        }
        # PTB reads "parameters" only for retry_after/migrate_to_chat_id and complains about
        # anything else, so the key is present only when it carries retry_after.
        if error.retry_after is not None:
            body["parameters"] = {"retry_after": error.retry_after}
        return web.json_response(body, status=error.status)

    # ------------------------------------------------------------------ recording

    def _record(
        self,
        method: str,
        params: dict[str, Any],
        *,
        failed: bool = False,
        status: int = 200,
    ) -> None:
        call = Call(method, params, time.monotonic(), failed, status)
        self.calls.append(call)
        self._by_method.setdefault(method, []).append(call)
        chat_id = params.get("chat_id")
        if chat_id is not None:
            self._by_method_chat.setdefault((method, chat_id), []).append(call)
        self._pulse()

    def _pulse(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def calls_to(self, method: str) -> list[Call]:
        """Return every call of ``method``, failed ones included, in order."""
        return list(self._by_method.get(method, ()))

    def sent(self, chat_id: int, *, include_failed: bool = False) -> list[Call]:
        """Return the ``sendMessage`` calls to ``chat_id``; by default only delivered ones."""
        calls = self._by_method_chat.get(("sendMessage", chat_id), [])
        return [c for c in calls if include_failed or not c.failed]

    def texts(self, chat_id: int) -> list[str]:
        """Return the texts delivered to ``chat_id`` by ``sendMessage``, in order."""
        return [str(c.params.get("text", "")) for c in self.sent(chat_id)]

    def live_messages(self, chat_id: int) -> set[int]:
        """Return the ids of messages in ``chat_id`` that exist and were not deleted."""
        return set(self._messages.get(chat_id, {}))

    def commands_for(
        self, scope: dict[str, Any] | None = None, language_code: str = ""
    ) -> list[dict[str, Any]] | None:
        """Return the command list set for ``scope`` (default scope if None), or None."""
        return self.commands.get(_scope_key(scope, language_code))

    def reset_calls(self) -> None:
        """Forget recorded calls (not chat state), e.g. after a fixture's set-up traffic."""
        self.calls.clear()
        self._by_method.clear()
        self._by_method_chat.clear()
        self._pulse()

    # ------------------------------------------------------------------ waiting

    async def wait_for(
        self,
        predicate: Callable[[FakeBotApi], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the test-facing API, like asyncio.wait_for
    ) -> None:
        """Wait until ``predicate(self)`` holds, re-checking after every call and poll.

        Raises:
            AssertionError: on timeout, with a summary of recent calls to debug the test.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate(self):
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(self._timeout_summary(predicate, timeout))
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await changed.wait()

    async def wait_for_call(
        self,
        method: str,
        *,
        chat_id: int | None = None,
        count: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[Call]:
        """Wait until ``count`` calls of ``method`` (to ``chat_id`` if given) were received.

        Failed calls count too: this waits for attempts. Returns every matching call so far.
        """

        def matching(fake: FakeBotApi) -> list[Call]:
            if chat_id is None:
                return fake._by_method.get(method, [])
            return fake._by_method_chat.get((method, chat_id), [])

        def enough(fake: FakeBotApi) -> bool:
            return len(matching(fake)) >= count

        enough.__qualname__ = f"{count} x {method}" + (
            f" to chat {chat_id}" if chat_id is not None else ""
        )
        await self.wait_for(enough, timeout)
        return list(matching(self))

    async def wait_updates_fetched(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Wait until getUpdates has handed out (or filtered out) every pushed update."""

        def fetched(fake: FakeBotApi) -> bool:
            return fake._settled_through >= fake._last_update_id

        fetched.__qualname__ = f"all updates up to {self._last_update_id} fetched"
        await self.wait_for(fetched, timeout)

    def _timeout_summary(self, predicate: Callable[[FakeBotApi], bool], timeout: float) -> str:
        name = getattr(predicate, "__qualname__", repr(predicate))
        polls = len(self._by_method.get("getUpdates", ()))
        recent = [c for c in self.calls[-200:] if c.method != "getUpdates"][-12:]
        lines = [
            f"FakeBotApi: timed out after {timeout} s waiting for {name}.",
            f"{len(self.calls)} calls recorded ({polls} getUpdates); "
            f"{len(self._pending)} updates pending, last pushed {self._last_update_id}, "
            f"handed out through {self._settled_through}.",
            "Most recent calls:" if recent else "No calls other than getUpdates.",
        ]
        for call in recent:
            shown = {k: v for k, v in call.params.items() if k in {"chat_id", "message_id"}}
            if "text" in call.params:
                shown["text"] = str(call.params["text"])[:60]
            outcome = f" -> FAILED {call.status}" if call.failed else ""
            lines.append(f"  {call.method} {shown}{outcome}")
        return "\n".join(lines)

    # ------------------------------------------------------------------ fault injection

    def fail(
        self,
        method: str,
        *,
        status: int,
        description: str,
        retry_after: int | None = None,
        chat_id: int | None = None,
        times: int | None = 1,
    ) -> None:
        """Answer the next ``times`` matching calls with an error (None: until cleared).

        ``method`` as PTB spells it; ``"*"`` matches every method. Rules are tried in the
        order they were queued. Example: ``fail("sendMessage", status=429,
        description="Too Many Requests: retry after 30", retry_after=30)``.
        """
        self._faults.append(_Fault(method, status, description, retry_after, chat_id, times))

    def drop_connection(self, method: str, times: int | None = 1) -> None:
        """Close the connection without answering the next ``times`` calls of ``method``.

        PTB then raises ``NetworkError`` (a reset, as in T-43). The call is still recorded and
        has no effect on chat state: the client cannot know whether it happened.
        """
        self._drops.append(_Drop(method, times))

    def clear_faults(self) -> None:
        """Remove every queued error answer and dropped connection."""
        self._faults.clear()
        self._drops.clear()

    def _take_fault(self, method: str, params: dict[str, Any]) -> _Fault | None:
        for index, rule in enumerate(self._faults):
            if rule.method not in {method, "*"}:
                continue
            if rule.chat_id is not None and params.get("chat_id") != rule.chat_id:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del self._faults[index]
            return rule
        return None

    def _take_drop(self, method: str) -> bool:
        for index, rule in enumerate(self._drops):
            if rule.method not in {method, "*"}:
                continue
            if rule.times is not None:
                rule.times -= 1
                if rule.times <= 0:
                    del self._drops[index]
            return True
        return False

    def _over_flood_limit(self, method: str, params: dict[str, Any]) -> bool:
        """Apply the sliding one-second windows; O(expired entries), no scan of all calls."""
        chat_id = params.get("chat_id")
        if chat_id is None or not method.startswith(_LIMITED_PREFIXES):
            return False
        now = time.monotonic()
        horizon = now - 1.0
        overall = self._overall_window
        while overall and overall[0] <= horizon:
            overall.popleft()
        per_chat = self._chat_windows.get(chat_id)
        if per_chat is None:
            per_chat = self._chat_windows[chat_id] = deque()
        while per_chat and per_chat[0] <= horizon:
            per_chat.popleft()
        if len(overall) >= self.overall_per_second or len(per_chat) >= self.per_chat_per_second:
            return True
        overall.append(now)
        per_chat.append(now)
        return False

    # ------------------------------------------------------------------ incoming updates

    def push_update(self, raw: dict[str, Any]) -> int:
        """Queue a raw update for getUpdates; assign ``update_id`` if missing and return it."""
        update = dict(raw)
        if "update_id" in update:
            update_id = int(update["update_id"])
            if update_id <= self._last_update_id:
                raise ValueError(f"update_id {update_id} is not above {self._last_update_id}")
            self._update_ids = itertools.count(update_id + 1)
        else:
            update_id = next(self._update_ids)
            update["update_id"] = update_id
        self._last_update_id = update_id
        for kind in ("message", "edited_message"):
            message = update.get(kind)
            if isinstance(message, dict) and isinstance(message.get("chat"), dict):
                chat_id = message["chat"].get("id")
                message_id = int(message.get("message_id", 0))
                self._last_message_id[chat_id] = max(
                    self._last_message_id.get(chat_id, 0), message_id
                )
                self._messages.setdefault(chat_id, {})[message_id] = _StoredMessage(
                    message.get("text"), None, from_bot=False
                )
        if self._receiver is not None:
            self._settled_through = update_id
            if self._deliverable(update):
                self._receiver(update)
            self._pulse()
            return update_id
        self._pending.append(update)
        self._updates_arrived.set()
        self._updates_arrived = asyncio.Event()
        self._pulse()
        return update_id

    def deliver_to(
        self,
        receiver: Callable[[dict[str, Any]], None] | None,
        *,
        allowed_updates: list[str] | None = None,
    ) -> None:
        """Hand every update pushed from now on to ``receiver`` instead of ``getUpdates``.

        The world of ``tests/fakes/world.py`` feeds the application this way (the same dicts
        ``getUpdates`` would serve, filtered by ``allowed_updates`` as Telegram filters them);
        Updates pushed while nobody listened are handed over at once, in order; None goes
        back to queueing for ``getUpdates``.
        """
        self._receiver = receiver
        if receiver is None:
            return
        if allowed_updates is not None:
            self._allowed_updates = frozenset(allowed_updates) or None
        # What waited while no one was listening (the bot was down), as Telegram keeps it.
        backlog = self._take(len(self._pending))
        self._pending.clear()
        for update in backlog:
            receiver(update)
        self._pulse()

    def push_message(
        self,
        user_id: int,
        text: str,
        *,
        chat_id: int | None = None,
        chat_type: str = "private",
        language_code: str | None = "es",
        forward: bool = False,
        edited: bool = False,
        username: str | None = None,
        message_id: int | None = None,
    ) -> int:
        """Queue a text message from a user and return its message_id.

        Args:
            user_id: the sender.
            text: message text; a leading ``/word`` gets a ``bot_command`` entity as Telegram
                adds one.
            chat_id: defaults to ``user_id`` (a private chat).
            chat_type: "private", "group", "supergroup" or "channel".
            language_code: the client's UI language hint; None omits it.
            forward: add ``forward_origin`` (and the legacy ``forward_date``), T-08.
            edited: deliver as ``edited_message`` with ``edit_date``, T-09.
            username: optional sender username.
            message_id: for ``edited``, the id of the earlier message; a new id otherwise.
        """
        chat = chat_id if chat_id is not None else user_id
        sender = _user(user_id, language_code, username)
        now = int(time.time())
        if message_id is None:
            message_id = self._next_message_id(chat)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": now,
            "chat": self._remember_chat(chat, chat_type, sender),
            "from": sender,
            "text": text,
        }
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            message["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
            ]
        if forward:
            message["forward_origin"] = {
                "type": "user",
                "date": now - 60,
                "sender_user": {"id": user_id + 1, "is_bot": False, "first_name": "Otro"},
            }
            message["forward_date"] = now - 60
        if edited:
            message["edit_date"] = now
        self.push_update({"edited_message" if edited else "message": message})
        return message_id

    def push_callback(
        self, user_id: int, data: str, *, message_id: int, chat_id: int | None = None
    ) -> str:
        """Queue a button press on the bot's message ``message_id``; return the query id."""
        chat = chat_id if chat_id is not None else user_id
        stored = self._messages.get(chat, {}).get(message_id)
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._chat(chat),
            "from": _public_bot_user(),
            "text": (stored.text if stored and stored.text is not None else ""),
        }
        if stored is not None and stored.reply_markup is not None:
            message["reply_markup"] = stored.reply_markup
        query_id = str(next(self._callback_ids))
        self.push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": _user(user_id, "es", None),
                    "chat_instance": f"ci-{chat}",
                    "data": data,
                    "message": message,
                }
            }
        )
        return query_id

    def push_non_text(self, user_id: int, kind: str, *, chat_id: int | None = None) -> int:
        """Queue a non-text message (``kind`` in :data:`NON_TEXT_KINDS`); return its id.

        Payloads carry exactly the fields PTB's ``de_json`` requires for each object.
        """
        if kind not in NON_TEXT_KINDS:
            raise ValueError(f"unknown kind {kind!r}; expected one of {sorted(NON_TEXT_KINDS)}")
        chat = chat_id if chat_id is not None else user_id
        sender = _user(user_id, "es", None)
        message_id = self._next_message_id(chat)
        file = {"file_id": f"{kind}-{message_id}", "file_unique_id": f"u{kind}{message_id}"}
        payloads: dict[str, Any] = {
            "sticker": {
                **file,
                "type": "regular",
                "width": 512,
                "height": 512,
                "is_animated": False,
                "is_video": False,
                "emoji": "\N{SLIGHTLY SMILING FACE}",
            },
            "photo": [{**file, "width": 90, "height": 90, "file_size": 1024}],
            "voice": {**file, "duration": 2, "mime_type": "audio/ogg"},
            "location": {"latitude": -13.5319, "longitude": -71.9675},
            "contact": {"phone_number": "+51900000000", "first_name": "Contacto"},
            "document": {**file, "file_name": "doc.pdf", "mime_type": "application/pdf"},
            "dice": {"emoji": "\N{GAME DIE}", "value": 3},
        }
        message = {
            "message_id": message_id,
            "date": int(time.time()),
            "chat": self._remember_chat(chat, "private", sender),
            "from": sender,
            kind: payloads[kind],
        }
        self.push_update({"message": message})
        return message_id

    def _next_message_id(self, chat_id: Any) -> int:
        """Allocate from the chat's counter, shared by user and bot messages as in Telegram."""
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        return message_id

    def _remember_chat(
        self, chat_id: Any, chat_type: str, sender: dict[str, Any]
    ) -> dict[str, Any]:
        if chat_type == "private":
            chat: dict[str, Any] = {
                "id": chat_id,
                "type": "private",
                "first_name": sender["first_name"],
            }
            if "username" in sender:
                chat["username"] = sender["username"]
        else:
            chat = {"id": chat_id, "type": chat_type, "title": "Grupo"}
        self._chats[chat_id] = chat
        return chat

    def _chat(self, chat_id: Any) -> dict[str, Any]:
        known = self._chats.get(chat_id)
        if known is not None:
            return known
        if isinstance(chat_id, int) and chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "X"}
        return {"id": chat_id, "type": "supergroup", "title": "X"}

    # ------------------------------------------------------------------ getUpdates

    async def _get_updates(self, params: dict[str, Any]) -> web.Response:
        offset = params.get("offset")
        limit = min(max(int(params.get("limit") or 100), 1), 100)
        timeout = float(params.get("timeout") or 0)
        allowed = params.get("allowed_updates")
        if isinstance(allowed, list):
            # Telegram keeps the last list given; an empty list restores the default.
            self._allowed_updates = frozenset(map(str, allowed)) or None
        if isinstance(offset, int):
            self._confirm(offset)

        batch = self._take(limit)
        if not batch and timeout > 0 and not self._closing:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + min(timeout, self.max_poll_wait)
            while not batch and not self._closing:
                remaining = deadline - loop.time()
                if remaining <= 0:
                    break
                arrived = self._updates_arrived
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(remaining):
                        await arrived.wait()
                batch = self._take(limit)
        self._pulse()
        return web.json_response({"ok": True, "result": batch})

    def _confirm(self, offset: int) -> None:
        """Drop updates below ``offset``: the client has confirmed them."""
        pending = self._pending
        if offset < 0:  # Telegram: -N keeps only the last N updates
            while len(pending) > -offset:
                pending.popleft()
            return
        while pending and pending[0]["update_id"] < offset:
            pending.popleft()

    def _take(self, limit: int) -> list[dict[str, Any]]:
        """Return up to ``limit`` deliverable updates, dropping types the client excluded."""
        batch: list[dict[str, Any]] = []
        excluded: list[dict[str, Any]] = []
        for update in self._pending:
            if len(batch) >= limit:
                break
            if self._deliverable(update):
                batch.append(update)
            else:
                excluded.append(update)
            self._settled_through = max(self._settled_through, int(update["update_id"]))
        if excluded:
            dropped = {id(update) for update in excluded}
            self._pending = deque(u for u in self._pending if id(u) not in dropped)
        return batch

    def _deliverable(self, update: dict[str, Any]) -> bool:
        kind = next((key for key in update if key != "update_id"), "")
        if self._allowed_updates is None:
            return kind not in _NOT_DELIVERED_BY_DEFAULT
        return kind in self._allowed_updates

    # ------------------------------------------------------------------ method implementations

    def _implementations(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "getMe": lambda _: dict(BOT_USER),
            "deleteWebhook": lambda _: True,
            "getWebhookInfo": lambda _: {
                "url": "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._pending),
            },
            "sendMessage": self._send_message,
            "sendPhoto": self._send_photo,
            "sendChatAction": lambda _: True,
            "editMessageText": self._edit_message_text,
            "editMessageReplyMarkup": self._edit_message_reply_markup,
            "answerCallbackQuery": lambda _: True,
            "deleteMessage": self._delete_message,
            "deleteMessages": self._delete_messages,
            "setMyCommands": self._set_my_commands,
            "deleteMyCommands": self._delete_my_commands,
            "getMyCommands": self._get_my_commands,
            "leaveChat": lambda _: True,
            "setChatMenuButton": lambda _: True,
            "close": lambda _: True,
            "logOut": lambda _: True,
        }

    def _send_message(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = _require(params, "chat_id")
        text = str(params.get("text") or "")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        _check_text(text, params)
        message_id = self._next_message_id(chat_id)
        markup = _inline_markup(params.get("reply_markup"))
        self._messages.setdefault(chat_id, {})[message_id] = _StoredMessage(
            text, markup, from_bot=True
        )
        return self._message_dict(chat_id, message_id, params)

    def _send_photo(self, params: dict[str, Any]) -> dict[str, Any]:
        """A photo uploaded as a PNG or JPEG file (or a file_id); caption ≤ 1024 characters."""
        chat_id = _require(params, "chat_id")
        photo = params.get("photo")
        if isinstance(photo, Upload):
            if not photo.data.startswith((b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff")):
                raise _ApiError(400, "Bad Request: IMAGE_PROCESS_FAILED")
        elif not photo:
            raise _ApiError(400, "Bad Request: there is no photo in the request")
        caption = str(params.get("caption") or "")
        if len(caption) > 1024:
            raise _ApiError(400, "Bad Request: message caption is too long")
        message_id = self._next_message_id(chat_id)
        self._messages.setdefault(chat_id, {})[message_id] = _StoredMessage(
            None, None, from_bot=True
        )
        message = self._message_dict(chat_id, message_id, params)
        del message["text"]
        message["photo"] = [
            {"file_id": f"photo-{message_id}", "file_unique_id": f"p{message_id}",
             "width": 90, "height": 90}
        ]  # fmt: skip
        if caption:
            message["caption"] = caption
        return message

    def photos(self, chat_id: int) -> list[Call]:
        """Return the delivered ``sendPhoto`` calls to ``chat_id``, in order."""
        calls = self._by_method_chat.get(("sendPhoto", chat_id), [])
        return [c for c in calls if not c.failed]

    def _message_dict(
        self, chat_id: Any, message_id: int, params: dict[str, Any], *, edited: bool = False
    ) -> dict[str, Any]:
        stored = self._messages[chat_id][message_id]
        now = int(time.time())
        message: dict[str, Any] = {
            "message_id": message_id,
            "date": now,
            "chat": self._chat(chat_id),
            "from": _public_bot_user(),
            "text": stored.text or "",
        }
        if stored.reply_markup is not None:
            message["reply_markup"] = stored.reply_markup
        if params.get("protect_content") is True:
            message["has_protected_content"] = True
        if edited:
            message["edit_date"] = now
        return message

    def _editable(self, params: dict[str, Any]) -> tuple[Any, int, _StoredMessage] | None:
        """Resolve the target of an edit; None for inline messages (answered with True)."""
        if params.get("inline_message_id") and "chat_id" not in params:
            return None
        chat_id = _require(params, "chat_id")
        message_id = _require(params, "message_id")
        stored = self._messages.get(chat_id, {}).get(message_id)
        if stored is None:
            raise _ApiError(400, "Bad Request: message to edit not found")
        if not stored.from_bot:
            raise _ApiError(400, "Bad Request: message can't be edited")
        return chat_id, message_id, stored

    def _edit_message_text(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        target = self._editable(params)
        if target is None:
            return True
        chat_id, message_id, stored = target
        text = str(params.get("text") or "")
        if not text:
            raise _ApiError(400, "Bad Request: message text is empty")
        _check_text(text, params)
        markup = _inline_markup(params.get("reply_markup"))
        if text == stored.text and markup == stored.reply_markup:
            raise _ApiError(400, NOT_MODIFIED)
        stored.text = text
        stored.reply_markup = markup
        return self._message_dict(chat_id, message_id, params, edited=True)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> dict[str, Any] | bool:
        target = self._editable(params)
        if target is None:
            return True
        chat_id, message_id, stored = target
        markup = _inline_markup(params.get("reply_markup"))
        if markup == stored.reply_markup:
            raise _ApiError(400, NOT_MODIFIED)
        stored.reply_markup = markup
        return self._message_dict(chat_id, message_id, params, edited=True)

    def _delete_message(self, params: dict[str, Any]) -> bool:
        chat_id = _require(params, "chat_id")
        message_id = _require(params, "message_id")
        # Checked first so a test can model the 48 h window without creating the message.
        if message_id in self.undeletable:
            raise _ApiError(400, "Bad Request: message can't be deleted for everyone")
        if self._messages.get(chat_id, {}).pop(message_id, None) is None:
            raise _ApiError(400, "Bad Request: message to delete not found")
        return True

    def _delete_messages(self, params: dict[str, Any]) -> bool:
        chat_id = _require(params, "chat_id")
        ids = params.get("message_ids")
        if not isinstance(ids, list) or not ids:
            raise _ApiError(400, "Bad Request: message identifiers are not specified")
        if len(ids) > 100:
            raise _ApiError(400, "Bad Request: too many message identifiers specified")
        live = self._messages.get(chat_id, {})
        for message_id in ids:
            if int(message_id) not in self.undeletable:  # missing or old ones are skipped
                live.pop(int(message_id), None)
        return True

    def _set_my_commands(self, params: dict[str, Any]) -> bool:
        commands = params.get("commands")
        if not isinstance(commands, list):
            raise _ApiError(400, 'Bad Request: parameter "commands" is required')
        key = _scope_key(params.get("scope"), str(params.get("language_code") or ""))
        self.commands[key] = [dict(command) for command in commands]
        return True

    def _delete_my_commands(self, params: dict[str, Any]) -> bool:
        key = _scope_key(params.get("scope"), str(params.get("language_code") or ""))
        self.commands.pop(key, None)
        return True

    def _get_my_commands(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        key = _scope_key(params.get("scope"), str(params.get("language_code") or ""))
        return list(self.commands.get(key, []))


@contextlib.asynccontextmanager
async def serve(fake: FakeBotApi, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve ``fake`` on an ephemeral port and yield PTB's ``base_url`` for it.

    PTB appends the token to ``base_url``, so the yielded ``http://127.0.0.1:<port>/bot`` turns
    into ``/bot<token>/<method>``. On exit pending long polls are released first so the server
    shuts down at once.
    """
    fake._closing = False
    fake._changed = asyncio.Event()  # fresh events: a fake may outlive one test's event loop
    fake._updates_arrived = asyncio.Event()
    runner = web.AppRunner(fake.make_app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        port = runner.addresses[0][1]
        yield f"http://{host}:{port}/bot"
    finally:
        fake._closing = True
        fake._updates_arrived.set()
        await runner.cleanup()


# ---------------------------------------------------------------------- helpers


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Decode query, form or JSON parameters into Python values.

    PTB 22 posts ``application/x-www-form-urlencoded`` where strings are sent verbatim and
    every other value is ``json.dumps``-ed (ints, bools, lists, dicts), so decoding depends on
    the key: free-text keys stay strings, integer keys become ints, the rest is JSON-decoded
    when it looks like JSON.
    """
    raw: dict[str, Any] = {}
    for key, value in request.query.items():
        raw[key] = value
    if request.method == "POST" and request.can_read_body:
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                raw.update(body)
        else:
            form = await request.post()
            for name, item in form.items():
                if isinstance(item, str):
                    raw[name] = item
                elif isinstance(item, bytes | bytearray):
                    raw[name] = item.decode()
                else:  # an uploaded file: its name, and its bytes for whoever needs them
                    raw[name] = Upload(item.filename, item.file.read())
    return {key: _decode(key, value) for key, value in raw.items()}


def _decode(key: str, value: Any) -> Any:
    if key == "message_ids":
        decoded = _json_or_str(value) if isinstance(value, str) else value
        if isinstance(decoded, list):
            return [_number(item) for item in decoded]
        return decoded
    if key in _INT_KEYS:
        return _number(value)
    if not isinstance(value, str) or key in _TEXT_KEYS:
        return value
    if value in {"true", "false"} or value[:1] in {"{", "["}:
        return _json_or_str(value)
    return value


def _json_or_str(value: str) -> Any:
    try:
        return json.loads(value)
    except ValueError:
        return value


def _number(value: Any) -> Any:
    """Turn "42"/"-100123"/"2.5" into numbers; leave "@channel" and others as they are."""
    if not isinstance(value, str):
        return value
    try:
        return int(value)
    except ValueError:
        pass
    try:
        number = float(value)
    except ValueError:
        return value
    return int(number) if number.is_integer() else number


def _require(params: dict[str, Any], key: str) -> Any:
    value = params.get(key)
    if value is None or value == "":
        raise _ApiError(400, f'Bad Request: parameter "{key}" is required')
    return value


def _inline_markup(markup: Any) -> dict[str, Any] | None:
    """Telegram echoes only inline keyboards in the returned Message."""
    if isinstance(markup, dict) and "inline_keyboard" in markup:
        return markup
    return None


def _scope_key(scope: Any, language_code: str) -> tuple[str, str]:
    canonical = scope if isinstance(scope, dict) else {"type": "default"}
    return json.dumps(canonical, sort_keys=True), language_code


def _user(user_id: int, language_code: str | None, username: str | None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": f"Usuario{user_id}"}
    if language_code is not None:
        user["language_code"] = language_code
    if username is not None:
        user["username"] = username
    return user


def _public_bot_user() -> dict[str, Any]:
    """The bot as it appears in ``Message.from`` (without the getMe-only capabilities)."""
    return {key: BOT_USER[key] for key in ("id", "is_bot", "first_name", "username")}


def _utf16_len(text: str) -> int:
    """Entity offsets and lengths are counted in UTF-16 code units."""
    return len(text.encode("utf-16-le")) // 2


def _check_text(text: str, params: dict[str, Any]) -> None:
    """Refuse a text Telegram would refuse: too long, or HTML it cannot parse."""
    if len(text) > MAX_TEXT_LENGTH:
        raise _ApiError(400, "Bad Request: message is too long")
    if str(params.get("parse_mode") or "").upper() == "HTML":
        try:
            parsed = html_text(text)
        except ValueError as exc:
            raise _ApiError(400, f"Bad Request: can't parse entities: {exc}") from None
        if _utf16_len(parsed) > MAX_TEXT_LENGTH:
            raise _ApiError(400, "Bad Request: message is too long")


def html_text(text: str) -> str:
    """The text Telegram shows for ``text`` in HTML parse mode; ValueError where it is invalid.

    Stricter than Telegram on one point, on purpose: a ``&`` or ``>`` that is not part of an
    entity is refused (Telegram shows it as typed), because in our texts it can only come from
    an unescaped value or an entity cut in half. Tags must be known and properly nested.
    """
    shown: list[str] = []
    opened: list[str] = []
    position = 0
    for match in _HTML_PART.finditer(text):
        shown.append(text[position : match.start()])
        position = match.end()
        part = match[0]
        if len(part) == 1:
            raise ValueError(f"unescaped {part!r} at offset {match.start()}")
        if part.startswith("&"):
            named, decimal, hexadecimal = match[4], match[5], match[6]
            code = int(decimal) if decimal else int(hexadecimal, 16) if hexadecimal else None
            shown.append(_HTML_NAMED[named] if named else chr(code or 0))
            continue
        closing, name = match[1] == "/", match[2].lower()
        if name not in HTML_TAGS:
            raise ValueError(f"unsupported tag {name!r} at offset {match.start()}")
        if not closing:
            opened.append(name)
        elif not opened or opened.pop() != name:
            raise ValueError(f"unmatched end tag {name!r} at offset {match.start()}")
    if opened:
        raise ValueError(f"can't find end tag corresponding to start tag {opened[-1]!r}")
    shown.append(text[position:])
    return "".join(shown)
