"""The one outbox sender: lease due rows, send outside any transaction, record with CAS.

Every proactive message of the bot (alerts, notifications, reminders, tallies, scheduled
deletions) is an ``outbox`` row first (R-01). This module is the engine that turns rows into
Telegram calls, and it depends on ports only, so the whole state machine is unit-tested with
in-memory fakes:

* **Leasing (R-03).** A short committed transaction moves up to ``batch_size`` due rows
  (``queued``/``errored``, ``next_attempt_at`` and ``not_before`` passed, not expired) to
  ``sending`` with ``lease_until = now + 60 s``, ordered by priority, then id (R-07). Only about
  one second of work is leased at a time, so a safety alert enqueued during a broadcast waits at
  most that long, and interactive replies (which never pass through here) go ahead of it.
* **Sending** happens outside any transaction, with up to ``max_in_flight`` calls at once
  (Telegram latency must not cap throughput), each paced by a :class:`Pacer`: the bot's one
  pacer, shared with its replies and edits (global rate, >= 1 s between messages to one
  chat, replies first).
* **Recording (R-02).** Outcomes are batched and applied as compare-and-set updates
  (``WHERE id = ? AND status = 'sending' AND lease_until = ?``) in one transaction per batch,
  together with their follow-ups (deletion rows, blocked-member handling), so a result is either
  fully recorded or not at all.
* **Errors (R-04, R-05).** 429: pause *all* sending for ``retry_after`` plus jitter, requeue
  without spending an attempt. Transient: back off 10 s, 1 min, 5 min, 15 min, 1 h (±20 %),
  ``dead`` after 5 failures; a deletion instead keeps trying hourly until its expiry
  (Telegram's 48-hour window, issue #11.1). Permanent: ``dead`` at once. Blocked: the row
  ``blocked``, the member flagged, their other queued rows cancelled, their region's
  coordinators told once (R-06).
  Invalid token / conflict: stop the sender and log CRITICAL, no retry storm (M-17).
* **Crash safety.** Delivery is at-least-once. A crash between Telegram accepting a message and
  our commit leaves the row ``sending``; at start-up every ``sending`` row returns to ``queued``
  (a single bot instance polls per token, so none is really in flight) and periodically expired
  leases do. **Duplicate bound:** only rows whose send was in flight or whose result was not yet
  committed at the crash can be sent twice. The sender never holds more than
  ``SenderConfig.lease_batch`` rows leased-but-unrecorded (it leases only into the room left),
  so a crash duplicates at most ``lease_batch`` messages: 25 at the default 25 msg/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
from collections import deque
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from bot.domain.models import Lang, Role
from bot.domain.notices import (
    MAX_DELETE_IDS,
    ChatMenu,
    DeleteMessages,
    Notice,
    NoticeError,
    UnknownNotice,
    decode_notice,
    parse_message_ids,
)
from bot.domain.outbox import (
    KIND_PRIORITY,
    LeasedRow,
    Notifier,
    Outbox,
    OutboxCounts,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Outcome,
    Recipient,
    RowUpdate,
    SendResult,
)
from bot.domain.ports import Clock, UnitOfWork
from bot.services.membership import mark_blocked

_LOGGER = logging.getLogger(__name__)

__all__ = ["MAX_DELETE_IDS", "parse_message_ids"]  # re-exported: part of this module's API
#: Retry schedule after transient failures (R-05): 10 s, 1 min, 5 min, 15 min, 1 h.
BACKOFF: tuple[timedelta, ...] = (
    timedelta(seconds=10),
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
)
#: Non-429 failures after which a row is dead (R-05).
MAX_ATTEMPTS = 5
#: How long a leased row belongs to this worker before recovery may requeue it (R-03).
LEASE_FOR = timedelta(seconds=60)


class OutboxStore(Protocol):
    """The sender's view of the outbox table (implemented in ``storage.outbox``)."""

    async def lease(self, now: datetime, limit: int, lease_until: datetime) -> list[LeasedRow]:
        """Move up to ``limit`` due rows to ``sending`` (priority, then id) and return them.

        Runs in its own short committed transaction.
        """

    async def finish(self, updates: Sequence[RowUpdate], now: datetime) -> set[int]:
        """Apply the transitions whose row is still ``sending`` under the same lease.

        Joins the caller's transaction; returns the ids actually updated.
        """

    async def recover_leases(self, now: datetime, *, all_leases: bool = False) -> int:
        """Return ``sending`` rows to ``queued``: expired leases, or all at start-up."""

    async def expire_due(self, now: datetime) -> Mapping[OutboxKind, int]:
        """Mark waiting rows past ``expires_at`` as ``expired``; counts by kind."""

    async def oldest_due(self, now: datetime) -> datetime | None:
        """``created_at`` of the oldest row that is due but not yet sent."""

    async def counts(self) -> OutboxCounts:
        """Rows by status and kind, and the oldest waiting row."""

    async def retry_dead(self, now: datetime) -> int:
        """Requeue every ``dead`` row with its attempts reset; returns how many."""


class RecipientDirectory(Protocol):
    """Resolves members to chats at send time (the Telegram ID stays sealed until then)."""

    async def resolve(self, member_ids: Collection[int]) -> Mapping[int, Recipient]:
        """Linked members among ``member_ids``; unlinked or unknown ones are absent."""


class SenderLifecycle(Protocol):
    """The sender as the bot's start-up, shutdown and housekeeping tick see it.

    A running process rather than a use case: ``handlers.jobs`` starts it with the Telegram
    notifier and pacer only handlers can build, and stops it. Nothing else of the sender
    (waking, leasing, its store) is reachable through ``Services``.
    """

    @property
    def config(self) -> SenderConfig:
        """Rates and batch sizes (the pacer's global rate)."""

    async def start(self, notifier: Notifier, pacer: Pacer) -> None:
        """Recover crashed leases and run the sender."""

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - bounded shutdown
        """Stop; in-flight sends get ``timeout`` seconds to finish."""

    async def housekeeping(self) -> None:
        """Recover expired leases, expire old rows, warn about a backlog, wake the sender."""


class Pacer(Protocol):
    """Spaces Telegram calls: the global send rate and the per-chat gap (R-07)."""

    async def acquire(self, chat_id: int | None, rank: int = 0) -> None:
        """Wait for the next global slot, and for ``chat_id``'s slot unless it is None.

        ``rank`` is the row's priority (R-07, lower first) among rows waiting for slots.
        """


@dataclass(frozen=True, slots=True)
class SenderConfig:
    """Tuning of the sender; defaults follow telegram-limits.md §1 (25 msg/s, ~1 s of work leased).

    ``rate`` None lifts the global limit (benchmarks); then ``batch_size`` and
    ``max_in_flight`` fall back to fixed values that keep one core busy.
    """

    rate: float | None = 25.0
    batch_size: int | None = None
    max_in_flight: int | None = None
    idle_poll: float = 1.0
    lease_for: timedelta = LEASE_FOR
    #: Seconds of random jitter added to a 429 pause (desynchronises restarts).
    pause_jitter: float = 0.25
    #: Log a warning when the oldest due row waited longer than this (R-13).
    backlog_warning: timedelta = timedelta(minutes=5)

    @property
    def lease_batch(self) -> int:
        """Rows leased at once: about one second of sending at ``rate``."""
        if self.batch_size is not None:
            return max(1, self.batch_size)
        return max(1, math.ceil(self.rate)) if self.rate else 256

    @property
    def in_flight(self) -> int:
        """Telegram calls in flight at once."""
        if self.max_in_flight is not None:
            return max(1, self.max_in_flight)
        # Unpaced (benchmarks): a few calls in flight beat many, measured with httpx (httpcore's
        # pool scans every connection per request) and again with the aiohttp transport
        # (docs/performance.md, First pass and Other measurements).
        return max(1, math.ceil(self.rate)) if self.rate else 8


def backoff_delay(failures: int, rng: random.Random) -> timedelta:
    """Delay before the retry after ``failures`` transient failures (1-based), ±20 % jitter."""
    base = BACKOFF[min(max(failures, 1), len(BACKOFF)) - 1]
    return base * rng.uniform(0.8, 1.2)


def deletion_messages(
    member_id: int, message_ids: Sequence[int], delete_at: datetime
) -> list[OutboxMessage]:
    """DELETION rows for messages in a member's chat, at most 100 ids per row.

    The idempotency key names the member and the message ids (``del:7:42``), so scheduling the
    same deletion twice (a retried handler, a re-sent reply) stores it once.
    """
    return [
        OutboxMessage(
            idempotency_key=f"del:{member_id}:{_joined(batch)}",
            kind=OutboxKind.DELETION,
            member_id=member_id,
            notice=DeleteMessages(batch),
            not_before=delete_at,
        )
        for batch in _id_batches(message_ids)
    ]


def _id_batches(message_ids: Sequence[int]) -> list[tuple[int, ...]]:
    """The distinct ids, ascending, in batches of at most ``MAX_DELETE_IDS``."""
    ids = sorted(set(message_ids))
    return [
        tuple(ids[start : start + MAX_DELETE_IDS]) for start in range(0, len(ids), MAX_DELETE_IDS)
    ]


def _joined(batch: Sequence[int]) -> str:
    """A batch of ids in an idempotency key: ``42-43``."""
    return "-".join(map(str, batch))


#: ``correlation`` prefix of the rows a wipe leaves for the sender (issue #11.1).
WIPE_CORRELATION = "wipe:"


def wipe_messages(
    member_id: int,
    chat_id: int,
    message_ids: Sequence[int],
    *,
    due: datetime,
    window_closes: datetime,
) -> list[OutboxMessage]:
    """DELETION rows for what a wipe could not delete at once (M-13, issue #11.1).

    The member is unlinked in the same transaction, so the chat cannot be resolved at send
    time: the row carries it in its sealed parameters (M-07), cleared by the store once the
    row is final. ``window_closes`` (Telegram's 48 hours after the newest of the ids) is the
    row's expiry: retried until then, then recorded as given up (``expired``). ``due``
    honours a 429's ``retry_after``. The correlation marks the rows as a wipe's, which
    ``cancel_for_member`` leaves alone.
    """
    return [
        OutboxMessage(
            idempotency_key=f"wipe:{member_id}:{_joined(batch)}",
            kind=OutboxKind.DELETION,
            member_id=member_id,
            notice=DeleteMessages(batch, chat=chat_id),
            correlation=f"{WIPE_CORRELATION}{member_id}",
            not_before=due,
            expires_at=window_closes,
        )
        for batch in _id_batches(message_ids)
    ]


def menu_message(member_id: int, role: Role, now: datetime) -> OutboxMessage:
    """The row that gives a member's chat the command menu of ``role`` (issue #16.3).

    For a role changed where Telegram is not at hand (the CLI) or in the chat alike: the
    running bot's sender sets the menu in the member's language at send time. Rows of one
    member share a correlation and are versioned by the change's time, so a newer role's
    row cancels an older one still waiting and an older one is never applied after it.
    """
    stamp = int(now.timestamp() * 1_000_000)
    return OutboxMessage(
        idempotency_key=f"menu:{member_id}:{role}:{stamp}",
        kind=OutboxKind.NOTIFICATION,
        member_id=member_id,
        notice=ChatMenu(role),
        correlation=f"menu:{member_id}",
        version=stamp,
    )


def menu_removal(member_id: int, chat_id: int, now: datetime) -> OutboxMessage:
    """The row that removes an unlinked phone's command menu (M-13c, issue #16.3).

    Like a wipe's rows: the member is unlinked in the same transaction, so the row carries
    the chat (sealed, erased by the store once the row is final) under the wipe's
    correlation, which ``cancel_for_member`` leaves alone.
    """
    stamp = int(now.timestamp() * 1_000_000)
    return OutboxMessage(
        idempotency_key=f"wipe:{member_id}:menu:{stamp}",
        kind=OutboxKind.NOTIFICATION,
        member_id=member_id,
        notice=ChatMenu(None, chat=chat_id),
        correlation=f"{WIPE_CORRELATION}{member_id}",
    )


def is_wipe(row: LeasedRow) -> bool:
    """Whether a leased row was left by a wipe (its chat travels with it)."""
    return row.correlation is not None and row.correlation.startswith(WIPE_CORRELATION)


def split_deletion(row: LeasedRow) -> list[OutboxMessage]:
    """One DELETION row per id of a batch Telegram refused as too old (issue #11.1).

    ``deleteMessages`` may refuse a whole batch for one message past the 48-hour window,
    while the others could still go. Retried one by one (``deleteMessage``), each id gets its
    own answer: deleted, gone, or too old (final). A wipe's rows keep their chat and
    correlation. Nothing for a single id or unreadable parameters.
    """
    try:
        notice = DeleteMessages.from_params(row.params) if row.params is not None else None
    except NoticeError:
        return []
    if notice is None or len(notice.message_ids) < 2:
        return []
    return [
        OutboxMessage(
            idempotency_key=f"split:{row.id}:{message_id}",
            kind=OutboxKind.DELETION,
            member_id=row.member_id,
            notice=DeleteMessages((message_id,), chat=notice.chat),
            correlation=row.correlation,
        )
        for message_id in notice.message_ids
    ]


@dataclass(frozen=True, slots=True)
class OutboxDeletions:
    """Implements ``bot.domain.ports.DeletionScheduler`` as DELETION outbox rows (M-10).

    Joins the caller's transaction like any enqueue, so "reply sent, deletion recorded" is one
    commit when the caller wants it.
    """

    outbox: Outbox

    async def schedule_deletion(
        self, member_id: int, message_ids: Sequence[int], delete_at: datetime
    ) -> None:
        """Persist the deletion; the sender performs it once ``delete_at`` has passed."""
        if message_ids:
            await self.outbox.enqueue_at_commit(
                deletion_messages(member_id, message_ids, delete_at)
            )


@dataclass(slots=True)
class _Done:
    """A finished attempt waiting to be recorded."""

    row: LeasedRow
    update: RowUpdate
    outcome: Outcome | None = None
    message_id: int | None = None


@dataclass(slots=True)
class _Stats:
    """Counters for logs and tests (no content, only numbers)."""

    sent: int = 0
    attempts: int = 0
    rate_limited: int = 0
    recorded_batches: int = 0


class OutboxSender:
    """Leases, sends and records outbox rows; one instance per bot process.

    Construct it in the composition root; ``start(notifier, pacer)`` binds the Telegram side
    (the notifier lives in ``handlers``) and runs the loop as an asyncio task; ``stop()`` lets
    in-flight sends finish (bounded) and returns unstarted leased rows to the queue.
    """

    def __init__(
        self,
        *,
        store: OutboxStore,
        uow: UnitOfWork,
        recipients: RecipientDirectory,
        clock: Clock,
        config: SenderConfig | None = None,
        wakeup: asyncio.Event | None = None,
        rng: random.Random | None = None,
        monotonic: Callable[[], float] | None = None,
    ) -> None:
        """Keep the ports; nothing runs until :meth:`start`.

        Args:
            store: the outbox table as the sender sees it.
            uow: groups a batch of results and their follow-ups into one transaction; its
                outbox takes the follow-up rows (deletions, coordinator notes), its members
                are flagged blocked and their coordinators found.
            recipients: member → chat and language, at send time.
            clock: wall-clock time for the rows (tests control it).
            config: rates and batch sizes.
            wakeup: set by the outbox on every enqueue so the sender reacts at once.
            rng: jitter source (tests pass a seeded one).
            monotonic: pacing time source; defaults to the event loop's clock.
        """
        self._store = store
        self._uow = uow
        self._recipients = recipients
        self._clock = clock
        self.config = config or SenderConfig()
        self._wakeup = wakeup or asyncio.Event()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._monotonic = monotonic
        self._notifier: Notifier | None = None
        self._pacer: Pacer | None = None
        self._task: asyncio.Task[None] | None = None
        self._flusher: asyncio.Task[None] | None = None
        self._pending: deque[tuple[LeasedRow, Recipient | None]] = deque()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._results: list[_Done] = []
        self._results_ready = asyncio.Event()
        self._progress = asyncio.Event()
        self._flush_lock = asyncio.Lock()
        #: Rows leased and not yet recorded; at most ``lease_batch`` (the duplicate bound).
        self._held = 0
        self._slots: asyncio.Semaphore | None = None
        self._pause_until = 0.0
        self._stopping = False
        self._halted = False
        self.stats = _Stats()

    # ------------------------------------------------------------------ lifecycle

    @property
    def running(self) -> bool:
        """Whether the send loop is running."""
        return self._task is not None and not self._task.done()

    @property
    def halted(self) -> bool:
        """Whether sending stopped for good after an invalid token or a conflict (T-44)."""
        return self._halted

    def wake(self) -> None:
        """Look for due rows now (after an enqueue, a clock change, housekeeping)."""
        self._wakeup.set()

    async def recover(self, *, at_startup: bool = False) -> int:
        """Return leases to the queue: all of them at start-up, else only expired ones."""
        count = await self._store.recover_leases(self._clock.now(), all_leases=at_startup)
        if count:
            _LOGGER.warning("Outbox: %d leased row(s) returned to the queue", count)
        return count

    async def start(self, notifier: Notifier, pacer: Pacer) -> None:
        """Recover leases left by a crash (R-12), then run the send loop as a task."""
        if self.running:
            raise RuntimeError("the outbox sender is already running")
        await self.recover(at_startup=True)
        self._notifier = notifier
        self._pacer = pacer
        self._stopping = False
        self._halted = False
        self._pause_until = 0.0
        self._slots = asyncio.Semaphore(self.config.in_flight)
        self._results_ready = asyncio.Event()
        self._progress = asyncio.Event()
        self._held = 0
        self._flusher = asyncio.create_task(self._flush_loop(), name="outbox-recorder")
        self._task = asyncio.create_task(self._run(), name="outbox-sender")
        _LOGGER.info(
            "Outbox sender started (rate %s msg/s, %d rows per lease)",
            self.config.rate or "unlimited",
            self.config.lease_batch,
        )

    async def stop(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - bounded shutdown
        """Stop leasing, let in-flight sends finish (at most ``timeout`` s), record them.

        Rows still leased but not started go back to ``queued``; sends cut off by the timeout
        stay ``sending`` and are requeued at the next start (at-least-once).
        """
        self._stopping = True
        self._wakeup.set()
        task, flusher = self._task, self._flusher
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout)
            except TimeoutError:
                _LOGGER.warning("Outbox sender: in-flight sends did not finish in %.0f s", timeout)
                for pending in list(self._in_flight):
                    pending.cancel()
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if flusher is not None:
            flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await flusher
        self._task = self._flusher = None

    async def wait_stopped(self) -> None:
        """Wait until the loop ended by itself (after STOP_ALL); for tests and supervisors."""
        if self._task is not None:
            await asyncio.shield(self._task)

    # ------------------------------------------------------------------ housekeeping

    async def housekeeping(self) -> None:
        """Periodic tick: recover expired leases, expire old rows, warn on backlog, wake."""
        now = self._clock.now()
        await self.recover()
        expired = await self._store.expire_due(now)
        for kind, count in expired.items():
            if kind is OutboxKind.DELETION:
                _LOGGER.warning("Outbox: %d deletion(s) expired before they could run", count)
            else:
                _LOGGER.warning("Outbox: %d %s row(s) expired unsent", count, kind)
        oldest = await self._store.oldest_due(now)
        if oldest is not None and now - oldest > self.config.backlog_warning:
            _LOGGER.warning(
                "Outbox backlog: the oldest due row has waited %d s",
                int((now - oldest).total_seconds()),
            )
        self.wake()

    # ------------------------------------------------------------------ the loop

    def _now_mono(self) -> float:
        if self._monotonic is not None:
            return self._monotonic()
        return asyncio.get_running_loop().time()

    def _paused_for(self) -> float:
        return self._pause_until - self._now_mono()

    async def _run(self) -> None:
        slots = self._slots
        assert slots is not None  # noqa: S101 - set by start()
        try:
            while not self._stopping and not self._halted:
                pause = self._paused_for()
                if pause > 0:
                    await self._release_pending()
                    await self._sleep(pause, wake_on_enqueue=False)
                    continue
                if not self._pending:
                    progress = self._progress
                    room = self.config.lease_batch - self._held
                    if room <= 0:  # the duplicate bound: never hold more than one batch
                        await self._wait_progress(progress)
                        continue
                    await self._fill(room)
                    if not self._pending:
                        await self._sleep(self.config.idle_poll, wake_on_enqueue=True)
                    continue
                await slots.acquire()
                if self._stopping or self._halted or self._paused_for() > 0:
                    slots.release()
                    continue
                row, recipient = self._pending.popleft()
                task = asyncio.create_task(self._attempt(row, recipient, slots))
                self._in_flight.add(task)
                task.add_done_callback(self._in_flight.discard)
        finally:
            await self._drain()

    async def _sleep(self, seconds: float, *, wake_on_enqueue: bool) -> None:
        """Wait ``seconds``; an enqueue cuts it short only when idle (never during a 429)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self._stopping and not self._halted:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            await _wait_event(self._wakeup, remaining)
            if self._stopping:
                return
            if wake_on_enqueue:
                return
            self._wakeup.clear()

    async def _wait_progress(self, progress: asyncio.Event) -> None:
        """Wait until a batch of results was recorded (or ``idle_poll`` passed)."""
        await _wait_event(progress, self.config.idle_poll)

    def _pulse_progress(self) -> None:
        self._progress.set()
        self._progress = asyncio.Event()

    def progress_event(self) -> asyncio.Event:
        """An event set when the next batch of results is recorded (or rows released).

        Capture it *before* checking a condition, then wait on it: no pulse can be missed.
        """
        return self._progress

    async def _fill(self, limit: int) -> None:
        """Lease up to ``limit`` due rows and resolve their recipients (one query each)."""
        self._wakeup.clear()
        now = self._clock.now()
        rows = await self._store.lease(now, limit, now + self.config.lease_for)
        if not rows:
            return
        self._held += len(rows)
        recipients = await self._recipients.resolve({row.member_id for row in rows})
        for row in rows:
            self._pending.append((row, recipients.get(row.member_id)))

    async def _release_pending(self) -> None:
        """Give unstarted leased rows back (a long pause must not let their leases lapse)."""
        if not self._pending:
            return
        rows = [row for row, _ in self._pending]
        self._pending.clear()
        now = self._clock.now()
        updates = [_requeue(row, now, None) for row in rows]
        async with self._uow.transaction():
            await self._store.finish(updates, now)
        self._held -= len(rows)
        self._pulse_progress()

    async def _drain(self) -> None:
        """On the way out: finish in-flight sends, release the rest, record everything."""
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        try:
            await self._release_pending()
        except Exception:  # the rows stay leased and are recovered at the next start
            _LOGGER.exception("Outbox: could not release leased rows on stop")
        await self._flush()

    # ------------------------------------------------------------------ one attempt

    async def _attempt(
        self, row: LeasedRow, recipient: Recipient | None, slots: asyncio.Semaphore
    ) -> None:
        try:
            done = await self._try_send(row, recipient)
        except Exception as exc:  # a bug must not kill the loop or lose the row
            _LOGGER.error(  # noqa: TRY400 - the traceback could carry message content
                "Outbox row %d: unexpected %s while sending", row.id, type(exc).__name__
            )
            result = SendResult(Outcome.TRANSIENT, error_code=type(exc).__name__)
            done = _Done(row, self._decide(row, result), result.outcome)
        finally:
            slots.release()
        self._results.append(done)
        self._results_ready.set()

    async def _try_send(self, row: LeasedRow, recipient: Recipient | None) -> _Done:
        deleting = row.template == DeleteMessages.TEMPLATE
        notice: Notice | None = None
        problem = "undecryptable"
        if row.params is not None:
            try:
                notice = decode_notice(row.template, row.params)
            except UnknownNotice:
                problem = "unknown_template"
            except NoticeError:
                problem = "bad_params"
        menu = isinstance(notice, ChatMenu)
        if is_wipe(row) and isinstance(notice, DeleteMessages | ChatMenu):
            # The member is unlinked already: the wipe's row names its chat (issue #11.1).
            chat_id = notice.chat
            recipient = Recipient(chat_id, Lang.ES) if chat_id is not None else None
        # A suspended member's menu follows a role change too: it is what they find when
        # reactivated (the chat path sets it whatever the state).
        if recipient is None or (not (deleting or menu) and not recipient.active):
            return _Done(row, _final(row, OutboxStatus.CANCELLED, "no_recipient"))
        if recipient.blocked and not deleting:
            return _Done(row, _final(row, OutboxStatus.BLOCKED, "member_blocked"))
        if notice is None:
            # Fail closed: never sent with missing or guessed content. The reason names the
            # template and field only, never a value.
            _LOGGER.error("Outbox row %d (%s) dead: %s", row.id, row.template, problem)
            return _Done(row, _final(row, OutboxStatus.DEAD, problem, attempt=True))
        notifier, pacer = self._notifier, self._pacer
        # Attempts are created only by the loop, which start() runs after binding both.
        assert notifier is not None  # noqa: S101 - set by start()
        assert pacer is not None  # noqa: S101 - set by start()
        await pacer.acquire(None if deleting else recipient.chat_id, int(KIND_PRIORITY[row.kind]))
        if self._halted or self._paused_for() > 0:
            # A 429 or a stop arrived while this one waited for its slot: do not send.
            return _Done(row, _requeue(row, self._clock.now(), None))
        self.stats.attempts += 1
        if isinstance(notice, DeleteMessages):
            result = await notifier.delete(recipient.chat_id, notice.message_ids)
        elif isinstance(notice, ChatMenu):
            result = await notifier.set_menu(recipient.chat_id, recipient.lang, notice)
        else:
            result = await notifier.send(recipient.chat_id, recipient.lang, notice)
        self._react(row, result)
        return _Done(row, self._decide(row, result), result.outcome, result.message_id)

    def _react(self, row: LeasedRow, result: SendResult) -> None:
        """Side effects on the loop itself: the global 429 pause and the emergency stop."""
        if result.outcome is Outcome.RATE_LIMITED:
            self.stats.rate_limited += 1
            wait = max(result.retry_after_s or 1.0, 0.0)
            wait += self._rng.uniform(0.0, self.config.pause_jitter)
            until = self._now_mono() + wait
            if until > self._pause_until:
                self._pause_until = until
                _LOGGER.warning("Outbox: Telegram asked to slow down; pausing %.1f s", wait)
        elif result.outcome is Outcome.STOP_ALL and not self._halted:
            self._halted = True
            self._wakeup.set()
            _LOGGER.critical(
                "Outbox sending STOPPED: Telegram answered %s. The bot token may be revoked or"
                " compromised, or another instance is running: check @BotFather (/revoke) and"
                " the hosts before restarting",
                result.error_code or "an authorisation error",
            )

    def _decide(self, row: LeasedRow, result: SendResult) -> RowUpdate:
        """The R-02/R-04 state machine: the row's next state after one Telegram answer."""
        now = self._clock.now()
        outcome = result.outcome
        if outcome is Outcome.SENT:
            return RowUpdate(
                row.id,
                row.lease_until,
                OutboxStatus.SENT,
                row.attempts + 1,
                message_id=result.message_id,
                sent_at=now,
            )
        if outcome is Outcome.GONE:  # the user already cleared it: done (T-20)
            return RowUpdate(
                row.id, row.lease_until, OutboxStatus.SENT, row.attempts + 1, error_code="gone"
            )
        if outcome is Outcome.TOO_OLD:  # Telegram's 48 h window passed: final (T-19)
            # (a batch is retried id by id in ``_record``: only some may be too old)
            _LOGGER.warning("Outbox row %d: deletion missed Telegram's 48 h window", row.id)
            return _final(row, OutboxStatus.EXPIRED, "missed_window", attempt=True)
        if outcome in {Outcome.RATE_LIMITED, Outcome.STOP_ALL}:  # no attempt spent
            return _requeue(row, now, result.error_code)
        if outcome is Outcome.BLOCKED:
            return _final(row, OutboxStatus.BLOCKED, result.error_code, attempt=True)
        if outcome is Outcome.PERMANENT:
            self._log_dead(row, result.error_code)
            return _final(row, OutboxStatus.DEAD, result.error_code, attempt=True)
        failures = row.attempts + 1  # TRANSIENT
        # A deletion is retried until Telegram's window closes (the row's expiry), not
        # given up after five failures: a message left behind stays on a seized phone
        # (issue #11.1). The backoff tops out at an hour.
        if row.kind is not OutboxKind.DELETION and failures >= MAX_ATTEMPTS:
            self._log_dead(row, result.error_code)
            return _final(row, OutboxStatus.DEAD, result.error_code, attempt=True)
        return RowUpdate(
            row.id,
            row.lease_until,
            OutboxStatus.ERRORED,
            failures,
            next_attempt_at=now + backoff_delay(failures, self._rng),
            error_code=result.error_code,
        )

    @staticmethod
    def _log_dead(row: LeasedRow, code: str | None) -> None:
        if row.kind in {OutboxKind.ALERT, OutboxKind.HELP}:
            _LOGGER.error(
                "SAFETY message dead: outbox row %d (%s) failed with %s; a human must follow up",
                row.id,
                row.kind,
                code,
            )
        else:
            _LOGGER.warning("Outbox row %d (%s) dead: %s", row.id, row.kind, code)

    # ------------------------------------------------------------------ recording

    async def _flush_loop(self) -> None:
        while True:
            await self._results_ready.wait()
            self._results_ready.clear()
            try:
                await self._flush()
            except Exception as exc:
                # Kept in the buffer; retried on the next result or at stop. Until then the
                # rows stay leased (worst case: recovered and sent again, at-least-once).
                _LOGGER.error(  # noqa: TRY400 - no content in the traceback wanted
                    "Outbox: recording results failed (%s); will retry", type(exc).__name__
                )
                await asyncio.sleep(0.5)
                self._results_ready.set()

    async def _flush(self) -> None:
        """Record every buffered result and its follow-ups in one transaction.

        Serialised by a lock, so the final flush at stop also waits for one in progress.
        """
        async with self._flush_lock:
            if not self._results:
                return
            batch, self._results = self._results, []
            try:
                await self._record(batch)
            except BaseException:
                self._results[:0] = batch
                raise

    async def _record(self, batch: Sequence[_Done]) -> None:
        now = self._clock.now()
        async with self._uow.transaction():
            applied = await self._store.finish([done.update for done in batch], now)
            deletions: list[OutboxMessage] = []
            blocked: list[int] = []
            for done in batch:
                if done.row.id not in applied:
                    continue
                if done.outcome is Outcome.SENT:
                    self.stats.sent += 1
                    if done.row.delete_after is not None and done.message_id is not None:
                        deletions.extend(
                            deletion_messages(
                                done.row.member_id,
                                [done.message_id],
                                now + done.row.delete_after,
                            )
                        )
                elif done.outcome is Outcome.TOO_OLD:
                    deletions.extend(split_deletion(done.row))
                elif (
                    done.outcome is Outcome.BLOCKED
                    and not is_wipe(done.row)  # an unlinked member: nobody to flag
                    and done.row.member_id not in blocked
                ):
                    blocked.append(done.row.member_id)
            if deletions:
                await self._uow.outbox.enqueue_many(deletions)
            for member_id in blocked:
                await self._member_blocked(member_id, now)
        self._held -= len(batch)
        self._pulse_progress()
        self.stats.recorded_batches += 1

    async def _member_blocked(self, member_id: int, now: datetime) -> None:
        """R-06: the one blocked-member flow, shared with ``my_chat_member`` notices."""
        member = await self._uow.members.get(member_id)
        if member is not None:
            await mark_blocked(self._uow.members, self._uow.outbox, member, now)


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set or ``seconds`` have passed, whichever comes first.

    Uses ``asyncio.wait`` rather than ``asyncio.timeout``: the deadline then resolves a
    future instead of throwing ``CancelledError`` into the send loop's coroutines. CPython
    3.11 drops the trace event of a frame resumed by a throw (cpython#106749), so with
    ``asyncio.timeout`` every line the loop ran after its first idle timeout was invisible
    to coverage, and the branch gate depended on timing. Only the helper task waiting on
    the event is cancelled here.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait((waiter,), timeout=seconds)
    finally:
        waiter.cancel()


def _final(
    row: LeasedRow, status: OutboxStatus, code: str | None, *, attempt: bool = False
) -> RowUpdate:
    """A final state; ``attempt`` counts a Telegram call that was made."""
    return RowUpdate(
        row.id, row.lease_until, status, row.attempts + (1 if attempt else 0), error_code=code
    )


def _requeue(row: LeasedRow, now: datetime, code: str | None) -> RowUpdate:
    """Back to ``queued``, due now, no attempt spent (429, stop, release)."""
    return RowUpdate(
        row.id,
        row.lease_until,
        OutboxStatus.QUEUED,
        row.attempts,
        next_attempt_at=now,
        error_code=code,
    )


@dataclass(frozen=True, slots=True)
class OutboxReport:
    """The admin view of the outbox (``chaski outbox status``)."""

    counts: Mapping[tuple[OutboxStatus, OutboxKind], int] = field(default_factory=dict)
    oldest_waiting_age_s: int | None = None

    def by_status(self) -> dict[str, int]:
        """Totals per status, every status present (zero when none)."""
        totals = {str(status): 0 for status in OutboxStatus}
        for (status, _), count in self.counts.items():
            totals[str(status)] += count
        return totals


@dataclass(frozen=True, slots=True)
class OutboxAdmin:
    """Dead letters and queue health for administrators (CLI for now, R-05, R-13)."""

    store: OutboxStore
    clock: Clock

    async def status(self) -> OutboxReport:
        """Counts by status and kind, and the age of the oldest waiting row in seconds."""
        counts = await self.store.counts()
        age = None
        if counts.oldest_waiting_at is not None:
            age = max(0, int((self.clock.now() - counts.oldest_waiting_at).total_seconds()))
        return OutboxReport(dict(counts.by_status_kind), age)

    async def retry_dead(self) -> int:
        """Requeue every dead row with its attempts reset; returns how many."""
        count = await self.store.retry_dead(self.clock.now())
        if count:
            _LOGGER.warning("Outbox: %d dead row(s) requeued by an administrator", count)
        return count
