"""Invite redemption, the stranger reply and language choice (M-02, M-03, T-02..T-07)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import UTC, date, timedelta

import pytest

from bot.domain.errors import InviteRejected, NotAllowed
from bot.domain.models import Lang, MemberState, NewInvite, Role
from bot.services.clock import SystemClock
from bot.services.registration import INVITE_FAILURE_LIMIT, RegistrationService
from tests.services.fakes import (
    LIMA,
    T0,
    FakeClock,
    FakeUnitOfWork,
    InMemoryAudit,
    InMemoryCounters,
    InMemoryInvites,
    InMemoryMembers,
    InMemoryRegions,
    make_member,
)

TELEGRAM_ID = 987654321
OTHER_ID = 123456789


@dataclass
class World:
    """One registration service over fresh fakes."""

    members: InMemoryMembers
    invites: InMemoryInvites
    counters: InMemoryCounters
    audit: InMemoryAudit
    clock: FakeClock
    service: RegistrationService

    async def invite(self, codename: str = "Cóndor-7", ttl: timedelta | None = None) -> str:
        code = secrets.token_urlsafe(32)
        await self.invites.create(
            NewInvite(Role.INFORMANT, "Pichari", codename, None, 72),
            code,
            self.clock.now() + (ttl or timedelta(hours=72)),
            self.clock.now(),
        )
        self.invites.calls.clear()
        return code

    def redeem_calls(self) -> list[str]:
        return [code for name, code in self.invites.calls if name == "redeem"]


@pytest.fixture
def world() -> World:
    members = InMemoryMembers()
    regions = InMemoryRegions().seed("Pichari")
    invites = InMemoryInvites(members, regions)
    counters = InMemoryCounters()
    audit = InMemoryAudit()
    clock = FakeClock()
    service = RegistrationService(
        FakeUnitOfWork(members=members, invites=invites, counters=counters, audit=audit), clock
    )
    return World(members, invites, counters, audit, clock, service)


async def test_valid_invite_links_the_account_and_audits(world: World) -> None:
    code = await world.invite()
    member = await world.service.redeem(TELEGRAM_ID, code)
    assert member.codename == "Cóndor-7"
    assert member.active
    assert await world.service.identify(TELEGRAM_ID) == member
    [entry] = world.audit.entries
    assert (entry.action, entry.result, entry.actor_id, entry.actor_role) == (
        "invite_redeem",
        "ok",
        member.id,
        Role.INFORMANT,
    )
    assert entry.target == f"member:{member.id}"
    assert entry.now == T0


MALFORMED = {
    "42-chars": "A" * 42,
    "44-chars": "A" * 44,
    "65-chars": "A" * 65,
    "empty": "",
    "padding": "A" * 42 + "=",
    "plus": "A" * 42 + "+",
    "slash": "A" * 42 + "/",
    "dot": "A" * 42 + ".",
    "percent": "A" * 40 + "%2F",
    "unicode": "A" * 42 + "é",
    "fullwidth": "A" * 42 + "\uff21",
    "nul": "A" * 42 + "\x00",
    "newline": "A" * 43 + "\n",
    "dotdot": ("../" * 15)[:43],
    "sql": ("' OR 1=1; DROP TABLE invites;--" + "A" * 43)[:43],
    "10kb": "A" * 10_240,
    "space": "A" * 21 + " " + "A" * 21,
}


@pytest.mark.parametrize("payload", MALFORMED.values(), ids=MALFORMED.keys())
async def test_malformed_payload_is_refused_before_any_lookup(world: World, payload: str) -> None:
    await world.invite()
    with pytest.raises(InviteRejected) as caught:
        await world.service.redeem(TELEGRAM_ID, payload)
    assert caught.value.args == ()
    assert world.invites.calls == []  # the invite store was never asked (T-05)
    assert world.audit.results("invite_redeem") == ["rejected"]
    assert await world.counters.current(TELEGRAM_ID, "invite_failure", T0, timedelta(days=1)) == 1


async def test_every_failure_reason_gives_the_same_error(world: World) -> None:
    """T-04: unknown, used, expired and malformed are indistinguishable to the caller."""
    used = await world.invite("Puma-1")
    await world.service.redeem(OTHER_ID, used)
    expired = await world.invite("Puma-2", ttl=timedelta(hours=1))
    world.clock.advance(timedelta(hours=2))
    errors = []
    for payload in (secrets.token_urlsafe(32), used, expired, "x"):
        with pytest.raises(InviteRejected) as caught:
            await world.service.redeem(TELEGRAM_ID, payload)
        errors.append((type(caught.value), caught.value.args, str(caught.value)))
    assert len(set(errors)) == 1


async def test_replay_by_the_same_or_another_account_is_refused(world: World) -> None:
    code = await world.invite()
    await world.service.redeem(TELEGRAM_ID, code)
    with pytest.raises(InviteRejected):
        await world.service.redeem(TELEGRAM_ID, code)
    with pytest.raises(InviteRejected):
        await world.service.redeem(OTHER_ID, code)
    assert await world.service.identify(OTHER_ID) is None


async def test_five_failures_lock_the_account_even_for_a_valid_code(world: World) -> None:
    code = await world.invite()
    for _ in range(INVITE_FAILURE_LIMIT):
        with pytest.raises(InviteRejected):
            await world.service.redeem(TELEGRAM_ID, secrets.token_urlsafe(32))
    world.invites.calls.clear()
    with pytest.raises(InviteRejected):
        await world.service.redeem(TELEGRAM_ID, code)
    assert world.redeem_calls() == []  # the valid code was not even tried, nor consumed
    assert world.audit.results("invite_redeem") == ["rejected"] * 5 + ["locked"]
    assert await world.service.identify(TELEGRAM_ID) is None
    # Another account is not affected by this account's lock.
    member = await world.service.redeem(OTHER_ID, code)
    assert member.codename == "Cóndor-7"


async def test_four_failures_do_not_lock(world: World) -> None:
    code = await world.invite()
    for _ in range(INVITE_FAILURE_LIMIT - 1):
        with pytest.raises(InviteRejected):
            await world.service.redeem(TELEGRAM_ID, "bad")
    member = await world.service.redeem(TELEGRAM_ID, code)
    assert member.active


async def test_lock_expires_after_24_hours(world: World) -> None:
    code = await world.invite(ttl=timedelta(hours=72))
    for _ in range(INVITE_FAILURE_LIMIT):
        with pytest.raises(InviteRejected):
            await world.service.redeem(TELEGRAM_ID, "bad")
    world.clock.advance(timedelta(hours=24) - timedelta(seconds=1))
    with pytest.raises(InviteRejected):
        await world.service.redeem(TELEGRAM_ID, code)
    assert world.redeem_calls() == []
    world.clock.advance(timedelta(seconds=1))
    member = await world.service.redeem(TELEGRAM_ID, code)
    assert member.codename == "Cóndor-7"


async def test_locked_attempts_do_not_extend_the_lock(world: World) -> None:
    code = await world.invite(ttl=timedelta(hours=72))
    for _ in range(INVITE_FAILURE_LIMIT):
        with pytest.raises(InviteRejected):
            await world.service.redeem(TELEGRAM_ID, "bad")
    for _ in range(3):
        world.clock.advance(timedelta(hours=6))
        with pytest.raises(InviteRejected):
            await world.service.redeem(TELEGRAM_ID, code)
    world.clock.advance(timedelta(hours=6))
    assert (await world.service.redeem(TELEGRAM_ID, code)).active


async def test_stranger_gets_one_reply_per_24_hours(world: World) -> None:
    assert await world.service.may_answer_stranger(TELEGRAM_ID) is True
    for _ in range(5):
        assert await world.service.may_answer_stranger(TELEGRAM_ID) is False
    world.clock.advance(timedelta(hours=23, minutes=59))
    assert await world.service.may_answer_stranger(TELEGRAM_ID) is False
    assert await world.service.may_answer_stranger(OTHER_ID) is True  # per account
    world.clock.advance(timedelta(minutes=1))
    assert await world.service.may_answer_stranger(TELEGRAM_ID) is True
    # Audited once per answered window, content-free (no actor, no target).
    entries = [e for e in world.audit.entries if e.action == "unregistered_contact"]
    assert [e.result for e in entries] == ["answered"] * 3
    assert all(e.actor_id is None and e.target is None for e in entries)


async def test_identify_returns_only_active_linked_members(world: World) -> None:
    active = world.members.add(make_member(1, codename="Puma-1"), TELEGRAM_ID)
    world.members.add(make_member(2, codename="Puma-2", state=MemberState.SUSPENDED), OTHER_ID)
    assert await world.service.identify(TELEGRAM_ID) == active
    assert await world.service.identify(OTHER_ID) is None
    assert await world.service.identify(555) is None


async def test_choose_lang_stores_and_audits(world: World) -> None:
    member = world.members.add(make_member(3), TELEGRAM_ID)
    updated = await world.service.choose_lang(member, Lang.QU)
    assert updated.lang is Lang.QU
    assert updated.lang_chosen is True
    stored = world.members.members[3]
    assert (stored.lang, stored.lang_chosen) == (Lang.QU, True)
    [entry] = world.audit.entries
    assert (entry.action, entry.result, entry.actor_id, entry.target) == (
        "choose_language",
        "ok",
        3,
        "member:3",
    )


async def test_choosing_the_chosen_language_again_writes_and_audits_nothing(world: World) -> None:
    """T-33 at the service: the second tap returns the member as it is, no write, no row.

    The chat tests reach this only when two taps race; this one reaches it every time, so
    the coverage gate (docs/threat-model.md §9) does not hang on a race's timing.
    """
    member = world.members.add(make_member(5), TELEGRAM_ID)
    chosen = await world.service.choose_lang(member, Lang.QU)
    writes = world.members.calls.count("set_lang")

    again = await world.service.choose_lang(chosen, Lang.QU)

    assert again is chosen
    assert world.members.calls.count("set_lang") == writes
    assert [entry.action for entry in world.audit.entries] == ["choose_language"]


@pytest.mark.parametrize(
    ("state", "linked"),
    [(MemberState.SUSPENDED, True), (MemberState.UNLINKED, False), (MemberState.ACTIVE, False)],
)
async def test_inactive_member_cannot_choose(
    world: World, state: MemberState, linked: bool
) -> None:
    member = make_member(4, state=state, linked=linked)
    world.members.members[4] = member
    with pytest.raises(NotAllowed):
        await world.service.choose_lang(member, Lang.QU)
    assert "set_lang" not in world.members.calls
    assert world.members.members[4].lang is Lang.ES
    assert world.audit.entries == []


def test_system_clock_is_aware_utc_with_dates_in_the_programme_zone() -> None:
    clock = SystemClock(LIMA)
    now = clock.now()
    assert now.tzinfo is UTC
    assert clock.tz is LIMA
    assert clock.today() in {(now + timedelta(hours=h)).astimezone(LIMA).date() for h in (0, 1)}


async def test_a_message_from_a_member_flagged_blocked_clears_the_flag(world: World) -> None:
    """Issue #14.7: whoever writes to the bot has not blocked it, notice or not."""
    member = await world.service.redeem(TELEGRAM_ID, await world.invite())
    await world.members.set_blocked(member.id, True)

    flagged = await world.service.identify(TELEGRAM_ID)
    assert flagged is not None
    assert flagged.blocked  # identify only reads
    seen = await world.service.seen(flagged)
    assert not seen.blocked
    stored = await world.members.get(member.id)
    assert stored is not None
    assert not stored.blocked
    assert [(e.action, e.result) for e in world.audit.entries][-1] == (
        "member_unblocked",
        "message",
    )
    entries = len(world.audit.entries)
    assert await world.service.seen(seen) == seen
    assert len(world.audit.entries) == entries  # nothing to clear any more


@dataclass(slots=True)
class CountingMembers(InMemoryMembers):
    """The in-memory members, counting the writes of the last day seen."""

    written: list[date] = field(default_factory=list)

    async def mark_seen(self, member_id: int, day: date) -> None:
        self.written.append(day)
        await InMemoryMembers.mark_seen(self, member_id, day)


async def test_the_last_day_seen_is_written_once_a_day_and_only_as_a_day() -> None:
    """Issue #16.3: "who has not opened the bot for N days" costs one write per member per
    day, and keeps a date, never a time (docs/threat-model.md, last day seen)."""
    members, clock = CountingMembers(), FakeClock()
    invites = InMemoryInvites(members, InMemoryRegions().seed("Pichari"))
    counters, audit = InMemoryCounters(), InMemoryAudit()
    service = RegistrationService(
        FakeUnitOfWork(members=members, invites=invites, counters=counters, audit=audit), clock
    )
    world = World(members, invites, counters, audit, clock, service)
    member = await service.redeem(TELEGRAM_ID, await world.invite())
    assert member.last_seen is None
    first = await service.seen(member)
    again = await service.seen(first)
    today = clock.now().date()
    assert again.last_seen == today
    assert members.written == [today]  # one write for both updates
    stored = await members.get(member.id)
    assert stored is not None
    assert stored.last_seen == today
    clock.advance(timedelta(days=1))
    await service.seen(again)
    assert members.written == [today, clock.now().date()]
    assert all(type(day) is date for day in members.written)  # a day, never a time
