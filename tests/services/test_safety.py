"""SafetyService and InboundLimiter (M-06, M-09, M-13, R-09, T-18, T-23, T-46)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from bot.domain.errors import NotAllowed, NotFound
from bot.domain.models import Member, MemberState, Role
from bot.domain.notices import DeleteMessages, MemberUnlinked
from bot.domain.outbox import OutboxKind, Outcome, SendResult
from bot.domain.pin import PinNotSet
from bot.domain.safety import WipeReport
from bot.services.outbox import parse_message_ids
from bot.services.pin import PinOutcome, PinService, ScryptHasher
from bot.services.safety import (
    InboundLimiter,
    SafetyService,
    Verdict,
    command_args_too_long,
    text_too_long,
)
from tests.fakes.outbox import InMemoryOutbox
from tests.services.fakes import T0, FakeClock, FakeUnitOfWork, InMemoryAudit, InMemoryMembers
from tests.services.fakes import make_member as _make_member
from tests.services.pin_fakes import (
    InMemoryChatLog,
    InMemoryInbound,
    InMemoryPins,
    RecordingEraser,
)


@dataclass(slots=True)
class Ticker:
    """A monotonic clock the test moves."""

    now: float = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass(slots=True)
class World:
    safety: SafetyService
    pin: PinService
    members: InMemoryMembers
    pins: InMemoryPins
    chat_log: InMemoryChatLog
    outbox: InMemoryOutbox
    audit: InMemoryAudit
    clock: FakeClock
    informant: Member
    coordinator: Member


def make_world() -> World:
    members = InMemoryMembers()
    informant = members.add(_make_member(1, codename="Cóndor-7"), telegram_id=101)
    coordinator = members.add(
        _make_member(2, role=Role.COORDINATOR, codename="Puma"), telegram_id=102
    )
    members.add(_make_member(3, role=Role.ADMIN, codename="Kuntur", regions=()), 103)
    pins = InMemoryPins(links={101: 1, 102: 2, 103: 3})
    chat_log = InMemoryChatLog(links={101: 1, 102: 2, 103: 3})
    outbox = InMemoryOutbox()
    audit = InMemoryAudit()
    clock = FakeClock()
    pin = PinService(
        uow=FakeUnitOfWork(pins=pins, members=members, outbox=outbox, audit=audit),
        clock=clock,
        hasher=ScryptHasher(log_n=4),
    )
    safety = SafetyService(
        uow=FakeUnitOfWork(
            members=members,
            pins=pins,
            chat_log=chat_log,
            inbound=InMemoryInbound(chat_log),
            outbox=outbox,
            audit=audit,
        ),
        pin=pin,
        clock=clock,
    )
    return World(
        safety, pin, members, pins, chat_log, outbox, audit, clock, informant, coordinator
    )


async def open_session(world: World, member: Member) -> None:
    await world.pin.start_change(member)
    await world.pin.submit(member, "482916")
    await world.pin.submit(member, "482916")


# ---------------------------------------------------------------------- limits


def test_one_account_gets_twenty_a_minute_and_two_hundred_a_day() -> None:
    ticker = Ticker()
    limiter = InboundLimiter(per_minute=20, per_day=200, global_per_second=1e9, monotonic=ticker)
    verdicts = [limiter.check(7) for _ in range(1000)]
    assert verdicts.count(Verdict.ALLOW) == 20
    assert set(verdicts[20:]) == {Verdict.MINUTE}
    assert limiter.check(8) is Verdict.ALLOW  # another account is unaffected
    for _ in range(9):
        ticker.now += 60
        assert [limiter.check(7) for _ in range(25)].count(Verdict.ALLOW) == 20
    ticker.now += 60
    assert limiter.check(7) is Verdict.DAY
    ticker.now += 86_400
    assert limiter.check(7) is Verdict.ALLOW


def test_only_the_first_drop_after_an_accepted_update_is_flagged_for_a_notice() -> None:
    """Issue #14.8: a flood earns one "too fast" notice, not one per dropped update."""
    ticker = Ticker()
    limiter = InboundLimiter(per_minute=2, per_day=200, global_per_second=1e9, monotonic=ticker)
    judged = [limiter.judge(7) for _ in range(5)]
    assert judged == [
        (Verdict.ALLOW, False),
        (Verdict.ALLOW, False),
        (Verdict.MINUTE, True),
        (Verdict.MINUTE, False),
        (Verdict.MINUTE, False),
    ]
    ticker.now += 60
    assert [limiter.judge(7) for _ in range(4)] == [
        (Verdict.ALLOW, False),
        (Verdict.ALLOW, False),
        (Verdict.MINUTE, True),  # a new flood after accepted updates: told again
        (Verdict.MINUTE, False),
    ]
    assert limiter.judge(None) == (Verdict.ALLOW, False)


def test_the_global_bucket_caps_all_accounts_together() -> None:
    ticker = Ticker()
    limiter = InboundLimiter(global_per_second=300, monotonic=ticker)
    verdicts = [limiter.check(n) for n in range(400)]
    assert verdicts.count(Verdict.ALLOW) == 300
    assert set(verdicts[300:]) == {Verdict.GLOBAL}
    ticker.now += 0.5
    assert [limiter.check(None) for _ in range(200)].count(Verdict.ALLOW) == 150


def test_one_flooding_account_does_not_use_up_the_global_bucket() -> None:
    ticker = Ticker()
    limiter = InboundLimiter(global_per_second=300, monotonic=ticker)
    assert [limiter.check(7) for _ in range(1000)].count(Verdict.ALLOW) == 20
    assert [limiter.check(n) for n in range(100, 380)].count(Verdict.ALLOW) == 280


def test_tracked_accounts_stay_bounded_and_idle_ones_are_forgotten() -> None:
    """T-46: no unbounded memory growth from many accounts."""
    ticker = Ticker()
    limiter = InboundLimiter(max_tracked=100, global_per_second=1e9, monotonic=ticker)
    for account in range(1000):
        limiter.check(account)
    assert limiter.tracked == 100
    ticker.now += 86_400
    limiter.check(5000)
    assert limiter.tracked == 1


def test_limits_must_make_sense() -> None:
    with pytest.raises(ValueError, match="per_day"):
        InboundLimiter(per_minute=20, per_day=10)


@pytest.mark.parametrize(
    ("text", "too_long"),
    [(None, False), ("a" * 4096, False), ("a" * 4097, True), ("a" * 100_000, True)],
)
def test_text_cap(text: str | None, too_long: bool) -> None:
    assert text_too_long(text) is too_long


@pytest.mark.parametrize(
    ("text", "too_long"),
    [
        (None, False),
        ("hola " + "a" * 100, False),
        ("/estado " + "a" * 64, False),
        ("/estado " + "a" * 65, True),
        ("/pin_reset@chaski_bot " + "a" * 65, True),
        ("/start " + "a" * 10_000, False),  # registration refuses and counts it (T-05)
        ("/start@chaski_bot " + "a" * 100, False),
        ("/estado\n" + "a" * 65, True),  # a line break does not hide the arguments
        # Free-text alerts: two versions of up to 1000 characters each (issue #12.1).
        ("/aviso_texto " + "a" * 1000 + " || " + "b" * 1000, False),
        ("/aviso_texto@chaski_bot\n" + "a" * 1000 + "\n||\n" + "b" * 1000, False),
        ("/aviso_texto " + "a" * 2017, True),
        ("/aviso_datos " + "a" * 65, True),  # template values keep the short cap
    ],
)
def test_command_argument_cap(text: str | None, too_long: bool) -> None:
    assert command_args_too_long(text) is too_long


# ---------------------------------------------------------------------- sensitive replies


async def test_a_sensitive_reply_is_kept_for_the_wipe_and_deleted_later_in_one_transaction() -> (
    None
):
    """The use case behind ``send_sensitive`` (#10.6): the handler no longer opens the
    transaction nor schedules the deletion itself."""
    world = make_world()
    safety = replace(world.safety, delete_after=timedelta(minutes=7))
    uow = safety.uow
    assert isinstance(uow, FakeUnitOfWork)
    await safety.sensitive_sent(world.informant, 101, 42)
    assert uow.entered == 1
    assert world.chat_log.ids == {1: {42: T0}}
    [row] = world.outbox.rows.values()
    assert (row.kind, row.member_id, row.not_before) == (
        OutboxKind.DELETION,
        1,
        T0 + timedelta(minutes=7),
    )
    assert row.notice == DeleteMessages((42,))


# ---------------------------------------------------------------------- wipe and unlink


async def test_wipe_deletes_in_batches_then_shreds_the_link_and_tells_the_coordinator() -> None:
    world = make_world()
    for message_id in range(1, 251):
        await world.safety.record_sent(101, message_id)
    world.clock.advance(timedelta(hours=47))
    await world.safety.accept_update(9, telegram_id=101, message_id=251)
    await open_session(world, world.informant)
    eraser = RecordingEraser()
    await world.safety.wipe_self(world.informant, eraser)
    assert [len(ids) for _, ids in eraser.deleted] == [100, 100, 51]
    assert {chat for chat, _ in eraser.deleted} == {101}
    assert sorted(i for _, ids in eraser.deleted for i in ids) == list(range(1, 252))
    assert eraser.cleared == [101]
    member = await world.members.get(1)
    assert member is not None
    assert (member.telegram_linked, member.state) == (False, MemberState.UNLINKED)
    assert await world.members.telegram_id(1) is None
    assert world.outbox.cancelled == [1]
    assert 1 not in world.pins.records
    assert world.chat_log.ids.get(1) is None
    assert world.outbox.to(MemberUnlinked.TEMPLATE) == [(2, {"codename": "Cóndor-7"})]
    assert world.audit.results("member_unlink") == ["panic"]


async def test_wipe_skips_ids_past_telegrams_window_and_survives_refusals() -> None:
    world = make_world()
    await world.safety.record_sent(101, 1)
    world.clock.advance(timedelta(hours=49))
    await world.safety.record_sent(101, 2)
    eraser = RecordingEraser(refuse=True)
    report = await world.safety.wipe_self(world.informant, eraser)
    assert eraser.deleted == [(101, (2,))]
    assert (report.retrying, report.complete) == (1, False)  # told, and left to the outbox
    assert await world.members.telegram_id(1) is None  # unlinked all the same


async def test_a_refused_wipe_keeps_the_ids_as_wipe_rows_and_says_so() -> None:
    """Issue #11.1: a 429 on the first batch stops the attempts; every id becomes a wipe row
    due after ``retry_after``, carrying the chat and expiring 48 h after its newest id."""
    world = make_world()
    start = world.clock.now()
    for message_id in range(1, 151):
        await world.safety.record_sent(101, message_id)
    world.clock.advance(timedelta(hours=1))
    await world.safety.record_sent(101, 151)
    now = world.clock.now()
    eraser = RecordingEraser(
        refuse=True, refusal=SendResult(Outcome.RATE_LIMITED, retry_after_s=30, error_code="429")
    )
    report = await world.safety.wipe_self(world.informant, eraser)

    assert (report.deleted, report.retrying, report.lost, report.complete) == (0, 151, 0, False)
    assert [len(ids) for _, ids in eraser.deleted] == [100]  # one try, then the outbox
    rows = [row for row in world.outbox.rows.values() if row.template == DeleteMessages.TEMPLATE]
    assert [len(parse_message_ids(r.params) or []) for r in rows] == [100, 51]
    assert {(r.params["chat"], r.correlation, r.not_before) for r in rows} == {
        ("101", "wipe:1", now + timedelta(seconds=30))
    }
    assert [r.expires_at for r in rows] == [
        start + timedelta(hours=48),
        now + timedelta(hours=48),
    ]
    assert await world.members.telegram_id(1) is None  # unlinked all the same
    assert world.chat_log.ids.get(1) is None  # the ids live in the wipe rows now


async def test_ids_telegram_no_longer_deletes_are_reported_lost_not_retried() -> None:
    world = make_world()
    await world.safety.record_sent(101, 1)
    eraser = RecordingEraser(
        refuse=True, refusal=SendResult(Outcome.TOO_OLD, error_code="missed_window")
    )
    report = await world.safety.wipe_self(world.informant, eraser)
    assert (report.deleted, report.retrying, report.lost) == (0, 0, 1)
    assert not any(row.template == DeleteMessages.TEMPLATE for row in world.outbox.rows.values())
    assert report == WipeReport(lost=1)


async def test_a_duress_pin_wipes_everything_up_to_the_pin_at_once() -> None:
    """Issue #11.2: after the duress PIN, the chat up to the PIN message goes at once (what
    Telegram refuses goes to the outbox); later messages (the decoy) wait for the unlink. A
    real session, or a member without a chat, wipes nothing."""
    world = make_world()
    member = world.informant
    for message_id in (3, 4, 5):
        await world.safety.record_sent(101, message_id)
    eraser = RecordingEraser()
    assert await world.safety.erase_after_duress(member, 5, eraser) is None  # no PIN yet
    await open_session(world, member)  # a real session
    assert await world.safety.erase_after_duress(member, 5, eraser) is None
    await world.pin.start_duress(member)
    await world.pin.submit(member, "482916")
    for text in ("735204", "735204"):
        await world.pin.submit(member, text)
    world.clock.advance(timedelta(minutes=11))
    await world.pin.ask(member)
    assert (await world.pin.submit(member, "735204")).outcome is PinOutcome.OK  # duress
    await world.safety.record_sent(101, 7)  # the decoy, sent after the PIN (6)

    report = await world.safety.erase_after_duress(member, 6, eraser)

    assert report == WipeReport(deleted=3)
    assert eraser.deleted == [(101, (3, 4, 5))]
    assert sorted(world.chat_log.ids[1]) == [7]  # the decoy waits for the unlink
    refused = RecordingEraser(refuse=True)
    await world.safety.record_sent(101, 8)
    report = await world.safety.erase_after_duress(member, 8, refused)
    assert report is not None
    assert report.retrying == 2
    assert any(row.correlation == "wipe:1" for row in world.outbox.rows.values())
    assert 1 not in world.outbox.cancelled
    await world.members.unlink(1)
    assert await world.safety.erase_after_duress(member, 9, eraser) is None  # no chat
    world.clock.advance(timedelta(minutes=11))
    assert await world.safety.erase_after_duress(member, 9, eraser) is None  # session over


async def test_a_batch_refused_as_too_old_goes_to_the_outbox_id_by_id() -> None:
    """One old message may make Telegram refuse the whole batch: each id is tried alone."""
    world = make_world()
    for message_id in (1, 2):
        await world.safety.record_sent(101, message_id)
    eraser = RecordingEraser(
        refuse=True, refusal=SendResult(Outcome.TOO_OLD, error_code="missed_window")
    )
    report = await world.safety.wipe_self(world.informant, eraser)
    assert (report.retrying, report.lost) == (2, 0)
    rows = [r for r in world.outbox.rows.values() if r.template == DeleteMessages.TEMPLATE]
    assert sorted(r.params["message_ids"] for r in rows) == ["1", "2"]


async def test_an_unlinked_account_cannot_wipe() -> None:
    world = make_world()
    await world.members.unlink(1)
    gone = await world.members.get(1)
    assert gone is not None
    with pytest.raises(NotAllowed):
        await world.safety.wipe_self(gone, RecordingEraser())
    assert world.outbox.rows == {}


async def test_remote_unlink_needs_a_pin_session_and_scope() -> None:
    world = make_world()
    eraser = RecordingEraser()
    with pytest.raises(PinNotSet):
        await world.safety.unlink_remote(world.coordinator, "Cóndor-7", eraser)
    await open_session(world, world.coordinator)
    with pytest.raises(NotFound):
        await world.safety.unlink_remote(world.coordinator, "Kuntur", eraser)
    await world.safety.record_sent(101, 5)
    target, report = await world.safety.unlink_remote(world.coordinator, "Cóndor-7", eraser)
    assert target.id == 1
    assert report.complete
    assert eraser.deleted == [(101, (5,))]
    assert await world.members.telegram_id(1) is None
    # The acting coordinator is not notified of their own action; nobody else is left.
    assert world.outbox.to(MemberUnlinked.TEMPLATE) == [(3, {"codename": "Cóndor-7"})]
    entry = world.audit.entries[-1]
    assert (entry.action, entry.result, entry.actor_id) == ("member_unlink", "remote", 2)


async def test_due_duress_unlinks_run_once_and_a_vanished_member_is_dropped() -> None:
    world = make_world()
    await world.pins.schedule_unlink(1, world.clock.now())
    await world.pins.schedule_unlink(77, world.clock.now())
    eraser = RecordingEraser()
    assert await world.safety.run_due_unlinks(eraser) == 1
    assert await world.safety.run_due_unlinks(eraser) == 0
    assert world.audit.results("member_unlink") == ["duress"]
    assert eraser.cleared == [101]


async def test_the_unlink_after_a_duress_pin_is_as_durable_as_borrar() -> None:
    """Issue #11.1: the safety tick's unlink leaves what Telegram refused to the outbox."""
    world = make_world()
    await world.safety.record_sent(101, 40)
    await world.pins.schedule_unlink(1, world.clock.now())
    assert await world.safety.run_due_unlinks(RecordingEraser(refuse=True)) == 1
    [row] = [r for r in world.outbox.rows.values() if r.template == DeleteMessages.TEMPLATE]
    assert (row.params, row.correlation) == ({"message_ids": "40", "chat": "101"}, "wipe:1")
    assert await world.members.telegram_id(1) is None


async def test_an_unlinked_member_without_chat_is_still_unlinked_cleanly() -> None:
    world = make_world()
    await world.members.unlink(1)
    await world.pins.schedule_unlink(1, world.clock.now())
    eraser = RecordingEraser()
    assert await world.safety.run_due_unlinks(eraser) == 1
    assert eraser.deleted == []
    assert eraser.cleared == []


async def test_updates_are_accepted_once_and_housekeeping_forgets_old_rows() -> None:
    world = make_world()
    assert await world.safety.accept_update(1, telegram_id=101, message_id=9)
    assert not await world.safety.accept_update(1, telegram_id=101, message_id=9)
    await world.pin.start_change(world.informant)
    world.clock.advance(timedelta(hours=49))
    await world.safety.housekeeping()
    assert world.chat_log.ids[1] == {}
    assert world.pins.prompts == {}
    assert await world.safety.accept_update(1)
