"""Unit tests of the administrators' alarms (T-06, T-11) and of block/unblock (R-06).

In-memory fakes of the ports only; the end-to-end cases against the real application are in
tests/security/test_identity_access.py and tests/security/test_telegram_errors.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.errors import Unavailable
from bot.domain.models import Role
from bot.domain.notices import IntakeConflict, MemberBlocked, RegistrationsFailing, StaffDenials
from bot.services.membership import MembershipService
from bot.services.vigilance import (
    MAX_TRACKED,
    DenialWatch,
    HourlyCounter,
    IntakeAlarm,
    InviteAlarm,
)
from tests.fakes.outbox import InMemoryOutbox
from tests.services.fakes import (
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryAudit,
    InMemoryMembers,
    make_member,
)

ADMIN = make_member(9, role=Role.ADMIN, codename="Apu", regions=())
COORD = make_member(2, role=Role.COORDINATOR, codename="Puma")
ANA = make_member(1, codename="Kuntur")


def _world() -> tuple[InMemoryMembers, InMemoryOutbox, InMemoryAudit, FakeClock]:
    members = InMemoryMembers()
    for telegram_id, member in enumerate((ANA, COORD, ADMIN), start=101):
        members.add(member, telegram_id)
    members.add(make_member(10, role=Role.ADMIN, codename="Apu-old", regions=()))  # unlinked
    return members, InMemoryOutbox(), InMemoryAudit(), FakeClock()


def test_counter_reaches_its_limit_only_within_an_hour() -> None:
    counter = HourlyCounter(3)
    assert not counter.hit(T0)
    assert not counter.hit(T0 + timedelta(minutes=30))
    assert counter.hit(T0 + timedelta(minutes=59))
    # The last three are at 30, 59 and 91 minutes: more than an hour apart.
    assert not counter.hit(T0 + timedelta(minutes=91))
    assert counter.hit(T0 + timedelta(minutes=92))  # 59, 91, 92
    with pytest.raises(ValueError, match="at least 1"):
        HourlyCounter(0)


async def test_invite_alarm_raises_once_per_hour_to_linked_admins_only() -> None:
    members, outbox, audit, clock = _world()
    alarm = InviteAlarm(
        uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit), clock=clock, per_hour=3
    )
    assert alarm.per_hour == 3

    raised = [await alarm.failed() for _ in range(5)]
    assert raised == [False, False, True, False, False]
    assert outbox.to(RegistrationsFailing.TEMPLATE) == [(ADMIN.id, {})]
    assert audit.results("invite_alarm") == ["raised"]

    clock.advance(timedelta(hours=1))  # a new clock hour, still over the threshold
    assert [await alarm.failed() for _ in range(3)] == [False, False, True]
    assert len(outbox.to(RegistrationsFailing.TEMPLATE)) == 2
    assert audit.results("invite_alarm") == ["raised", "raised"]


async def test_intake_conflict_pages_linked_admins_once_per_hour(
    caplog: pytest.LogCaptureFixture,
) -> None:
    members, outbox, audit, clock = _world()
    alarm = IntakeAlarm(
        uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit), clock=clock
    )

    assert [await alarm.conflict() for _ in range(3)] == [True, False, False]
    assert outbox.to(IntakeConflict.TEMPLATE) == [(ADMIN.id, {})]
    assert audit.results("intake_conflict") == ["raised"]
    assert [r.levelname for r in caplog.records if "409 Conflict" in r.getMessage()] == [
        "CRITICAL"
    ]

    clock.advance(timedelta(hours=1))
    assert await alarm.conflict() is True
    assert len(outbox.to(IntakeConflict.TEMPLATE)) == 2


async def test_intake_conflict_retries_the_note_after_a_busy_database() -> None:
    members, outbox, audit, clock = _world()
    uow = FakeUnitOfWork(members=members, outbox=outbox, audit=audit, busy=True)
    alarm = IntakeAlarm(uow=uow, clock=clock)

    with pytest.raises(Unavailable):
        await alarm.conflict()
    assert outbox.to(IntakeConflict.TEMPLATE) == []
    uow.busy = False
    assert await alarm.conflict() is True  # same hour: not given up on
    assert outbox.to(IntakeConflict.TEMPLATE) == [(ADMIN.id, {})]


async def test_denials_are_audited_and_only_coordinators_counted() -> None:
    members, outbox, audit, clock = _world()
    watch = DenialWatch(
        uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit), clock=clock, per_hour=2
    )
    assert not await watch.denied(ANA, "alert_answer", "alert:1")
    assert not await watch.denied(ANA, "alert_answer", "alert:2")
    assert not await watch.denied(ADMIN, "alert_approve", "alert:3", "self_approval")
    assert not await watch.denied(ADMIN, "alert_approve", "alert:3", "self_approval")
    assert outbox.rows == {}

    assert not await watch.denied(COORD, "pin_reset", "member:1")
    assert await watch.denied(COORD, "member_unlink", None)
    assert not await watch.denied(COORD, "pin_reset", "member:1")  # same hour: told once

    assert outbox.to(StaffDenials.TEMPLATE) == [(ADMIN.id, {"codename": "Puma"})]
    assert [(e.action, e.result, e.actor_id) for e in audit.entries[:4]] == [
        ("alert_answer", "denied", ANA.id),
        ("alert_answer", "denied", ANA.id),
        ("alert_approve", "self_approval", ADMIN.id),
        ("alert_approve", "self_approval", ADMIN.id),
    ]
    assert audit.results("denial_alarm") == ["raised"]
    with pytest.raises(ValueError, match="at least 1"):
        DenialWatch(
            uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit),
            clock=clock,
            per_hour=0,
        )


async def test_denial_tracking_is_bounded() -> None:
    members, outbox, audit, clock = _world()
    watch = DenialWatch(
        uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit), clock=clock, per_hour=2
    )
    for n in range(MAX_TRACKED + 5):
        coordinator = make_member(1000 + n, role=Role.COORDINATOR, codename=f"C{n}")
        await watch.denied(coordinator, "pin_reset", None)
    await watch.denied(COORD, "pin_reset", None)
    await watch.denied(COORD, "pin_reset", None)  # a known one is moved to the end, not lost
    assert len(watch._counters) == MAX_TRACKED
    assert outbox.to(StaffDenials.TEMPLATE) == [(ADMIN.id, {"codename": "Puma"})]


async def test_block_and_unblock_change_only_a_linked_active_member() -> None:
    members, outbox, audit, clock = _world()
    service = MembershipService(
        uow=FakeUnitOfWork(members=members, outbox=outbox, audit=audit), clock=clock
    )
    assert not await service.bot_blocked(999)  # a stranger
    assert not await service.bot_unblocked(101)  # not blocked: nothing to clear
    assert audit.entries == []

    assert await service.bot_blocked(101)
    assert not await service.bot_blocked(101)  # the same block: told once
    assert members.members[ANA.id].blocked
    assert outbox.cancelled == [ANA.id]
    assert outbox.to(MemberBlocked.TEMPLATE) == [(COORD.id, {"codename": "Kuntur"})]

    assert await service.bot_unblocked(101)
    assert not members.members[ANA.id].blocked
    assert [(e.action, e.result, e.target) for e in audit.entries] == [
        ("member_blocked", "ok", "member:1"),
        ("member_unblocked", "ok", "member:1"),
    ]

    await service.left_group()
    last = audit.entries[-1]
    assert (last.action, last.result, last.actor_id, last.target) == (
        "leave_group",
        "ok",
        None,
        None,
    )
