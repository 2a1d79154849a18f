"""Claim life cycle, overdue days and member basics (docs/architecture.md §8).

The expected transition table is written out here on purpose, independently of
``ALLOWED_TRANSITIONS``: every one of the 64 (old, new) pairs is checked, so widening or
narrowing the life cycle has to be a deliberate change in two places.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import pytest

from bot.domain.models import (
    ALLOWED_TRANSITIONS,
    CLOSED_STATUSES,
    ClaimStatus,
    MemberState,
    can_transition,
)
from tests.services.fakes import make_claim, make_member

S = ClaimStatus

#: docs/architecture.md §8: registered → under review → approved → payment scheduled → paid, with
#: partially paid, rejected (with a reason) and reopened (appeal).
EXPECTED: dict[ClaimStatus, set[ClaimStatus]] = {
    S.REGISTERED: {S.UNDER_REVIEW, S.REJECTED},
    S.UNDER_REVIEW: {S.APPROVED, S.REJECTED},
    S.APPROVED: {S.PAYMENT_SCHEDULED, S.PARTIALLY_PAID, S.PAID},
    S.PAYMENT_SCHEDULED: {S.PARTIALLY_PAID, S.PAID},
    S.PARTIALLY_PAID: {S.PAYMENT_SCHEDULED, S.PAID},
    S.PAID: set(),
    S.REJECTED: {S.REOPENED},
    S.REOPENED: {S.UNDER_REVIEW, S.REJECTED},
}

PAIRS = [(old, new) for old in ClaimStatus for new in ClaimStatus]


@pytest.mark.parametrize(("old", "new"), PAIRS, ids=[f"{o}->{n}" for o, n in PAIRS])
def test_every_transition_pair_is_allowed_or_refused_as_specified(
    old: ClaimStatus, new: ClaimStatus
) -> None:
    assert can_transition(old, new) is (new in EXPECTED[old])


def test_table_covers_every_status() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(ClaimStatus)


def test_no_status_transitions_to_itself() -> None:
    assert not any(can_transition(status, status) for status in ClaimStatus)


def test_nothing_returns_to_registered_and_paid_is_terminal() -> None:
    assert not any(can_transition(status, S.REGISTERED) for status in ClaimStatus)
    assert not any(can_transition(S.PAID, status) for status in ClaimStatus)


def test_every_status_is_reachable_and_every_open_claim_can_still_be_paid() -> None:
    reachable = {S.REGISTERED}
    frontier = [S.REGISTERED]
    while frontier:
        for nxt in ALLOWED_TRANSITIONS[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(ClaimStatus)

    def leads_to_paid(start: ClaimStatus) -> bool:
        seen, todo = {start}, [start]
        while todo:
            for nxt in ALLOWED_TRANSITIONS[todo.pop()]:
                if nxt is S.PAID:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    assert all(leads_to_paid(status) for status in set(ClaimStatus) - {S.PAID})


def test_closed_statuses_are_paid_and_rejected() -> None:
    assert frozenset({S.PAID, S.REJECTED}) == CLOSED_STATUSES


PROMISED = date(2026, 3, 1)


@pytest.mark.parametrize(
    ("today", "expected"),
    [
        (date(2026, 2, 1), 0),  # long before the promised date
        (date(2026, 2, 28), 0),  # the day before
        (PROMISED, 0),  # on the day itself nothing is late yet
        (date(2026, 3, 2), 1),
        (date(2026, 4, 1), 31),
        (date(2027, 3, 1), 365),
    ],
)
def test_days_overdue_counts_days_after_the_promised_date(today: date, expected: int) -> None:
    claim = make_claim(status=S.PAYMENT_SCHEDULED, promised_date=PROMISED)
    assert claim.days_overdue(today) == expected


@pytest.mark.parametrize("status", sorted(set(ClaimStatus) - CLOSED_STATUSES))
def test_every_open_status_can_be_overdue(status: ClaimStatus) -> None:
    claim = make_claim(status=status, promised_date=PROMISED)
    assert claim.days_overdue(date(2026, 3, 11)) == 10


@pytest.mark.parametrize("status", sorted(CLOSED_STATUSES))
def test_closed_claims_are_never_overdue(status: ClaimStatus) -> None:
    claim = make_claim(status=status, promised_date=PROMISED)
    assert claim.days_overdue(date(2030, 1, 1)) == 0


@pytest.mark.parametrize("status", list(ClaimStatus))
def test_claims_without_a_promised_date_are_never_overdue(status: ClaimStatus) -> None:
    claim = make_claim(status=status, promised_date=None)
    assert claim.days_overdue(date(2030, 1, 1)) == 0


@pytest.mark.parametrize(
    ("state", "linked", "active"),
    [
        (MemberState.ACTIVE, True, True),
        (MemberState.ACTIVE, False, False),
        (MemberState.SUSPENDED, True, False),
        (MemberState.SUSPENDED, False, False),
        (MemberState.UNLINKED, True, False),
        (MemberState.UNLINKED, False, False),
    ],
)
def test_member_is_active_only_when_active_and_linked(
    state: MemberState, linked: bool, active: bool
) -> None:
    assert make_member(state=state, linked=linked).active is active


def test_member_region_is_the_first_region_or_none() -> None:
    member = make_member(regions=("Kimbiri", "Pichari"))
    assert member.region == "Kimbiri"
    assert replace(member, regions=()).region is None


def test_blocked_does_not_change_activity() -> None:
    """Blocking the bot is recorded separately (R-06); the member is still enrolled."""
    assert make_member(blocked=True).active is True
