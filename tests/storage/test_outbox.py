"""The SQLite outbox: idempotent enqueue, priority leases, CAS results, recovery, sealing."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.outbox import (
    KIND_EXPIRY,
    OutboxKind,
    OutboxMessage,
    OutboxStatus,
    RowUpdate,
)
from bot.services.outbox import wipe_messages
from storage.outbox import SqliteOutbox, SqliteRecipientDirectory
from tests.services.fakes import FakeClock, raw_notice
from tests.storage.conftest import T0, Repos

SECRET_TEXT = "Evacuar el puesto de Llochegua antes de las 18h"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(T0)


@pytest.fixture
def outbox(repos: Repos, clock: FakeClock) -> SqliteOutbox:
    return SqliteOutbox(repos.db, repos.keys, clock)


def msg(
    key: str,
    member_id: int,
    kind: OutboxKind = OutboxKind.NOTIFICATION,
    params: dict[str, str] | None = None,
    merge: str | None = None,
    **extra: Any,
) -> OutboxMessage:
    """A row stored exactly with ``params`` (the store never reads them)."""
    return OutboxMessage(
        idempotency_key=key,
        kind=kind,
        member_id=member_id,
        notice=raw_notice("news", params, merge=merge),
        **extra,
    )


def waking_outbox(repos: Repos, clock: FakeClock) -> tuple[SqliteOutbox, list[bool]]:
    """An outbox whose sender wake-ups are counted (one ``True`` per wake-up)."""
    woken: list[bool] = []
    return SqliteOutbox(repos.db, repos.keys, clock, on_enqueue=lambda: woken.append(True)), woken


async def status_of(repos: Repos, key: str) -> tuple[str, int, str | None]:
    row = await repos.db.fetchone(
        "SELECT status, attempts, last_error_code FROM outbox WHERE idempotency_key = ?", (key,)
    )
    assert row is not None
    return row[0], row[1], row[2]


async def test_enqueue_is_idempotent_and_wakes_the_sender(repos: Repos, clock: FakeClock) -> None:
    outbox, woken = waking_outbox(repos, clock)
    member = await repos.member("Cóndor-7", 5001)

    assert await outbox.enqueue(msg("n:1", member.id)) is True
    assert await outbox.enqueue(msg("n:1", member.id)) is False
    added = await outbox.enqueue_many([msg("n:1", member.id), msg("n:2", member.id)])

    assert added == 1
    rows = await repos.db.fetchall("SELECT idempotency_key FROM outbox ORDER BY id")
    assert [r[0] for r in rows] == ["n:1", "n:2"]
    assert woken == [True, True]  # not for the duplicate-only enqueue


async def test_rows_due_later_do_not_wake_the_sender(repos: Repos, clock: FakeClock) -> None:
    """A deletion due in minutes would only make the sender lease nothing; its poll finds it."""
    outbox, woken = waking_outbox(repos, clock)
    member = await repos.member("Cóndor-7", 5001)
    later = clock.now() + timedelta(minutes=10)

    assert await outbox.enqueue(msg("d:1", member.id, OutboxKind.DELETION, not_before=later))
    assert woken == []
    assert await outbox.enqueue_many(
        [
            msg("d:2", member.id, OutboxKind.DELETION, not_before=later),
            msg("n:1", member.id, not_before=clock.now()),
        ]
    )
    assert woken == [True]  # one row of the batch is due now
    due = await outbox.lease(clock.now(), 10, clock.now() + timedelta(minutes=1))
    assert [row.kind for row in due] == [OutboxKind.NOTIFICATION]
    clock.advance(timedelta(minutes=10))
    leased = await outbox.lease(clock.now(), 10, clock.now() + timedelta(minutes=1))
    assert [row.kind for row in leased] == [OutboxKind.DELETION, OutboxKind.DELETION]


async def test_enqueue_joins_the_callers_transaction(repos: Repos, outbox: SqliteOutbox) -> None:
    member = await repos.member("Cóndor-7", 5001)

    class Boom(Exception):
        pass

    async def change_then_fail() -> None:
        async with repos.db.transaction():
            await outbox.enqueue(msg("n:1", member.id))
            raise Boom

    with pytest.raises(Boom):
        await change_then_fail()
    assert await repos.db.fetchall("SELECT id FROM outbox") == []


async def test_enqueue_at_commit_defers_rows_due_later_to_the_commit(
    repos: Repos, clock: FakeClock
) -> None:
    """The reply path's deletion row: no trip of its own, written by the transaction's end."""
    outbox, woken = waking_outbox(repos, clock)
    member = await repos.member("Cóndor-7", 5001)
    later = clock.now() + timedelta(minutes=10)
    deletion = msg("d:1", member.id, OutboxKind.DELETION, not_before=later, params={"a": "1"})

    async with repos.db.transaction():
        await outbox.enqueue_at_commit([deletion])
        assert not repos.db.writer.in_transaction  # deferred: nothing sent yet
    async with repos.db.transaction():
        await outbox.enqueue_at_commit([deletion])  # a duplicate key is skipped
        await outbox.enqueue_at_commit([])

    rows = await repos.db.fetchall("SELECT idempotency_key, not_before FROM outbox")
    assert [(r[0], r[1]) for r in rows] == [("d:1", later.isoformat(timespec="seconds"))]
    assert woken == []
    clock.advance(timedelta(minutes=10))
    (leased,) = await outbox.lease(clock.now(), 10, clock.now() + timedelta(minutes=1))
    assert leased.params == {"a": "1"}  # sealed on the writer's thread, opens as usual


async def test_enqueue_at_commit_of_a_row_due_now_wakes_the_sender(
    repos: Repos, clock: FakeClock
) -> None:
    outbox, woken = waking_outbox(repos, clock)
    member = await repos.member("Cóndor-7", 5001)

    await outbox.enqueue_at_commit([msg("n:1", member.id)])  # outside a transaction too

    assert woken == [True]
    (row,) = await repos.db.fetchall("SELECT idempotency_key FROM outbox")
    assert row[0] == "n:1"


async def test_lease_orders_by_priority_then_id_and_skips_undue_rows(
    repos: Repos, outbox: SqliteOutbox, clock: FakeClock
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many(
        [
            msg("rem", member.id, OutboxKind.REMINDER),
            msg("note", member.id, OutboxKind.NOTIFICATION),
            msg("alert", member.id, OutboxKind.ALERT),
            msg("later", member.id, OutboxKind.ALERT, not_before=T0 + timedelta(minutes=5)),
            msg("old", member.id, OutboxKind.ALERT, expires_at=T0),
            msg("check", member.id, OutboxKind.CHECKIN),
        ]
    )

    leased = await outbox.lease(T0, 10, T0 + timedelta(seconds=60))

    assert [r.kind for r in leased] == [
        OutboxKind.ALERT,
        OutboxKind.CHECKIN,
        OutboxKind.NOTIFICATION,
        OutboxKind.REMINDER,
    ]
    assert all(r.lease_until == T0 + timedelta(seconds=60) for r in leased)
    assert await status_of(repos, "later") == ("queued", 0, None)
    assert await outbox.lease(T0, 10, T0 + timedelta(seconds=60)) == []  # all taken
    clock.current = T0 + timedelta(minutes=5)
    later = await outbox.lease(clock.current, 10, clock.current + timedelta(seconds=60))
    assert [r.template for r in later] == ["news"]


async def test_lease_respects_the_limit(repos: Repos, outbox: SqliteOutbox) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many([msg(f"n:{i}", member.id) for i in range(5)])

    first = await outbox.lease(T0, 2, T0 + timedelta(seconds=60))
    second = await outbox.lease(T0, 10, T0 + timedelta(seconds=60))

    assert len(first) == 2
    assert len(second) == 3
    assert {r.id for r in first}.isdisjoint({r.id for r in second})


async def test_finish_is_compare_and_set_on_status_and_lease(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many([msg("a", member.id), msg("b", member.id)])
    lease = T0 + timedelta(seconds=60)
    a, b = await outbox.lease(T0, 10, lease)

    applied = await outbox.finish(
        [
            RowUpdate(a.id, lease, OutboxStatus.SENT, 1, message_id=77, sent_at=T0),
            RowUpdate(b.id, lease + timedelta(seconds=1), OutboxStatus.SENT, 1),  # stale lease
        ],
        T0,
    )
    again = await outbox.finish([RowUpdate(a.id, lease, OutboxStatus.DEAD, 2)], T0)

    assert applied == {a.id}
    assert again == set()  # a is no longer 'sending'
    assert await status_of(repos, "a") == ("sent", 1, None)
    assert await status_of(repos, "b") == ("sending", 0, None)
    row = await repos.db.fetchone(
        "SELECT telegram_message_id, sent_at FROM outbox WHERE id = ?", (a.id,)
    )
    assert row is not None
    assert row[0] == 77
    assert row[1] is not None


async def test_recovery_requeues_expired_leases_or_all_at_startup(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many([msg("a", member.id), msg("b", member.id)])
    await outbox.lease(T0, 1, T0 + timedelta(seconds=60))
    await outbox.lease(T0, 1, T0 + timedelta(seconds=600))

    assert await outbox.recover_leases(T0 + timedelta(seconds=30)) == 0
    assert await outbox.recover_leases(T0 + timedelta(seconds=61)) == 1
    assert await status_of(repos, "a") == ("queued", 0, None)
    assert await status_of(repos, "b") == ("sending", 0, None)
    assert await outbox.recover_leases(T0, all_leases=True) == 1
    assert await status_of(repos, "b") == ("queued", 0, None)


async def test_expire_due_counts_by_kind_and_leaves_sent_rows(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many(
        [
            msg("alert", member.id, OutboxKind.ALERT),
            msg("rem", member.id, OutboxKind.REMINDER),
            msg("del", member.id, OutboxKind.DELETION),
        ]
    )
    after = T0 + KIND_EXPIRY[OutboxKind.REMINDER]

    expired = await outbox.expire_due(after)

    assert expired == {OutboxKind.ALERT: 1, OutboxKind.REMINDER: 1}
    assert await status_of(repos, "alert") == ("expired", 0, "too_old")
    assert await status_of(repos, "del") == ("queued", 0, None)  # 47 h for deletions


async def test_enqueuing_nothing_writes_nothing_and_wakes_nobody(
    repos: Repos, clock: FakeClock
) -> None:
    outbox, woken = waking_outbox(repos, clock)

    assert await outbox.enqueue_many([]) == 0

    row = await repos.db.fetchone("SELECT count(*) FROM outbox")
    assert row is not None
    assert row[0] == 0
    assert woken == []


async def test_oldest_due_is_the_queue_age_of_rows_waiting_to_be_sent(
    repos: Repos, outbox: SqliteOutbox, clock: FakeClock
) -> None:
    """R-13: the backlog warning measures rows due now, not ones scheduled for later."""
    member = await repos.member("Cóndor-7", 5001)
    assert await outbox.oldest_due(T0) is None  # empty queue

    await outbox.enqueue(msg("later", member.id, not_before=T0 + timedelta(hours=1)))
    assert await outbox.oldest_due(T0) is None  # nothing due yet

    clock.current = T0 + timedelta(minutes=5)
    await outbox.enqueue(msg("now", member.id))
    clock.current = T0 + timedelta(minutes=10)
    await outbox.enqueue(msg("newer", member.id))
    assert await outbox.oldest_due(clock.current) == T0 + timedelta(minutes=5)

    leased = await outbox.lease(clock.current, 1, clock.current + timedelta(seconds=60))
    assert [row.id for row in leased] == [2]  # being sent: no longer waiting
    assert await outbox.oldest_due(clock.current) == T0 + timedelta(minutes=10)
    assert await outbox.oldest_due(T0 + timedelta(hours=2)) == T0  # "later" is due too


async def test_cancel_for_member_touches_only_their_waiting_rows(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    one = await repos.member("Cóndor-7", 5001)
    two = await repos.member("Puma-3", 5002)
    await outbox.enqueue_many([msg("1a", one.id), msg("1b", one.id), msg("2a", two.id)])
    lease = T0 + timedelta(seconds=60)
    leased = await outbox.lease(T0, 1, lease)  # 1a goes 'sending'

    assert await outbox.cancel_for_member(one.id) == 1

    assert leased[0].member_id == one.id
    assert await status_of(repos, "1a") == ("sending", 0, None)
    assert await status_of(repos, "1b") == ("cancelled", 0, "cancelled")
    assert await status_of(repos, "2a") == ("queued", 0, None)


async def test_counts_and_retry_dead(repos: Repos, outbox: SqliteOutbox, clock: FakeClock) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many([msg("a", member.id), msg("b", member.id, OutboxKind.ALERT)])
    lease = T0 + timedelta(seconds=60)
    rows = await outbox.lease(T0, 10, lease)
    await outbox.finish(
        [RowUpdate(row.id, lease, OutboxStatus.DEAD, 5, error_code="TimedOut") for row in rows],
        T0,
    )

    counts = await outbox.counts()
    assert counts.by_status_kind == {
        (OutboxStatus.DEAD, OutboxKind.NOTIFICATION): 1,
        (OutboxStatus.DEAD, OutboxKind.ALERT): 1,
    }
    assert counts.oldest_waiting_at is None

    clock.current = T0 + timedelta(minutes=1)
    assert await outbox.retry_dead(clock.current) == 2
    assert await status_of(repos, "a") == ("queued", 0, "TimedOut")
    counts = await outbox.counts()
    assert counts.oldest_waiting_at == T0
    again = await outbox.lease(clock.current, 10, clock.current + timedelta(seconds=60))
    assert len(again) == 2


async def test_params_are_sealed_at_rest_and_opened_on_lease(
    repos: Repos, outbox: SqliteOutbox, db_path: Path
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue(
        msg("a", member.id, OutboxKind.ALERT, params={"text": SECRET_TEXT, "codename": "Puma-3"})
    )
    await repos.db.writer.execute("PRAGMA wal_checkpoint(FULL)")

    raw = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())
    assert SECRET_TEXT.encode() not in raw
    assert b"Puma-3" not in raw
    leased = await outbox.lease(T0, 1, T0 + timedelta(seconds=60))
    assert leased[0].params == {"text": SECRET_TEXT, "codename": "Puma-3"}


async def test_params_swapped_between_rows_fail_closed(repos: Repos, outbox: SqliteOutbox) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many(
        [msg("a", member.id, params={"x": "1"}), msg("b", member.id, params={"x": "2"})]
    )
    await repos.db.execute(
        "UPDATE outbox SET params_enc = (SELECT params_enc FROM outbox WHERE idempotency_key ="
        " 'b') WHERE idempotency_key = 'a'"
    )

    leased = {row.id: row for row in await outbox.lease(T0, 10, T0 + timedelta(seconds=60))}

    assert sorted((row.params or {}).get("x", "-") for row in leased.values()) == ["-", "2"]
    assert sum(row.params is None for row in leased.values()) == 1


async def test_recipients_resolve_linked_members_only(repos: Repos) -> None:
    linked = await repos.member("Cóndor-7", 5001)
    _, pending = await repos.invite("Puma-3")
    await repos.members.set_blocked(linked.id, True)

    found = await SqliteRecipientDirectory(repos.db, repos.keys).resolve([linked.id, pending, 999])

    assert set(found) == {linked.id}
    assert found[linked.id].chat_id == 5001
    assert found[linked.id].blocked is True
    assert found[linked.id].active is True


async def test_delete_after_is_stored_in_seconds(repos: Repos, outbox: SqliteOutbox) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue(msg("a", member.id, delete_after=timedelta(minutes=10)))

    (row,) = await outbox.lease(T0, 1, T0 + timedelta(seconds=60))

    assert row.delete_after == timedelta(minutes=10)


async def _params_enc(repos: Repos, key: str) -> bytes | None:
    row = await repos.db.fetchone(
        "SELECT params_enc FROM outbox WHERE idempotency_key = ?", (key,)
    )
    assert row is not None
    return row[0]  # type: ignore[no-any-return]


async def test_a_wipes_rows_survive_cancel_and_lose_their_chat_once_final(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    """Issue #11.1: an unlink cancels the member's queue but not the wipe it left; the sealed
    chat id is erased once a wipe row is done (sent) or given up (expired)."""
    member = await repos.member("Cóndor-7", 5001)
    window = T0 + timedelta(hours=48)
    done, late = [
        *wipe_messages(member.id, 5001, [7], due=T0, window_closes=window),
        *wipe_messages(member.id, 5001, [8], due=T0 + timedelta(hours=50), window_closes=window),
    ]
    await outbox.enqueue_many([done, late, msg("n:1", member.id)])

    assert await outbox.cancel_for_member(member.id) == 1  # only the note
    assert await status_of(repos, "n:1") == ("cancelled", 0, "cancelled")
    assert await _params_enc(repos, done.idempotency_key) is not None

    lease = T0 + timedelta(seconds=60)
    [row] = await outbox.lease(T0, 10, lease)
    assert row.params == {"message_ids": "7", "chat": "5001"}
    assert row.correlation == f"wipe:{member.id}"
    await outbox.finish([RowUpdate(row.id, lease, OutboxStatus.SENT, 1)], T0)
    assert await _params_enc(repos, done.idempotency_key) is None
    assert await _params_enc(repos, late.idempotency_key) is not None

    assert await outbox.expire_due(T0 + timedelta(hours=49)) == {OutboxKind.DELETION: 1}
    assert await status_of(repos, late.idempotency_key) == ("expired", 0, "too_old")
    assert await _params_enc(repos, late.idempotency_key) is None


async def test_a_wipe_row_retried_keeps_its_chat(repos: Repos, outbox: SqliteOutbox) -> None:
    """An errored wipe row (a 5xx) must still know its chat at the next attempt."""
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue_many(
        wipe_messages(member.id, 5001, [7], due=T0, window_closes=T0 + timedelta(hours=48))
    )
    lease = T0 + timedelta(seconds=60)
    [row] = await outbox.lease(T0, 10, lease)
    later = T0 + timedelta(seconds=10)
    await outbox.finish(
        [RowUpdate(row.id, lease, OutboxStatus.ERRORED, 1, next_attempt_at=later)], T0
    )
    [again] = await outbox.lease(later, 10, later + timedelta(seconds=60))
    assert again.params == {"message_ids": "7", "chat": "5001"}


# ---------------------------------------------------------------------- merging rows (#13)


def asked(key: str, member_id: int, names: dict[str, str], **extra: Any) -> OutboxMessage:
    """A help escalation naming ``names`` (request id -> codename), merged per correlation."""
    return msg(
        key,
        member_id,
        OutboxKind.HELP,
        params={"asked": json.dumps(names)},
        correlation="help-escalation:1:9",
        merge="asked",
        **extra,
    )


async def test_a_merging_row_names_everybody_its_waiting_versions_named(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue(asked("h1", member.id, {"1": "Oso"}))
    [in_flight] = await outbox.lease(T0, 1, T0 + timedelta(seconds=60))
    await outbox.enqueue(asked("h2", member.id, {"2": "Puma"}))
    await outbox.enqueue(asked("h3", member.id, {"3": "Zorro"}, version=1))  # ignored

    assert in_flight.version == 1
    assert await status_of(repos, "h2") == ("cancelled", 0, "superseded")
    # Only the newest waits; it names the one in flight too (a 429 could send it back).
    await outbox.finish([RowUpdate(in_flight.id, in_flight.lease_until, OutboxStatus.SENT, 1)], T0)
    [newest] = await outbox.lease(T0, 5, T0 + timedelta(seconds=60))
    assert newest.version == 3
    assert newest.params is not None
    assert json.loads(newest.params["asked"]) == {"1": "Oso", "2": "Puma", "3": "Zorro"}


async def test_an_unreadable_waiting_row_is_not_merged_and_the_rest_is(
    repos: Repos, outbox: SqliteOutbox, caplog: pytest.LogCaptureFixture
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue(asked("h1", member.id, {"1": "Oso"}))
    await outbox.enqueue(msg("other", member.id, params={"x": "1"}))
    await repos.db.execute(  # sealed for another row: does not open (M-07)
        "UPDATE outbox SET params_enc = (SELECT params_enc FROM outbox WHERE idempotency_key ="
        " 'other') WHERE idempotency_key = 'h1'"
    )
    await outbox.enqueue(asked("h2", member.id, {"2": "Puma"}))

    leased = await outbox.lease(T0, 5, T0 + timedelta(seconds=60))
    [newest] = [row for row in leased if row.kind is OutboxKind.HELP]
    assert newest.params is not None
    assert json.loads(newest.params["asked"]) == {"2": "Puma"}
    assert "not merged" in caplog.text


async def test_a_merging_row_without_correlation_is_stored_as_given(
    repos: Repos, outbox: SqliteOutbox
) -> None:
    member = await repos.member("Cóndor-7", 5001)
    await outbox.enqueue(msg("h1", member.id, OutboxKind.HELP, params={"x": "1"}, merge="x"))
    [row] = await outbox.lease(T0, 1, T0 + timedelta(seconds=60))
    assert row.version is None
    assert row.params == {"x": "1"}
