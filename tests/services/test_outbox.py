"""The outbox sender's state machine (R-02..R-07) against in-memory fakes of its ports."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.domain.models import Lang, MemberState, Role
from bot.domain.notices import ChatMenu, DeleteMessages, MemberBlocked, Notice, NoticeError
from bot.domain.outbox import (
    FINAL_STATUSES,
    KIND_PRIORITY,
    LeasedRow,
    OutboxCounts,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    Outcome,
    Recipient,
    RowUpdate,
    SendResult,
    default_expiry,
)
from bot.services.outbox import (
    BACKOFF,
    MAX_ATTEMPTS,
    OutboxAdmin,
    OutboxDeletions,
    OutboxSender,
    SenderConfig,
    backoff_delay,
    deletion_messages,
    parse_message_ids,
    split_deletion,
    wipe_messages,
)
from tests.services.fakes import (
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryMembers,
    make_member,
    raw_notice,
)

DELETE_TEMPLATE = DeleteMessages.TEMPLATE
MEMBER_BLOCKED_TEMPLATE = MemberBlocked.TEMPLATE

# ---------------------------------------------------------------------- fakes of the ports


@dataclass(slots=True)
class Row:
    """One stored row of the fake outbox."""

    id: int
    message: OutboxMessage
    status: OutboxStatus = OutboxStatus.QUEUED
    attempts: int = 0
    next_attempt_at: datetime = T0
    lease_until: datetime | None = None
    error: str | None = None
    message_id: int | None = None
    params_broken: bool = False


class StoreDown(Exception):
    """The database failing under the sender (disk full, I/O error)."""


def _any_updates(updates: Sequence[RowUpdate]) -> bool:
    return True


@dataclass(slots=True)
class InMemoryOutboxStore:
    """``Outbox`` and ``OutboxStore`` over a dict, with the SQL semantics of storage.outbox.

    The sender's store (leases, attempts, retries): more than the plain ``Outbox`` the other
    service tests need (``tests/fakes/outbox.py``), and used by this module only.
    """

    clock: FakeClock
    rows: dict[int, Row] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    on_enqueue: Callable[[], None] | None = None
    #: ``finish`` raises StoreDown for the next ``finish_failures`` calls matching ``fail_if``.
    finish_failures: int = 0
    fail_if: Callable[[Sequence[RowUpdate]], bool] = _any_updates
    #: When set, ``lease`` signals ``leasing`` and waits for this gate (a slow query).
    lease_gate: asyncio.Event | None = None
    leasing: asyncio.Event = field(default_factory=asyncio.Event)

    def _pulse(self) -> None:
        self.changed.set()
        self.changed = asyncio.Event()

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 3.0) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not predicate():
                await self.changed.wait()

    def by_key(self, key: str) -> Row:
        return next(row for row in self.rows.values() if row.message.idempotency_key == key)

    def of_template(self, template: str) -> list[Row]:
        return [row for row in self.rows.values() if row.message.template == template]

    def all_final(self) -> bool:
        return all(row.status in FINAL_STATUSES for row in self.rows.values())

    # Outbox
    async def enqueue(self, message: OutboxMessage) -> bool:
        return await self.enqueue_many([message]) == 1

    async def enqueue_at_commit(self, messages: Sequence[OutboxMessage]) -> None:
        """No transactions here: the rows are added at once."""
        await self.enqueue_many(messages)

    async def enqueue_many(self, messages: Sequence[OutboxMessage]) -> int:
        keys = {row.message.idempotency_key for row in self.rows.values()}
        added = 0
        now = self.clock.now()
        for message in messages:
            if message.idempotency_key in keys:
                continue
            row_id = len(self.rows) + 1
            due = max(now, message.not_before) if message.not_before else now
            self.rows[row_id] = Row(row_id, message, next_attempt_at=due)
            keys.add(message.idempotency_key)
            added += 1
        if added and self.on_enqueue:
            self.on_enqueue()
        self._pulse()
        return added

    async def cancel_for_member(self, member_id: int) -> int:
        count = 0
        for row in self.rows.values():
            waiting = row.status in {OutboxStatus.QUEUED, OutboxStatus.ERRORED}
            if row.message.member_id == member_id and waiting:
                row.status = OutboxStatus.CANCELLED
                count += 1
        return count

    # OutboxStore
    async def lease(self, now: datetime, limit: int, lease_until: datetime) -> list[LeasedRow]:
        if self.lease_gate is not None:
            self.leasing.set()
            await self.lease_gate.wait()
        due = sorted(
            (
                row
                for row in self.rows.values()
                if row.status in {OutboxStatus.QUEUED, OutboxStatus.ERRORED}
                and row.next_attempt_at <= now
                and default_expiry(row.message, T0) > now
            ),
            key=lambda row: (KIND_PRIORITY[row.message.kind], row.id),
        )[:limit]
        leased = []
        for row in due:
            row.status = OutboxStatus.SENDING
            row.lease_until = lease_until
            message = row.message
            leased.append(
                LeasedRow(
                    id=row.id,
                    kind=message.kind,
                    member_id=message.member_id,
                    template=message.template,
                    params=None if row.params_broken else dict(message.params),
                    attempts=row.attempts,
                    lease_until=lease_until,
                    correlation=message.correlation,
                    delete_after=message.delete_after,
                )
            )
        return leased

    async def finish(self, updates: Sequence[RowUpdate], now: datetime) -> set[int]:
        if self.finish_failures and self.fail_if(updates):
            self.finish_failures -= 1
            raise StoreDown("disk I/O error")
        applied = set()
        for update in updates:
            row = self.rows[update.row_id]
            if row.status is not OutboxStatus.SENDING or row.lease_until != update.lease_until:
                continue
            row.status = update.status
            row.attempts = update.attempts
            row.lease_until = None
            row.error = update.error_code
            if update.next_attempt_at is not None:
                row.next_attempt_at = update.next_attempt_at
            if update.message_id is not None:
                row.message_id = update.message_id
            applied.add(update.row_id)
        self._pulse()
        return applied

    async def recover_leases(self, now: datetime, *, all_leases: bool = False) -> int:
        count = 0
        for row in self.rows.values():
            if row.status is OutboxStatus.SENDING and (
                all_leases or (row.lease_until is not None and row.lease_until <= now)
            ):
                row.status = OutboxStatus.QUEUED
                row.lease_until = None
                count += 1
        return count

    async def expire_due(self, now: datetime) -> Mapping[OutboxKind, int]:
        counts: dict[OutboxKind, int] = {}
        for row in self.rows.values():
            waiting = row.status in {OutboxStatus.QUEUED, OutboxStatus.ERRORED}
            if waiting and default_expiry(row.message, T0) <= now:
                row.status = OutboxStatus.EXPIRED
                counts[row.message.kind] = counts.get(row.message.kind, 0) + 1
        return counts

    async def oldest_due(self, now: datetime) -> datetime | None:
        waiting = [
            row
            for row in self.rows.values()
            if row.status in {OutboxStatus.QUEUED, OutboxStatus.ERRORED}
            and row.next_attempt_at <= now
        ]
        return T0 if waiting else None

    async def counts(self) -> OutboxCounts:
        counts: dict[tuple[OutboxStatus, OutboxKind], int] = {}
        for row in self.rows.values():
            key = (row.status, row.message.kind)
            counts[key] = counts.get(key, 0) + 1
        waiting = any(
            row.status in {OutboxStatus.QUEUED, OutboxStatus.ERRORED} for row in self.rows.values()
        )
        return OutboxCounts(counts, T0 if waiting else None)

    async def retry_dead(self, now: datetime) -> int:
        count = 0
        for row in self.rows.values():
            if row.status is OutboxStatus.DEAD:
                row.status, row.attempts, row.next_attempt_at = OutboxStatus.QUEUED, 0, now
                count += 1
        return count


@dataclass(slots=True)
class Directory:
    """``RecipientDirectory`` from the in-memory members (chat id = 1000 + member id)."""

    members: InMemoryMembers

    async def resolve(self, member_ids: Collection[int]) -> Mapping[int, Recipient]:
        found = {}
        for member_id in member_ids:
            member = self.members.members.get(member_id)
            if member is None or not member.telegram_linked:
                continue
            found[member_id] = Recipient(
                chat_id=1000 + member_id,
                lang=member.lang,
                active=member.state is MemberState.ACTIVE,
                blocked=member.blocked,
            )
        return found


@dataclass(frozen=True, slots=True)
class Sent:
    """One notifier call as the fake saw it."""

    method: str
    chat_id: int
    template: str
    at: float
    ids: tuple[int, ...] = ()


@dataclass(slots=True)
class ScriptedNotifier:
    """``Notifier`` answering from per-chat scripts (default: SENT with a fresh message id)."""

    scripts: dict[int, list[SendResult]] = field(default_factory=dict)
    calls: list[Sent] = field(default_factory=list)
    next_id: int = 100

    def script(self, chat_id: int, *results: SendResult) -> None:
        self.scripts.setdefault(chat_id, []).extend(results)

    def _answer(self, chat_id: int) -> SendResult | None:
        queue = self.scripts.get(chat_id)
        return queue.pop(0) if queue else None

    async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
        self.calls.append(
            Sent("send", chat_id, notice.TEMPLATE, asyncio.get_running_loop().time())
        )
        answer = self._answer(chat_id)
        if answer is not None:
            return answer
        self.next_id += 1
        return SendResult(Outcome.SENT, message_id=self.next_id)

    async def delete(self, chat_id: int, message_ids: Sequence[int]) -> SendResult:
        self.calls.append(Sent("delete", chat_id, DELETE_TEMPLATE, 0.0, tuple(message_ids)))
        return self._answer(chat_id) or SendResult(Outcome.SENT)

    async def set_menu(self, chat_id: int, lang: Lang, menu: ChatMenu) -> SendResult:
        self.calls.append(Sent("menu", chat_id, menu.TEMPLATE, 0.0))
        return self._answer(chat_id) or SendResult(Outcome.SENT)


@dataclass(slots=True)
class GatedNotifier(ScriptedNotifier):
    """Holds its first ``hold`` sends in flight until ``gate`` opens (never, if nobody opens it).

    A held send is only recorded in ``calls`` once it goes through; a cancelled one is counted.
    """

    gate: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set by the first held send; ``all_held`` once ``hold`` sends are waiting.
    entered: asyncio.Event = field(default_factory=asyncio.Event)
    all_held: asyncio.Event = field(default_factory=asyncio.Event)
    hold: int = 1
    cancelled: int = 0

    async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
        if self.hold > 0:
            self.hold -= 1
            self.entered.set()
            if self.hold == 0:
                self.all_held.set()
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return await ScriptedNotifier.send(self, chat_id, lang, notice)


@dataclass(slots=True)
class CountingPacer:
    """``Pacer`` that never waits; counts global and per-chat acquisitions."""

    chats: list[int | None] = field(default_factory=list)

    async def acquire(self, chat_id: int | None, rank: int = 0) -> None:
        self.chats.append(chat_id)


@dataclass(slots=True)
class Harness:
    """The sender wired to fakes, plus helpers to seed and run it."""

    clock: FakeClock
    members: InMemoryMembers
    outbox: InMemoryOutboxStore
    notifier: ScriptedNotifier
    pacer: CountingPacer
    sender: OutboxSender

    def member(self, member_id: int, **kwargs: Any) -> int:
        self.members.add(make_member(member_id, **kwargs), telegram_id=1000 + member_id)
        return member_id

    async def enqueue(self, key: str, member_id: int, **kwargs: Any) -> Row:
        fields: dict[str, Any] = {"kind": OutboxKind.ALERT} | kwargs
        if "notice" not in fields:
            fields["notice"] = raw_notice(
                fields.pop("template", "news"), fields.pop("params", None)
            )
        await self.outbox.enqueue(
            OutboxMessage(idempotency_key=key, member_id=member_id, **fields)
        )
        return self.outbox.by_key(key)

    async def start(self) -> None:
        await self.sender.start(self.notifier, self.pacer)

    async def settle(self, predicate: Callable[[], bool] | None = None) -> None:
        """Wake the sender and wait until ``predicate`` (default: every row final)."""
        self.sender.wake()
        await self.outbox.wait_for(predicate or self.outbox.all_final)


@pytest.fixture
async def h() -> Harness:
    clock = FakeClock(T0)
    members = InMemoryMembers()
    outbox = InMemoryOutboxStore(clock)
    wakeup = asyncio.Event()
    outbox.on_enqueue = wakeup.set
    sender = OutboxSender(
        uow=FakeUnitOfWork(outbox=outbox, members=members),
        store=outbox,
        recipients=Directory(members),
        clock=clock,
        config=SenderConfig(rate=None, batch_size=10, idle_poll=0.05, pause_jitter=0.0),
        wakeup=wakeup,
        rng=random.Random(7),
    )
    return Harness(clock, members, outbox, ScriptedNotifier(), CountingPacer(), sender)


@pytest.fixture(autouse=True)
async def _stop_sender(h: Harness) -> AsyncIterator[None]:
    yield
    await h.sender.stop(2.0)


# ---------------------------------------------------------------------- happy path, priority


async def test_sends_by_priority_and_records_the_message_id(h: Harness) -> None:
    one = h.member(1)
    rem = await h.enqueue("rem", one, kind=OutboxKind.REMINDER)
    alert = await h.enqueue("alert", one, kind=OutboxKind.ALERT)
    note = await h.enqueue("note", one, kind=OutboxKind.NOTIFICATION)

    await h.start()
    await h.settle()

    assert [c.template for c in h.notifier.calls] == ["news"] * 3
    assert [r.status for r in (alert, note, rem)] == [OutboxStatus.SENT] * 3
    ids = [r.message_id or 0 for r in (alert, note, rem)]
    assert ids == sorted(ids)  # alert first, then the notification, reminder last
    assert alert.attempts == 1
    assert h.pacer.chats == [1001, 1001, 1001]  # each send waited for the chat's slot


async def test_enqueue_wakes_an_idle_sender(h: Harness) -> None:
    one = h.member(1)
    h.sender.config = replace(h.sender.config, idle_poll=30.0)  # polling alone would be too slow
    await h.start()
    row = await h.enqueue("a", one)

    await h.outbox.wait_for(lambda: row.status is OutboxStatus.SENT, timeout=2.0)


async def test_sent_row_with_delete_after_schedules_its_deletion(h: Harness) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one, delete_after=timedelta(minutes=10))
    await h.start()
    await h.settle(lambda: row.status is OutboxStatus.SENT)

    (deletion,) = h.outbox.of_template(DELETE_TEMPLATE)
    assert deletion.message.idempotency_key == f"del:{one}:{row.message_id}"
    assert deletion.message.kind is OutboxKind.DELETION
    assert deletion.message.params == {"message_ids": str(row.message_id)}
    assert deletion.next_attempt_at == T0 + timedelta(minutes=10)
    assert [c.method for c in h.notifier.calls] == ["send"]  # not due yet

    h.clock.advance(timedelta(minutes=10))
    await h.settle()

    assert deletion.status is OutboxStatus.SENT
    expected = Sent("delete", 1001, DELETE_TEMPLATE, 0.0, (row.message_id or 0,))
    assert h.notifier.calls[-1] == expected
    assert h.pacer.chats[-1] is None  # deletions use only the global slot


# ---------------------------------------------------------------------- error classes


async def test_transient_failures_back_off_then_go_dead_after_five(h: Harness) -> None:
    one = h.member(1)
    h.notifier.script(1001, *[SendResult(Outcome.TRANSIENT, error_code="TimedOut")] * 5)
    row = await h.enqueue("a", one)
    await h.start()

    for failures in range(1, MAX_ATTEMPTS):
        await h.settle(lambda n=failures: row.attempts == n)  # type: ignore[misc]
        assert row.status is OutboxStatus.ERRORED
        delay = row.next_attempt_at - h.clock.now()
        base = BACKOFF[failures - 1]
        assert base * 0.8 <= delay <= base * 1.2
        h.clock.advance(delay)
    await h.settle()

    assert row.status is OutboxStatus.DEAD
    assert row.attempts == MAX_ATTEMPTS
    assert row.error == "TimedOut"
    assert len(h.notifier.calls) == 5


async def test_transient_then_success_is_sent(h: Harness) -> None:
    one = h.member(1)
    h.notifier.script(1001, SendResult(Outcome.TRANSIENT, error_code="NetworkError"))
    row = await h.enqueue("a", one)
    await h.start()
    await h.settle(lambda: row.status is OutboxStatus.ERRORED)

    h.clock.advance(BACKOFF[0] * 1.2)
    await h.settle()

    assert row.status is OutboxStatus.SENT
    assert row.attempts == 2


async def test_permanent_failure_is_dead_at_once_and_pages_for_alerts(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    h.notifier.script(1001, SendResult(Outcome.PERMANENT, error_code="too_long"))
    row = await h.enqueue("a", one, kind=OutboxKind.ALERT)
    await h.start()
    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        await h.settle()

    assert (row.status, row.attempts, row.error) == (OutboxStatus.DEAD, 1, "too_long")
    assert any("SAFETY message dead" in r.getMessage() for r in caplog.records)


async def test_rate_limit_pauses_all_sending_without_spending_attempts(h: Harness) -> None:
    ids = [h.member(n) for n in range(1, 6)]
    h.notifier.script(1001, SendResult(Outcome.RATE_LIMITED, retry_after_s=0.3, error_code="429"))
    h.sender.config = replace(h.sender.config, max_in_flight=1)  # one call at a time: ordered
    rows = [await h.enqueue(f"r{n}", n) for n in ids]
    await h.start()
    await h.settle()

    assert [r.status for r in rows] == [OutboxStatus.SENT] * 5
    assert [r.attempts for r in rows] == [1] * 5  # the 429 did not count
    first, second = h.notifier.calls[0], h.notifier.calls[1]
    assert first.chat_id == 1001
    assert second.at - first.at >= 0.3  # nobody was sent to during the pause
    assert len(h.notifier.calls) == 6
    assert h.sender.stats.rate_limited == 1


async def test_blocked_member_cancels_their_queue_and_tells_coordinators_once(
    h: Harness,
) -> None:
    informant = h.member(1, codename="Cóndor-7")
    coord = h.member(2, role=Role.COORDINATOR, codename="Jefe")
    h.member(3, role=Role.COORDINATOR, regions=("Llochegua",))  # another region: not told
    h.notifier.script(1001, SendResult(Outcome.BLOCKED, error_code="403"))
    first = await h.enqueue("a", informant, kind=OutboxKind.ALERT)
    # Due only after the block is known (rows already leased would be tried and 403 too).
    later = await h.enqueue(
        "b", informant, kind=OutboxKind.REMINDER, not_before=T0 + timedelta(minutes=1)
    )
    await h.start()
    await h.settle(lambda: first.status is OutboxStatus.BLOCKED)
    h.clock.advance(timedelta(minutes=1))
    await h.settle()

    assert (first.status, first.error) == (OutboxStatus.BLOCKED, "403")
    assert later.status is OutboxStatus.CANCELLED
    member = h.members.members[informant]
    assert member.blocked is True
    (note,) = h.outbox.of_template(MEMBER_BLOCKED_TEMPLATE)
    assert note.message.member_id == coord
    assert note.message.params == {"codename": "Cóndor-7"}
    assert note.message.kind is OutboxKind.NOTIFICATION
    assert note.status is OutboxStatus.SENT

    # Another 403 for the same, still blocked member: no second note.
    await h.enqueue(
        "c",
        informant,
        kind=OutboxKind.DELETION,
        notice=raw_notice(DELETE_TEMPLATE, {"message_ids": "5"}),
    )
    h.notifier.script(1001, SendResult(Outcome.BLOCKED, error_code="403"))
    await h.settle()
    assert len(h.outbox.of_template(MEMBER_BLOCKED_TEMPLATE)) == 1


async def test_a_403_for_a_member_deleted_meanwhile_is_recorded_and_tells_nobody(
    h: Harness,
) -> None:
    informant = h.member(1)
    h.member(2, role=Role.COORDINATOR)
    h.notifier.script(1001, SendResult(Outcome.BLOCKED, error_code="403"))

    class VanishingNotifier(ScriptedNotifier):
        """Answers 403 after the member was purged (retention) while the send was in flight."""

        async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
            del h.members.members[informant]
            return await h.notifier.send(chat_id, lang, notice)

    row = await h.enqueue("a", informant, kind=OutboxKind.ALERT)
    await h.sender.start(VanishingNotifier(), h.pacer)
    await h.settle(lambda: row.status is OutboxStatus.BLOCKED)

    assert (row.status, row.error) == (OutboxStatus.BLOCKED, "403")
    assert h.outbox.of_template(MEMBER_BLOCKED_TEMPLATE) == []


async def test_rows_for_a_member_known_blocked_are_not_sent(h: Harness) -> None:
    one = h.member(1, blocked=True)
    row = await h.enqueue("a", one)
    await h.start()
    await h.settle()

    assert (row.status, row.error, row.attempts) == (OutboxStatus.BLOCKED, "member_blocked", 0)
    assert h.notifier.calls == []


async def test_invalid_token_stops_the_sender_without_retrying(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    h.sender.config = replace(h.sender.config, max_in_flight=1)
    h.notifier.script(1001, SendResult(Outcome.STOP_ALL, error_code="InvalidToken"))
    first = await h.enqueue("a", one)
    second = await h.enqueue("b", one)
    with caplog.at_level(logging.CRITICAL, logger="bot.services.outbox"):
        await h.start()
        await h.sender.wait_stopped()

    assert h.sender.halted
    assert len(h.notifier.calls) == 1
    assert (first.status, first.attempts) == (OutboxStatus.QUEUED, 0)
    assert second.status is OutboxStatus.QUEUED  # released, not lost
    assert any("compromised" in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- recipients, expiry


async def test_unlinked_or_suspended_recipients_are_cancelled_but_deletions_still_run(
    h: Harness,
) -> None:
    gone = h.member(1)
    await h.members.unlink(gone)
    paused = h.member(2, state=MemberState.SUSPENDED)
    a = await h.enqueue("a", gone)
    b = await h.enqueue("b", paused)
    d = await h.enqueue(
        "d",
        paused,
        kind=OutboxKind.DELETION,
        notice=raw_notice(DELETE_TEMPLATE, {"message_ids": "7,8"}),
    )
    await h.start()
    await h.settle()

    assert (a.status, a.error) == (OutboxStatus.CANCELLED, "no_recipient")
    assert b.status is OutboxStatus.CANCELLED
    assert d.status is OutboxStatus.SENT
    assert [(c.method, c.ids) for c in h.notifier.calls] == [("delete", (7, 8))]


async def test_housekeeping_expires_old_rows_instead_of_sending_them(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    rem = await h.enqueue("rem", one, kind=OutboxKind.REMINDER)
    dele = await h.enqueue(
        "del",
        one,
        kind=OutboxKind.DELETION,
        notice=raw_notice(DELETE_TEMPLATE, {"message_ids": "3"}),
        not_before=T0 + timedelta(hours=50),
    )
    h.clock.advance(timedelta(hours=48))
    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        await h.sender.housekeeping()

    assert rem.status is OutboxStatus.EXPIRED
    assert dele.status is OutboxStatus.EXPIRED
    assert any("deletion(s) expired" in r.getMessage() for r in caplog.records)
    await h.start()
    await h.settle()
    assert h.notifier.calls == []


async def test_deletion_target_gone_counts_as_done_and_too_old_is_final(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.member(1)
    h.member(2)
    h.notifier.script(1001, SendResult(Outcome.GONE, error_code="gone"))
    h.notifier.script(1002, SendResult(Outcome.TOO_OLD, error_code="missed_window"))
    gone = await h.enqueue(
        "g", 1, kind=OutboxKind.DELETION, template=DELETE_TEMPLATE, params={"message_ids": "4"}
    )
    old = await h.enqueue(
        "o", 2, kind=OutboxKind.DELETION, template=DELETE_TEMPLATE, params={"message_ids": "9"}
    )
    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        await h.start()
        await h.settle()

    assert (gone.status, gone.error) == (OutboxStatus.SENT, "gone")
    assert (old.status, old.error) == (OutboxStatus.EXPIRED, "missed_window")
    assert len(h.notifier.calls) == 2  # no retry of either
    assert any("48 h window" in r.getMessage() for r in caplog.records)


async def test_undecryptable_or_malformed_rows_are_dead_not_sent(h: Harness) -> None:
    one = h.member(1)
    broken = await h.enqueue("a", one)
    broken.params_broken = True
    bad = await h.enqueue(
        "d", one, kind=OutboxKind.DELETION, template=DELETE_TEMPLATE, params={"message_ids": "x"}
    )
    await h.start()
    await h.settle()

    assert (broken.status, broken.error) == (OutboxStatus.DEAD, "undecryptable")
    assert (bad.status, bad.error) == (OutboxStatus.DEAD, "bad_params")
    assert h.notifier.calls == []


async def test_a_notice_that_does_not_read_back_is_dead_never_sent_with_a_guess(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #10.1: a help escalation without its names, or a tally without its counts, was
    rendered with "?" and zeros; a kind this version does not know waited for a renderer
    until send time. Now each is dead at once, logged by template and field, never sent."""
    one = h.member(1)
    nameless = await h.enqueue("h", one, template="alert_help", params={"alert": "4"})
    countless = await h.enqueue(
        "t", one, template="alert_tally", params={"alert": "4", "message_id": "9"}
    )
    unknown = await h.enqueue("u", one, template="claim_changed", params={"codename": "Puma"})
    fine = await h.enqueue("n", one, template="news")
    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        await h.start()
        await h.settle()

    assert (nameless.status, nameless.error) == (OutboxStatus.DEAD, "bad_params")
    assert (countless.status, countless.error) == (OutboxStatus.DEAD, "bad_params")
    assert (unknown.status, unknown.error) == (OutboxStatus.DEAD, "unknown_template")
    assert fine.status is OutboxStatus.SENT
    assert [c.template for c in h.notifier.calls] == ["news"]
    assert "alert_help" in caplog.text
    assert "Puma" not in caplog.text


# ---------------------------------------------------------------------- crash and stop


async def test_start_recovers_rows_left_sending_by_a_crash(h: Harness) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one)
    await h.outbox.lease(T0, 10, T0 + timedelta(hours=1))  # a crashed process's lease
    assert h.outbox.by_key("a").status is OutboxStatus.SENDING

    await h.start()
    await h.settle()

    assert row.status is OutboxStatus.SENT


async def test_periodic_recovery_only_takes_expired_leases(h: Harness) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one)
    await h.outbox.lease(T0, 10, T0 + timedelta(seconds=60))

    assert await h.sender.recover() == 0
    h.clock.advance(timedelta(seconds=61))
    assert await h.sender.recover() == 1
    assert row.status is OutboxStatus.QUEUED


async def test_stop_returns_unstarted_leased_rows_to_the_queue(h: Harness) -> None:
    ids = [h.member(n) for n in range(1, 4)]
    rows = [await h.enqueue(f"r{n}", n) for n in ids]
    gate = asyncio.Event()

    class SlowNotifier(ScriptedNotifier):
        async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
            gate.set()
            await asyncio.sleep(0)  # in flight while stop() begins
            return await ScriptedNotifier.send(self, chat_id, lang, notice)

    h.sender.config = replace(h.sender.config, max_in_flight=1)
    await h.sender.start(SlowNotifier(), h.pacer)
    await gate.wait()
    await h.sender.stop(2.0)

    statuses = [r.status for r in rows]
    assert OutboxStatus.SENDING not in statuses
    assert statuses[0] is OutboxStatus.SENT  # the in-flight one finished and was recorded
    assert OutboxStatus.QUEUED in statuses


# ---------------------------------------------------------------------- helpers and admin


def test_backoff_delay_stays_within_twenty_percent() -> None:
    rng = random.Random(1)
    for failures, base in enumerate(BACKOFF, start=1):
        for _ in range(50):
            assert base * 0.8 <= backoff_delay(failures, rng) <= base * 1.2
    assert backoff_delay(99, rng) <= BACKOFF[-1] * 1.2


def test_deletion_messages_chunk_by_one_hundred_and_dedupe() -> None:
    rows = deletion_messages(7, [*range(1, 151), 5], T0)

    assert [len(parse_message_ids(r.params) or []) for r in rows] == [100, 50]
    assert rows[0].idempotency_key.startswith("del:7:1-2-3")
    assert all(r.not_before == T0 and r.kind is OutboxKind.DELETION for r in rows)
    assert deletion_messages(7, [42], T0)[0].idempotency_key == "del:7:42"


@pytest.mark.parametrize("raw", ["", "a", "1,,2", "0", "-3", ",".join(["1"] * 101)])
def test_malformed_message_ids_are_refused(raw: str) -> None:
    assert parse_message_ids({"message_ids": raw}) is None


async def test_deletion_scheduler_writes_idempotent_rows(h: Harness) -> None:
    scheduler = OutboxDeletions(h.outbox)
    await scheduler.schedule_deletion(1, [10, 11], T0 + timedelta(minutes=10))
    await scheduler.schedule_deletion(1, [11, 10], T0 + timedelta(minutes=10))
    await scheduler.schedule_deletion(1, [], T0)

    (row,) = h.outbox.rows.values()
    assert row.message.params == {"message_ids": "10,11"}
    assert row.next_attempt_at == T0 + timedelta(minutes=10)


def test_default_expiry_counts_from_due_time_except_deletions() -> None:
    later = T0 + timedelta(hours=3)
    reminder = OutboxMessage("k", OutboxKind.REMINDER, 1, raw_notice("news"), not_before=later)
    deletion = OutboxMessage("d", OutboxKind.DELETION, 1, DeleteMessages((1,)), not_before=later)
    fixed = OutboxMessage("f", OutboxKind.ALERT, 1, raw_notice("news"), expires_at=T0)

    assert default_expiry(reminder, T0) == later + timedelta(hours=12)
    assert default_expiry(deletion, T0) == T0 + timedelta(hours=47)
    assert default_expiry(fixed, T0) == T0


async def test_admin_status_and_retry_dead(h: Harness) -> None:
    one = h.member(1)
    h.notifier.script(1001, SendResult(Outcome.PERMANENT, error_code="chat_not_found"))
    dead = await h.enqueue("a", one, kind=OutboxKind.NOTIFICATION)
    await h.start()
    await h.settle()
    admin = OutboxAdmin(h.outbox, h.clock)

    report = await admin.status()
    assert report.counts == {(OutboxStatus.DEAD, OutboxKind.NOTIFICATION): 1}
    assert report.by_status()["dead"] == 1
    assert report.oldest_waiting_age_s is None

    assert await admin.retry_dead() == 1
    await h.settle()
    assert (dead.status, dead.attempts) == (OutboxStatus.SENT, 1)


def test_config_derives_batch_and_concurrency_from_the_rate() -> None:
    assert SenderConfig(rate=25).lease_batch == 25
    assert SenderConfig(rate=25).in_flight == 25
    assert SenderConfig(rate=None).lease_batch == 256
    assert SenderConfig(rate=None).in_flight == 8
    assert SenderConfig(rate=None, batch_size=0, max_in_flight=0).in_flight == 1


# ---------------------------------------------------------------------- lifecycle edges


async def test_starting_a_running_sender_is_refused_and_it_keeps_sending(h: Harness) -> None:
    one = h.member(1)
    await h.start()

    with pytest.raises(RuntimeError, match="already running"):
        await h.start()

    assert h.sender.running
    row = await h.enqueue("a", one)
    await h.settle()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)
    assert len(h.notifier.calls) == 1  # one loop, not two racing over the same rows


async def test_waiting_for_a_sender_that_never_started_returns_at_once(h: Harness) -> None:
    async with asyncio.timeout(1.0):
        await h.sender.wait_stopped()

    assert not h.sender.running
    assert not h.sender.halted


async def test_stop_gives_up_on_a_stuck_send_and_the_row_is_sent_after_restart(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one)
    stuck = GatedNotifier()  # nobody opens the gate: Telegram never answers
    await h.sender.start(stuck, h.pacer)
    await stuck.entered.wait()

    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        async with asyncio.timeout(2.0):
            await h.sender.stop(0.1)

    assert not h.sender.running
    assert stuck.cancelled == 1  # the hanging call was cut off, not left dangling
    # Cut off before any answer: nothing recorded, the lease kept for the next start.
    assert (row.status, row.attempts) == (OutboxStatus.SENDING, 0)
    (record,) = [r for r in caplog.records if "did not finish" in r.getMessage()]
    assert record.levelno == logging.WARNING

    await h.start()  # at-least-once: the start-up recovery requeues it
    await h.settle()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 1)
    assert len(h.notifier.calls) == 1


async def test_stop_during_a_slow_lease_query_ends_the_loop_at_once(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    h.sender.config = replace(h.sender.config, idle_poll=30.0)  # an idle wait would hang stop
    h.outbox.lease_gate = asyncio.Event()
    await h.start()
    await h.outbox.leasing.wait()

    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        stopping = asyncio.create_task(h.sender.stop(5.0))
        h.outbox.lease_gate.set()  # the query returns (empty) after stop() began
        async with asyncio.timeout(2.0):
            await stopping

    assert not h.sender.running
    assert not [r for r in caplog.records if "did not finish" in r.getMessage()]


async def test_housekeeping_warns_once_the_oldest_due_row_waited_too_long(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1, codename="Kuntur-3")
    await h.enqueue("a", one, kind=OutboxKind.NOTIFICATION, params={"codename": "Kuntur-3"})

    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        h.clock.advance(timedelta(minutes=4))
        await h.sender.housekeeping()
        assert not [r for r in caplog.records if "backlog" in r.getMessage()]
        h.clock.advance(timedelta(minutes=2))
        await h.sender.housekeeping()

    backlog = [r for r in caplog.records if "backlog" in r.getMessage()]
    assert [r.getMessage() for r in backlog] == [
        "Outbox backlog: the oldest due row has waited 360 s"
    ]
    assert backlog[0].levelno == logging.WARNING
    assert "Kuntur" not in caplog.text


# ---------------------------------------------------------------------- 429 edge cases


async def test_a_429_pause_runs_on_the_injected_clock_and_a_shorter_one_keeps_it(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one, two = h.member(1), h.member(2)
    mono = [0.0]  # the pacing clock: stands still until the test moves it
    wakeup = asyncio.Event()
    h.outbox.on_enqueue = wakeup.set
    h.sender = OutboxSender(
        uow=FakeUnitOfWork(outbox=h.outbox, members=h.members),
        store=h.outbox,
        recipients=Directory(h.members),
        clock=h.clock,
        config=SenderConfig(
            rate=None, batch_size=10, max_in_flight=2, idle_poll=0.05, pause_jitter=0.0
        ),
        wakeup=wakeup,
        rng=random.Random(7),
        monotonic=lambda: mono[0],
    )
    first_in, release = asyncio.Event(), asyncio.Event()

    @dataclass(slots=True)
    class TwoAtOnce(ScriptedNotifier):
        """Both sends in flight together; chat 1002's 429 (0.2 s) lands before 1001's (0.1 s)."""

        async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
            if chat_id == 1001 and not first_in.is_set():
                first_in.set()
                await release.wait()
                self.calls.append(Sent("send", chat_id, notice.TEMPLATE, 0.0))
                return SendResult(Outcome.RATE_LIMITED, retry_after_s=0.1, error_code="429")
            if chat_id == 1002 and not release.is_set():
                await first_in.wait()
                release.set()  # 1001 resumes only after this result was acted on
                self.calls.append(Sent("send", chat_id, notice.TEMPLATE, 0.0))
                return SendResult(Outcome.RATE_LIMITED, retry_after_s=0.2, error_code="429")
            return await ScriptedNotifier.send(self, chat_id, lang, notice)

    notifier = TwoAtOnce()
    a, b = await h.enqueue("a", one), await h.enqueue("b", two)
    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        await h.sender.start(notifier, h.pacer)
        await h.settle(
            lambda: (
                h.sender.stats.rate_limited == 2
                and all(r.status is OutboxStatus.QUEUED for r in (a, b))
            )
        )

    pauses = [r.getMessage() for r in caplog.records if "slow down" in r.getMessage()]
    assert pauses == ["Outbox: Telegram asked to slow down; pausing 0.2 s"]  # not shortened
    assert [(r.attempts, r.error) for r in (a, b)] == [(0, "429"), (0, "429")]
    assert len(notifier.calls) == 2  # the pacing clock has not moved: still paused

    mono[0] += 1.0
    await h.settle()
    assert [(r.status, r.attempts) for r in (a, b)] == [(OutboxStatus.SENT, 1)] * 2
    assert len(notifier.calls) == 4


async def test_a_429_while_another_send_waits_for_its_slot_holds_that_send_back(
    h: Harness,
) -> None:
    one, two = h.member(1), h.member(2)
    h.sender.config = replace(h.sender.config, max_in_flight=2)
    slot_1002 = asyncio.Event()

    @dataclass(slots=True)
    class SlowSlotPacer(CountingPacer):
        """Chat 1002's slot comes free only after chat 1001 was answered."""

        async def acquire(self, chat_id: int | None, rank: int = 0) -> None:
            self.chats.append(chat_id)
            if chat_id == 1002:
                await slot_1002.wait()

    @dataclass(slots=True)
    class OpensTheSlot(ScriptedNotifier):
        async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
            result = await ScriptedNotifier.send(self, chat_id, lang, notice)
            slot_1002.set()  # 1002 resumes after this answer's 429 pause is in place
            return result

    notifier = OpensTheSlot()
    notifier.script(1001, SendResult(Outcome.RATE_LIMITED, retry_after_s=0.1, error_code="429"))
    a, b = await h.enqueue("a", one), await h.enqueue("b", two)
    await h.sender.start(notifier, SlowSlotPacer())
    await h.settle()

    assert [(r.status, r.attempts) for r in (a, b)] == [(OutboxStatus.SENT, 1)] * 2
    first, *rest = notifier.calls
    assert first.chat_id == 1001
    (to_two,) = [c for c in rest if c.chat_id == 1002]
    assert to_two.at - first.at >= 0.1  # not sent while the pause was on
    assert len(notifier.calls) == 3
    assert h.sender.stats.attempts == 3  # the held-back send was no attempt


# ---------------------------------------------------------------------- the duplicate bound


async def test_never_more_than_one_batch_is_leased_and_unrecorded(h: Harness) -> None:
    """The crash-duplicate bound: free send slots do not let the sender lease ahead."""
    h.sender.config = replace(h.sender.config, batch_size=2, max_in_flight=10)
    rows = [await h.enqueue(f"r{n}", h.member(n)) for n in range(1, 6)]
    held: list[int] = []

    @dataclass(slots=True)
    class WatchingPacer(CountingPacer):
        async def acquire(self, chat_id: int | None, rank: int = 0) -> None:
            held.append(sum(r.status is OutboxStatus.SENDING for r in rows))

    notifier = GatedNotifier(hold=2)
    await h.sender.start(notifier, WatchingPacer())
    await notifier.all_held.wait()  # a whole batch in flight, eight slots idle

    assert [r.status for r in rows] == [OutboxStatus.SENDING] * 2 + [OutboxStatus.QUEUED] * 3
    notifier.gate.set()
    await h.settle()

    assert [r.status for r in rows] == [OutboxStatus.SENT] * 5
    assert len(held) == 5
    assert max(held) == 2


# ---------------------------------------------------------------------- failures inside


async def test_an_unexpected_error_while_sending_is_retried_and_logged_without_content(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1, codename="Kuntur-9")

    @dataclass(slots=True)
    class BuggyNotifier(ScriptedNotifier):
        broken: bool = True

        async def send(self, chat_id: int, lang: Lang, notice: Notice) -> SendResult:
            if self.broken:
                self.broken = False
                raise ValueError(f"bad template for chat {chat_id}: {notice}")
            return await ScriptedNotifier.send(self, chat_id, lang, notice)

    notifier = BuggyNotifier()
    row = await h.enqueue("a", one, params={"codename": "Kuntur-9"})
    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        await h.sender.start(notifier, h.pacer)
        await h.settle(lambda: row.status is OutboxStatus.ERRORED)

    assert (row.attempts, row.error) == (1, "ValueError")  # counted as a transient failure
    delay = row.next_attempt_at - h.clock.now()
    assert BACKOFF[0] * 0.8 <= delay <= BACKOFF[0] * 1.2
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == f"Outbox row {row.id}: unexpected ValueError while sending"
    assert record.exc_info is None  # the exception text could quote the message
    assert "Kuntur" not in caplog.text
    assert "1001" not in caplog.text

    assert h.sender.running  # the loop survived the bug
    h.clock.advance(BACKOFF[0] * 1.2)
    await h.settle()
    assert (row.status, row.attempts) == (OutboxStatus.SENT, 2)


async def test_a_failed_recording_is_retried_without_sending_again(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one, delete_after=timedelta(minutes=10))
    h.outbox.finish_failures = 1
    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        await h.start()
        await h.settle(lambda: row.status is OutboxStatus.SENT)

    assert len(h.notifier.calls) == 1  # the result was kept and recorded, not re-sent
    assert row.attempts == 1
    assert h.sender.stats.sent == 1
    (deletion,) = h.outbox.of_template(DELETE_TEMPLATE)  # follow-ups exactly once
    assert deletion.message.params == {"message_ids": str(row.message_id)}
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Outbox: recording results failed (StoreDown); will retry"
    assert record.exc_info is None


async def test_rows_that_cannot_be_released_at_stop_stay_leased_until_the_next_start(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    rows = [await h.enqueue(f"r{n}", h.member(n)) for n in (1, 2, 3)]
    h.sender.config = replace(h.sender.config, max_in_flight=1)
    notifier = GatedNotifier()
    await h.sender.start(notifier, h.pacer)
    await notifier.entered.wait()  # row 1 in flight, rows 2 and 3 leased but not started
    # Only the release at stop fails (it requeues every row it gives back).
    h.outbox.fail_if = lambda updates: all(u.status is OutboxStatus.QUEUED for u in updates)
    h.outbox.finish_failures = 1

    with caplog.at_level(logging.ERROR, logger="bot.services.outbox"):
        stopping = asyncio.create_task(h.sender.stop(2.0))
        notifier.gate.set()  # the in-flight send completes after stop() began
        await stopping

    assert [r.status for r in rows] == [OutboxStatus.SENT] + [OutboxStatus.SENDING] * 2
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "Outbox: could not release leased rows on stop"
    assert "Cóndor" not in caplog.text

    await h.start()  # the start-up recovery returns them
    await h.settle()
    assert [(r.status, r.attempts) for r in rows] == [(OutboxStatus.SENT, 1)] * 3
    assert sorted(c.chat_id for c in [*notifier.calls, *h.notifier.calls]) == [1001, 1002, 1003]


async def test_a_result_whose_lease_was_taken_over_is_not_recorded(h: Harness) -> None:
    one = h.member(1)
    row = await h.enqueue("a", one, delete_after=timedelta(minutes=10))
    notifier = GatedNotifier()
    await h.sender.start(notifier, h.pacer)
    await notifier.entered.wait()

    # The call hangs past its lease: housekeeping hands the row to a new attempt.
    h.clock.advance(timedelta(seconds=61))
    assert await h.sender.recover() == 1
    await h.settle(lambda: row.status is OutboxStatus.SENT)
    assert row.message_id == 101

    pulse = h.sender.progress_event()
    notifier.gate.set()  # the stale attempt finally answers (message 102)
    async with asyncio.timeout(2.0):
        await pulse.wait()

    assert (row.status, row.message_id, row.attempts) == (OutboxStatus.SENT, 101, 1)
    assert h.sender.stats.sent == 1  # the stale result lost the compare-and-set
    (deletion,) = h.outbox.of_template(DELETE_TEMPLATE)
    assert deletion.message.params == {"message_ids": "101"}


# ---------------------------------------------------------------------- admin edges


async def test_admin_reports_the_age_of_the_oldest_waiting_row(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    one = h.member(1)
    await h.enqueue("a", one, kind=OutboxKind.NOTIFICATION)
    h.clock.advance(timedelta(seconds=90))
    admin = OutboxAdmin(h.outbox, h.clock)

    report = await admin.status()

    assert report.oldest_waiting_age_s == 90
    assert report.by_status()["queued"] == 1
    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        assert await admin.retry_dead() == 0
    assert caplog.records == []  # nothing requeued, nothing to tell


# ---------------------------------------------------------------------- a wipe's rows (#11.1)


async def test_a_wipe_row_reaches_its_chat_after_the_unlink_and_retries_until_the_window(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #11.1: the member is unlinked (no recipient), yet the wipe's row deletes in the
    chat it carries; 5xx after 5xx it keeps trying (never ``dead``) until Telegram's window
    closes, then it is recorded as given up."""
    gone = h.member(1)
    await h.members.unlink(gone)
    failure = SendResult(Outcome.TRANSIENT, error_code="NetworkError")
    h.notifier.script(5555, *[failure] * (MAX_ATTEMPTS + 2))
    await h.outbox.enqueue_many(
        wipe_messages(gone, 5555, [7, 8], due=T0, window_closes=T0 + timedelta(hours=48))
    )
    [row] = h.outbox.rows.values()
    await h.start()
    for failures in range(1, MAX_ATTEMPTS + 3):
        if failures > 1:
            h.clock.advance(timedelta(hours=2))  # past the longest backoff
        await h.settle(lambda n=failures: row.attempts == n)  # type: ignore[misc]
        assert row.status is OutboxStatus.ERRORED
        assert row.next_attempt_at - h.clock.now() <= BACKOFF[-1] * 1.2
    assert {(c.method, c.chat_id, c.ids) for c in h.notifier.calls} == {("delete", 5555, (7, 8))}
    assert len(h.notifier.calls) == MAX_ATTEMPTS + 2

    h.clock.current = T0 + timedelta(hours=48)
    with caplog.at_level(logging.WARNING, logger="bot.services.outbox"):
        await h.sender.housekeeping()
    assert row.status is OutboxStatus.EXPIRED
    assert any("deletion(s) expired" in r.getMessage() for r in caplog.records)


async def test_a_wipe_row_that_succeeds_is_sent(h: Harness) -> None:
    gone = h.member(1)
    await h.members.unlink(gone)
    await h.outbox.enqueue_many(
        wipe_messages(gone, 5555, [9], due=T0, window_closes=T0 + timedelta(hours=48))
    )
    await h.start()
    await h.settle()
    [row] = h.outbox.rows.values()
    assert row.status is OutboxStatus.SENT
    assert [(c.chat_id, c.ids) for c in h.notifier.calls] == [(5555, (9,))]


async def test_a_blocked_wipe_row_flags_nobody_and_one_without_a_chat_is_cancelled(
    h: Harness,
) -> None:
    """A 403 on a wipe's deletion ends the row; the unlinked member is not "blocked" and no
    coordinator hears of it. A wipe row whose chat is missing or malformed sends nothing."""
    h.member(9, role=Role.COORDINATOR)
    gone = h.member(1)
    await h.members.unlink(gone)
    h.notifier.script(5555, SendResult(Outcome.BLOCKED, error_code="403"))
    window = T0 + timedelta(hours=48)
    [blocked] = wipe_messages(gone, 5555, [7], due=T0, window_closes=window)
    await h.outbox.enqueue(blocked)
    for key, chat in (("w:none", None), ("w:bad", "x"), ("w:zero", "0")):
        params = {"message_ids": "8"} | ({"chat": chat} if chat is not None else {})
        await h.enqueue(
            key,
            gone,
            kind=OutboxKind.DELETION,
            notice=raw_notice(DELETE_TEMPLATE, params),
            correlation=f"wipe:{gone}",
        )
    await h.start()
    await h.settle()

    assert h.outbox.by_key(blocked.idempotency_key).status is OutboxStatus.BLOCKED
    for key in ("w:none", "w:bad", "w:zero"):
        row = h.outbox.by_key(key)
        assert (row.status, row.error) == (OutboxStatus.CANCELLED, "no_recipient")
    member = await h.members.get(gone)
    assert member is not None
    assert not member.blocked
    assert h.outbox.of_template(MEMBER_BLOCKED_TEMPLATE) == []
    assert [c.chat_id for c in h.notifier.calls] == [5555]


def test_wipe_rows_carry_their_chat_expiry_and_due_time() -> None:
    window = T0 + timedelta(hours=48)
    rows = wipe_messages(4, 77, list(range(150, 0, -1)), due=T0, window_closes=window)
    assert [len(parse_message_ids(r.params) or []) for r in rows] == [100, 50]
    assert {r.notice for r in rows} == {
        DeleteMessages(tuple(range(1, 101)), chat=77),
        DeleteMessages(tuple(range(101, 151)), chat=77),
    }
    assert {(r.expires_at, r.not_before, r.correlation) for r in rows} == {(window, T0, "wipe:4")}
    assert rows[0].idempotency_key.startswith("wipe:4:1-2-3")
    with pytest.raises(NoticeError, match="chat"):
        DeleteMessages.from_params({"message_ids": "1", "chat": "-5"})


async def test_a_batch_refused_as_too_old_is_retried_id_by_id(h: Harness) -> None:
    """Issue #11.1: ``deleteMessages`` may refuse a whole batch for one message past the
    48-hour window; each id is then tried alone, so the others still go and only the old
    one is given up. A wipe's batch keeps its chat and correlation."""
    gone = h.member(1)
    await h.members.unlink(gone)
    linked = h.member(2)
    too_old = SendResult(Outcome.TOO_OLD, error_code="missed_window")
    h.notifier.script(5555, too_old, too_old)  # the batch, then id 7 alone
    h.notifier.script(1002, too_old)  # a scheduled deletion's batch
    window = T0 + timedelta(hours=48)
    [wipe] = wipe_messages(gone, 5555, [7, 8], due=T0, window_closes=window)
    await h.outbox.enqueue(wipe)
    batch = await h.enqueue(
        "d",
        linked,
        kind=OutboxKind.DELETION,
        notice=raw_notice(DELETE_TEMPLATE, {"message_ids": "3,4"}),
    )
    await h.start()
    await h.settle(lambda: len(h.outbox.rows) == 6 and h.outbox.all_final())

    assert h.outbox.by_key(wipe.idempotency_key).status is OutboxStatus.EXPIRED
    assert batch.status is OutboxStatus.EXPIRED
    split = {
        key: (row.status, dict(row.message.params), row.message.correlation)
        for key, row in ((r.message.idempotency_key, r) for r in h.outbox.rows.values())
        if key.startswith("split:")
    }
    wipe_id = h.outbox.by_key(wipe.idempotency_key).id
    assert split == {
        f"split:{wipe_id}:7": (
            OutboxStatus.EXPIRED,
            {"message_ids": "7", "chat": "5555"},
            f"wipe:{gone}",
        ),
        f"split:{wipe_id}:8": (
            OutboxStatus.SENT,
            {"message_ids": "8", "chat": "5555"},
            f"wipe:{gone}",
        ),
        f"split:{batch.id}:3": (OutboxStatus.SENT, {"message_ids": "3"}, None),
        f"split:{batch.id}:4": (OutboxStatus.SENT, {"message_ids": "4"}, None),
    }
    assert sorted((c.chat_id, c.ids) for c in h.notifier.calls) == [
        (1002, (3,)),
        (1002, (3, 4)),
        (1002, (4,)),
        (5555, (7,)),
        (5555, (7, 8)),
        (5555, (8,)),
    ]


def test_only_a_readable_batch_is_split() -> None:
    def leased(params: dict[str, str] | None) -> LeasedRow:
        return LeasedRow(1, OutboxKind.DELETION, 2, DELETE_TEMPLATE, params, 1, T0)

    assert split_deletion(leased(None)) == []
    assert split_deletion(leased({"message_ids": "5"})) == []
    assert split_deletion(leased({"message_ids": "x,y"})) == []
    assert [m.params for m in split_deletion(leased({"message_ids": "5,6"}))] == [
        {"message_ids": "5"},
        {"message_ids": "6"},
    ]
