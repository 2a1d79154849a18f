"""PinService (M-05, M-13b, T-15..T-17): set, verify, lockout, reset, duress decoy.

The service runs against in-memory fakes of its ports; the hasher is the real scrypt at a
cheap cost (N = 2**4) except where the production parameters themselves are tested.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import timedelta

import pytest

from bot.domain.errors import NotAllowed, NotFound
from bot.domain.models import Member, Role
from bot.domain.notices import DuressPinUsed, PinLocked
from bot.domain.pin import (
    FIRST_LOCK,
    PROMPT_TTL,
    PinNotSet,
    PinPurpose,
    PinRequired,
    PinStep,
    Resume,
    SessionState,
    Then,
)
from bot.services.pin import (
    SCRYPT_LOG_N,
    PinOutcome,
    PinResult,
    PinService,
    ScryptHasher,
)
from tests.fakes.outbox import InMemoryOutbox
from tests.services.fakes import FakeClock, FakeUnitOfWork, InMemoryAudit, InMemoryMembers
from tests.services.fakes import make_member as _make_member
from tests.services.pin_fakes import InMemoryPins

PIN = "482916"
DURESS = "735204"
OTHER = "559173"  # not a date either (issue #14.8)


@dataclass(frozen=True, slots=True)
class CountingHasher(ScryptHasher):
    """The real hasher, counting ``verify`` calls (each is one real scrypt derivation)."""

    calls: list[str | None] = field(default_factory=list)

    def verify(self, pin: str | None, encoded: str | None) -> bool:
        """Count, then verify for real."""
        self.calls.append(encoded)
        return ScryptHasher.verify(self, pin, encoded)


@dataclass(slots=True)
class World:
    """A PinService and the fakes behind it."""

    service: PinService
    pins: InMemoryPins
    members: InMemoryMembers
    outbox: InMemoryOutbox
    audit: InMemoryAudit
    clock: FakeClock
    hasher: CountingHasher
    informant: Member
    coordinator: Member
    admin: Member


def make_world(*, coordinator_region: str = "Pichari") -> World:
    members = InMemoryMembers()
    informant = members.add(_make_member(1, codename="Cóndor-7"), telegram_id=101)
    coordinator = members.add(
        _make_member(2, role=Role.COORDINATOR, codename="Puma", regions=(coordinator_region,)),
        telegram_id=102,
    )
    admin = members.add(_make_member(3, role=Role.ADMIN, codename="Kuntur", regions=()), 103)
    pins = InMemoryPins(links={101: 1, 102: 2, 103: 3})
    outbox = InMemoryOutbox()
    audit = InMemoryAudit()
    clock = FakeClock()
    hasher = CountingHasher(log_n=4)
    service = PinService(
        uow=FakeUnitOfWork(pins=pins, members=members, outbox=outbox, audit=audit),
        clock=clock,
        hasher=hasher,
        session_ttl=timedelta(minutes=10),
        decoy_unlink_after=timedelta(minutes=11),
    )
    return World(
        service, pins, members, outbox, audit, clock, hasher, informant, coordinator, admin
    )


async def set_pin(world: World, member: Member, pin: str = PIN) -> None:
    assert await world.service.start_change(member) is PinPurpose.NEW
    assert (await world.service.submit(member, pin)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(member, pin)).outcome is PinOutcome.SET


async def set_duress(world: World, member: Member, pin: str = DURESS) -> None:
    assert await world.service.start_duress(member) is PinPurpose.VERIFY
    assert (await world.service.submit(member, PIN)).outcome is PinOutcome.OK
    assert (await world.service.submit(member, pin)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(member, pin)).outcome is PinOutcome.DURESS_SET


async def verify(world: World, member: Member, text: str, then: Then | None = None) -> PinResult:
    await world.service.ask(member, then)
    return await world.service.submit(member, text)


# ---------------------------------------------------------------------- sessions


async def test_informant_without_pin_needs_no_session_but_staff_must_create_one() -> None:
    world = make_world()
    assert await world.service.session(world.informant) is SessionState.NOT_NEEDED
    assert await world.service.session(world.coordinator) is SessionState.CLOSED
    with pytest.raises(PinNotSet):
        await world.service.require_session(world.coordinator)
    with pytest.raises(PinNotSet):
        await world.service.require_session(world.admin)
    # An informant has no privileged action: without a session it is refused as well.
    with pytest.raises(PinRequired) as caught:
        await world.service.require_session(world.informant)
    assert not isinstance(caught.value, PinNotSet)


async def test_a_member_read_without_a_pin_is_answered_without_a_lookup() -> None:
    """``pin_set`` False comes from the member's own row, read in the same update."""
    world = make_world()
    await set_pin(world, world.informant)
    await set_pin(world, world.coordinator)
    fetched = world.pins.gets
    no_pin = replace(world.informant, pin_set=False)
    assert await world.service.session(no_pin) is SessionState.NOT_NEEDED
    assert await world.service.session(replace(world.coordinator, pin_set=False)) is (
        SessionState.CLOSED
    )
    assert world.pins.gets == fetched  # the PIN rows were not read
    assert await world.service.session(replace(no_pin, pin_set=True)) is SessionState.OPEN
    assert world.pins.gets == fetched + 1


async def test_setting_a_pin_needs_two_equal_entries_and_opens_a_session() -> None:
    world = make_world()
    await set_pin(world, world.coordinator)
    assert await world.service.has_pin(world.coordinator)
    assert await world.service.session(world.coordinator) is SessionState.OPEN
    await world.service.require_session(world.coordinator)
    assert world.audit.results("pin_set") == ["ok"]
    record = world.pins.records[2]
    assert record.pin_hash is not None
    assert PIN not in record.pin_hash  # only the salted hash is kept
    assert 2 not in world.pins.prompts


async def test_session_ends_after_its_time_and_the_pin_is_asked_again() -> None:
    world = make_world()
    await set_pin(world, world.coordinator)
    world.clock.advance(timedelta(minutes=10))
    assert await world.service.session(world.coordinator) is SessionState.CLOSED
    with pytest.raises(PinRequired) as caught:
        await world.service.require_session(world.coordinator)
    assert not isinstance(caught.value, PinNotSet)
    assert (await verify(world, world.coordinator, PIN)).outcome is PinOutcome.OK
    await world.service.require_session(world.coordinator)


async def test_a_session_longer_than_ten_minutes_is_refused() -> None:
    world = make_world()
    for ttl in (timedelta(minutes=11), timedelta(0)):
        with pytest.raises(ValueError, match="10 minutes"):
            PinService(
                uow=FakeUnitOfWork(
                    pins=world.pins, members=world.members, outbox=world.outbox, audit=world.audit
                ),
                clock=world.clock,
                session_ttl=ttl,
            )


# ---------------------------------------------------------------------- choosing a PIN


@pytest.mark.parametrize(
    ("text", "outcome"),
    [
        ("12345", PinOutcome.INVALID),
        ("1234567890123", PinOutcome.INVALID),
        ("12a456", PinOutcome.INVALID),
        ("", PinOutcome.INVALID),
        ("111111", PinOutcome.WEAK),
        ("123456", PinOutcome.WEAK),
        ("987654", PinOutcome.WEAK),
    ],
)
async def test_a_bad_new_pin_is_refused_and_the_prompt_stays(
    text: str, outcome: PinOutcome
) -> None:
    world = make_world()
    await world.service.start_change(world.informant)
    assert (await world.service.submit(world.informant, text)).outcome is outcome
    assert world.pins.prompts[1].purpose is PinPurpose.NEW
    assert not await world.service.has_pin(world.informant)


async def test_a_mismatched_confirmation_starts_over() -> None:
    world = make_world()
    await world.service.start_change(world.informant)
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(world.informant, OTHER)).outcome is PinOutcome.MISMATCH
    assert world.pins.prompts[1].purpose is PinPurpose.NEW
    assert not await world.service.has_pin(world.informant)


async def test_changing_a_pin_asks_for_the_current_one_first() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    assert await world.service.start_change(world.informant) is PinPurpose.VERIFY
    result = await world.service.submit(world.informant, PIN)
    assert result == PinResult(PinOutcome.OK, then=PinStep.CHANGE)
    assert world.pins.prompts[1].purpose is PinPurpose.NEW
    assert (await world.service.submit(world.informant, OTHER)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(world.informant, OTHER)).outcome is PinOutcome.SET
    world.clock.advance(timedelta(minutes=11))
    assert (await verify(world, world.informant, PIN)).outcome is PinOutcome.WRONG
    assert (await verify(world, world.informant, OTHER)).outcome is PinOutcome.OK


async def test_even_inside_a_session_changing_either_pin_asks_the_current_one() -> None:
    """Issue #11.2: a real session and a decoy one ask alike, so neither can be told apart."""
    world = make_world()
    await set_pin(world, world.informant)
    assert await world.service.session(world.informant) is SessionState.OPEN
    assert await world.service.start_change(world.informant) is PinPurpose.VERIFY
    assert await world.service.start_duress(world.informant) is PinPurpose.VERIFY
    await set_duress(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    assert (await verify(world, world.informant, DURESS)).outcome is PinOutcome.OK
    assert await world.service.session(world.informant) is SessionState.DECOY
    assert await world.service.start_change(world.informant) is PinPurpose.VERIFY
    assert await world.service.start_duress(world.informant) is PinPurpose.VERIFY


async def test_start_change_refuses_an_inactive_member() -> None:
    world = make_world()
    await world.members.unlink(1)
    unlinked = await world.members.get(1)
    assert unlinked is not None
    with pytest.raises(NotAllowed):
        await world.service.start_change(unlinked)


async def test_the_new_pin_must_differ_from_the_duress_pin() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    await set_duress(world, world.informant)
    assert await world.service.start_change(world.informant) is PinPurpose.VERIFY
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.OK
    assert (await world.service.submit(world.informant, DURESS)).outcome is PinOutcome.CLASH
    assert world.pins.prompts[1].purpose is PinPurpose.NEW


# ---------------------------------------------------------------------- wrong PINs, lockout


async def test_wrong_pins_lock_with_doubling_delays_and_ten_need_a_reset() -> None:
    """T-15: 5 failures → 15 min, then 30, 60, 120, 240; the 10th needs a coordinator."""
    world = make_world()
    await set_pin(world, world.informant)
    start = world.clock.now()
    await world.service.ask(world.informant)
    lefts = [(await world.service.submit(world.informant, OTHER)).attempts_left for _ in range(4)]
    assert lefts == [4, 3, 2, 1]
    fifth = await world.service.submit(world.informant, OTHER)
    assert fifth == PinResult(PinOutcome.LOCKED, locked_until=start + FIRST_LOCK)
    assert await world.service.session(world.informant) is SessionState.CLOSED
    # While locked even the right PIN is refused, without counting as a failure.
    right = await world.service.submit(world.informant, PIN)
    assert right == PinResult(PinOutcome.LOCKED, locked_until=start + FIRST_LOCK)
    assert world.pins.records[1].failures == 5
    assert world.pins.prompts[1].purpose is PinPurpose.VERIFY  # typed PINs still swallowed
    delays = []
    for _ in range(4):  # failures 6..9
        lock = world.pins.records[1].locked_until
        assert lock is not None
        world.clock.current = lock
        result = await verify(world, world.informant, OTHER)  # prompts expire: ask again
        assert result.outcome is PinOutcome.LOCKED
        assert result.locked_until is not None
        delays.append(result.locked_until - world.clock.now())
    assert delays == [FIRST_LOCK * 2, FIRST_LOCK * 4, FIRST_LOCK * 8, FIRST_LOCK * 16]
    assert world.outbox.to(PinLocked.TEMPLATE) == []
    lock = world.pins.records[1].locked_until
    assert lock is not None
    world.clock.current = lock
    tenth = await verify(world, world.informant, OTHER)
    assert tenth == PinResult(PinOutcome.LOCKED, locked_until=None)
    world.clock.advance(timedelta(days=30))
    assert (await verify(world, world.informant, PIN)).outcome is PinOutcome.LOCKED
    assert world.outbox.to(PinLocked.TEMPLATE) == [(2, {"codename": "Cóndor-7"})]
    assert world.audit.results("pin_verify") == ["failed"] * 4 + ["locked"] * 6


async def test_the_right_pin_after_the_lock_opens_a_session_and_clears_failures() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    await world.service.ask(world.informant)
    for _ in range(5):
        await world.service.submit(world.informant, OTHER)
    world.clock.advance(FIRST_LOCK)
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.NO_PROMPT
    assert (await verify(world, world.informant, PIN)).outcome is PinOutcome.OK
    assert world.pins.records[1].failures == 0
    assert await world.service.session(world.informant) is SessionState.OPEN


@pytest.mark.parametrize("text", ["", "abc", "🙂" * 6, "1" * 100, "12 34"])
async def test_malformed_input_is_a_failed_attempt(text: str) -> None:
    """T-16: invalid input counts as a failure and still costs both derivations."""
    world = make_world()
    await set_pin(world, world.informant)
    world.hasher.calls.clear()
    result = await verify(world, world.informant, text)
    assert result == PinResult(PinOutcome.WRONG, attempts_left=4)
    assert len(world.hasher.calls) == 2


@pytest.mark.parametrize(
    "variant", ["\uff14\uff18\uff12\uff19\uff11\uff16", "٤٨٢٩١٦", " 482 916 ", "48\u00a029\t16"]
)
async def test_the_pin_may_be_typed_in_any_digits_or_with_spaces(variant: str) -> None:
    world = make_world()
    await set_pin(world, world.informant)
    assert (await verify(world, world.informant, variant)).outcome is PinOutcome.OK


async def test_a_prompt_left_after_a_reset_counts_a_failure_on_a_fresh_record() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    await world.service.ask(world.informant)
    world.pins.records.pop(1)  # reset in between (the prompt survived)
    result = await world.service.submit(world.informant, PIN)
    assert result == PinResult(PinOutcome.WRONG, attempts_left=4)
    assert world.pins.records[1].failures == 1


async def test_asking_without_a_pin_is_refused_and_a_lock_is_reported() -> None:
    world = make_world()
    with pytest.raises(PinNotSet):
        await world.service.ask(world.informant)
    await set_pin(world, world.informant)
    await world.service.ask(world.informant)
    for _ in range(5):
        await world.service.submit(world.informant, OTHER)
    record = await world.service.ask(world.informant, Resume.CLAIMS)
    lock = record.locked(world.clock.now())
    assert lock is not None
    assert lock.until == world.clock.now() + FIRST_LOCK
    assert world.pins.prompts[1].then is Resume.CLAIMS


async def test_text_without_an_armed_prompt_is_not_a_pin() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.NO_PROMPT
    await world.service.ask(world.informant)
    assert await world.service.prompt_armed_for(101)
    world.clock.advance(PROMPT_TTL)
    assert not await world.service.prompt_armed_for(101)
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.NO_PROMPT
    assert await world.service.purge_prompts() == 1
    await world.service.ask(world.informant)
    await world.service.disarm(world.informant)
    assert not await world.service.prompt_armed_for(101)


# ---------------------------------------------------------------------- duress PIN


async def test_duress_pin_looks_like_success_but_opens_a_decoy_and_warns_quietly() -> None:
    """T-17: same outcome and the same two derivations; coordinator told; unlink scheduled."""
    world = make_world()
    await set_pin(world, world.informant)
    await set_duress(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    world.hasher.calls.clear()
    real = await verify(world, world.informant, PIN, Resume.CLAIMS)
    real_calls = len(world.hasher.calls)
    assert await world.service.session(world.informant) is SessionState.OPEN
    world.clock.advance(timedelta(minutes=11))
    world.hasher.calls.clear()
    duress = await verify(world, world.informant, DURESS, Resume.CLAIMS)
    assert duress == real == PinResult(PinOutcome.OK, then=Resume.CLAIMS)
    assert len(world.hasher.calls) == real_calls == 2
    assert await world.service.session(world.informant) is SessionState.DECOY
    with pytest.raises(PinRequired):
        await world.service.require_session(world.informant)
    assert world.outbox.to(DuressPinUsed.TEMPLATE) == [(2, {"codename": "Cóndor-7"})]
    assert world.audit.results("pin_verify")[-2:] == ["ok", "duress"]
    assert await world.service.due_unlinks() == []
    world.clock.advance(timedelta(minutes=11))
    assert await world.service.due_unlinks() == [1]


async def test_duress_without_a_regional_coordinator_warns_the_administrators() -> None:
    world = make_world(coordinator_region="Llochegua")
    await set_pin(world, world.informant)
    await set_duress(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    await verify(world, world.informant, DURESS)
    assert world.outbox.to(DuressPinUsed.TEMPLATE) == [(3, {"codename": "Cóndor-7"})]


async def test_a_pin_change_inside_a_decoy_pretends_and_stores_nothing() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    await set_duress(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    real_hash = world.pins.records[1].pin_hash
    assert await world.service.start_change(world.informant) is PinPurpose.VERIFY
    result = await world.service.submit(world.informant, DURESS)
    assert result == PinResult(PinOutcome.OK, then=PinStep.CHANGE)
    # Even the real PIN is "accepted" as new (no clash revealed), and nothing changes.
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.SET
    assert world.pins.records[1].pin_hash == real_hash
    assert await world.service.session(world.informant) is SessionState.DECOY
    assert world.audit.results("pin_set")[-1] == "decoy"


async def test_setting_the_duress_pin_after_checking_the_current_one() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    world.clock.advance(timedelta(minutes=11))
    assert await world.service.start_duress(world.informant) is PinPurpose.VERIFY
    result = await world.service.submit(world.informant, PIN)
    assert result == PinResult(PinOutcome.OK, then=PinStep.DURESS)
    assert world.pins.prompts[1].purpose is PinPurpose.DURESS_NEW
    assert (await world.service.submit(world.informant, PIN)).outcome is PinOutcome.CLASH
    assert (await world.service.submit(world.informant, DURESS)).outcome is PinOutcome.CONFIRM
    assert (await world.service.submit(world.informant, OTHER)).outcome is PinOutcome.MISMATCH
    assert world.pins.prompts[1].purpose is PinPurpose.DURESS_NEW
    assert (await world.service.submit(world.informant, DURESS)).outcome is PinOutcome.CONFIRM
    result = await world.service.submit(world.informant, DURESS)
    assert result.outcome is PinOutcome.DURESS_SET
    assert world.pins.records[1].duress_hash is not None
    assert world.audit.results("pin_duress_set") == ["ok"]


async def test_the_duress_pin_is_for_informants_with_a_pin() -> None:
    world = make_world()
    with pytest.raises(PinNotSet):
        await world.service.start_duress(world.informant)
    await set_pin(world, world.coordinator)
    with pytest.raises(NotAllowed):
        await world.service.start_duress(world.coordinator)


# ---------------------------------------------------------------------- reset


async def test_a_coordinator_resets_an_informants_locked_pin() -> None:
    world = make_world()
    await set_pin(world, world.informant)
    for _ in range(10):
        world.clock.advance(timedelta(hours=5))
        await verify(world, world.informant, OTHER)
    assert world.pins.records[1].reset_required
    await set_pin(world, world.coordinator)
    target = await world.service.reset(world.coordinator, " Cóndor-7 ")
    assert target.id == 1
    assert 1 not in world.pins.records
    assert await world.service.session(world.informant) is SessionState.NOT_NEEDED
    entry = world.audit.entries[-1]
    assert (entry.action, entry.actor_id, entry.target) == ("pin_reset", 2, "member:1")


async def test_a_reset_needs_the_coordinators_own_pin_session() -> None:
    world = make_world()
    with pytest.raises(PinNotSet):
        await world.service.reset(world.coordinator, "Cóndor-7")
    await set_pin(world, world.coordinator)
    world.clock.advance(timedelta(minutes=10))
    with pytest.raises(PinRequired):
        await world.service.reset(world.coordinator, "Cóndor-7")


@pytest.mark.parametrize("codename", ["Nadie", "Puma", "Cóndor\u202e-7", ""])
async def test_unknown_foreign_or_malformed_codenames_are_all_not_found(codename: str) -> None:
    world = make_world()
    await set_pin(world, world.coordinator)
    with pytest.raises(NotFound):
        await world.service.reset(world.coordinator, codename)


async def test_a_coordinator_cannot_reset_outside_their_region() -> None:
    world = make_world(coordinator_region="Llochegua")
    await set_pin(world, world.coordinator)
    with pytest.raises(NotFound):
        await world.service.reset(world.coordinator, "Cóndor-7")


# ---------------------------------------------------------------------- the hasher


def test_production_scrypt_parameters_round_trip() -> None:
    hasher = ScryptHasher()
    encoded = hasher.hash(PIN)
    scheme, log_n, r, p, salt, digest = encoded.split("$")
    assert (scheme, int(log_n), int(r), int(p)) == ("scrypt", SCRYPT_LOG_N, 8, 1)
    assert len(bytes.fromhex(salt)) == 16
    assert len(bytes.fromhex(digest)) == 32
    assert hasher.verify(PIN, encoded)
    assert not hasher.verify(OTHER, encoded)
    assert hasher.hash(PIN) != encoded  # a fresh salt every time


@pytest.mark.parametrize(
    "encoded",
    [
        None,
        "",
        "bcrypt$4$8$1$00$00",
        "scrypt$4$8$1$00",
        "scrypt$x$8$1$00$00",
        "scrypt$4$8$1$zz$00",
        "scrypt$30$8$1$00$00",
        "scrypt$4$8$1$$00",
    ],
)
def test_a_missing_or_unreadable_hash_never_matches(encoded: str | None) -> None:
    assert not ScryptHasher(log_n=4).verify(PIN, encoded)


def test_no_pin_never_matches_even_its_own_derivation() -> None:
    hasher = ScryptHasher(log_n=4)
    assert not hasher.verify(None, hasher.hash(""))
