"""Claim queries (M-04, T-10): own claims only; "not yours" looks exactly like "not found"."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.domain.errors import NotAllowed, NotFound
from bot.domain.models import ClaimEvent, ClaimStatus, MemberState, Role
from bot.domain.pin import PinPass
from bot.services.claims import ClaimService
from tests.services.fakes import T0, FakeUnitOfWork, InMemoryClaims, make_claim, make_member

ME, NEIGHBOUR = 1, 2

MINE_OLD = make_claim(1, member_id=ME, op_date=date(2014, 1, 1), op_id=1)
MINE_NEW = make_claim(2, member_id=ME, op_date=date(2016, 5, 20), op_id=2)
MINE_UNDATED = make_claim(3, member_id=ME, op_date=None, op_id=3)
THEIRS = make_claim(4, member_id=NEIGHBOUR)  # same region, another informant
ELSEWHERE = make_claim(5, member_id=NEIGHBOUR, region="Llochegua")


def _event(claim_id: int, minutes: int, note: str, *, visible: bool) -> ClaimEvent:
    return ClaimEvent(
        claim_id=claim_id,
        at=T0 + timedelta(minutes=minutes),
        status=ClaimStatus.UNDER_REVIEW,
        note=note,
        visible=visible,
    )


EVENTS = [
    _event(2, 0, "registrado", visible=True),
    _event(2, 1, "interno: verificar identidad", visible=False),
    _event(2, 2, "en revisión", visible=True),
    _event(4, 0, "del vecino", visible=True),
]


@pytest.fixture
def repo() -> InMemoryClaims:
    return InMemoryClaims.of(MINE_OLD, MINE_NEW, MINE_UNDATED, THEIRS, ELSEWHERE, events=EVENTS)


async def test_informant_lists_only_own_claims_newest_operation_first(
    repo: InMemoryClaims,
) -> None:
    claims = await ClaimService(FakeUnitOfWork(claims=repo)).list_for(make_member(ME), PinPass())
    assert [c.id for c in claims] == [2, 1, 3]
    assert all(c.member_id == ME for c in claims)


async def test_informant_without_claims_gets_an_empty_list(repo: InMemoryClaims) -> None:
    assert (
        await ClaimService(FakeUnitOfWork(claims=repo)).list_for(make_member(77), PinPass()) == []
    )


@pytest.mark.parametrize("role", [Role.COORDINATOR, Role.ADMIN])
async def test_only_informants_list_own_claims(repo: InMemoryClaims, role: Role) -> None:
    with pytest.raises(NotAllowed):
        await ClaimService(FakeUnitOfWork(claims=repo)).list_for(
            make_member(ME, role=role), PinPass()
        )


@pytest.mark.parametrize(
    ("state", "linked"), [(MemberState.SUSPENDED, True), (MemberState.ACTIVE, False)]
)
async def test_inactive_informant_cannot_list(
    repo: InMemoryClaims, state: MemberState, linked: bool
) -> None:
    with pytest.raises(NotAllowed):
        await ClaimService(FakeUnitOfWork(claims=repo)).list_for(
            make_member(ME, state=state, linked=linked), PinPass()
        )


async def test_informant_history_shows_visible_events_only(repo: InMemoryClaims) -> None:
    claim, events = await ClaimService(FakeUnitOfWork(claims=repo)).history(
        make_member(ME), 2, PinPass()
    )
    assert claim == MINE_NEW
    assert [e.note for e in events] == ["registrado", "en revisión"]
    assert all(e.visible for e in events)
    assert repo.history_calls == [(2, True)]


async def test_history_of_someone_elses_claim_is_not_found(repo: InMemoryClaims) -> None:
    service = ClaimService(FakeUnitOfWork(claims=repo))
    with pytest.raises(NotFound) as theirs:
        await service.history(make_member(ME), THEIRS.id, PinPass())
    with pytest.raises(NotFound) as missing:
        await service.history(make_member(ME), 999, PinPass())
    # Same type, same message: nothing distinguishes "not yours" from "does not exist".
    assert type(theirs.value) is type(missing.value)
    assert theirs.value.args == missing.value.args == ("claim",)
    assert repo.history_calls == []  # nothing was read for a refused request


async def test_suspended_informant_cannot_read_own_history(repo: InMemoryClaims) -> None:
    with pytest.raises(NotFound):
        await ClaimService(FakeUnitOfWork(claims=repo)).history(
            make_member(ME, state=MemberState.SUSPENDED), 2, PinPass()
        )


async def test_coordinator_in_region_sees_internal_notes(repo: InMemoryClaims) -> None:
    coordinator = make_member(50, role=Role.COORDINATOR, regions=("Pichari",))
    _, events = await ClaimService(FakeUnitOfWork(claims=repo)).history(coordinator, 2, PinPass())
    assert [e.note for e in events] == [
        "registrado",
        "interno: verificar identidad",
        "en revisión",
    ]
    assert repo.history_calls == [(2, False)]


async def test_coordinator_outside_region_gets_not_found(repo: InMemoryClaims) -> None:
    coordinator = make_member(50, role=Role.COORDINATOR, regions=("Pichari",))
    with pytest.raises(NotFound):
        await ClaimService(FakeUnitOfWork(claims=repo)).history(
            coordinator, ELSEWHERE.id, PinPass()
        )


async def test_admin_sees_every_region(repo: InMemoryClaims) -> None:
    admin = make_member(60, role=Role.ADMIN, regions=())
    claim, events = await ClaimService(FakeUnitOfWork(claims=repo)).history(
        admin, ELSEWHERE.id, PinPass()
    )
    assert claim == ELSEWHERE
    assert events == []
    assert repo.history_calls == [(ELSEWHERE.id, False)]
