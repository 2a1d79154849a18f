"""The rules of a claim's life (issue #16.1): each refusal with its reason, and properties.

The property tests run random sequences of every command a coordinator has (status changes,
payments, amounts, next steps) from a fresh claim and check after each step that the claim
is consistent (``problems`` is empty) and that a refused command changed nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st

from bot.domain.claims import (
    IMPORT_METHOD,
    ClaimChange,
    ClaimRefused,
    NewOperation,
    OperationUpdate,
    Payment,
    Rule,
    change_status,
    check_shares,
    edit_operation,
    imported_payment,
    manual_targets,
    problems,
    record_payment,
    set_amounts,
    set_next_step,
)
from bot.domain.errors import ValidationError
from bot.domain.models import Claim, ClaimStatus, Operation
from bot.services.claims_import import IMPORT_STATUSES, REQUIRED_COLUMNS, parse_row

NOW = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)
OPERATION = Operation(1, "Tornado 2016", date(2016, 5, 20), "Pichari", total_cents=200_000_000)
CLAIM = Claim(
    id=7,
    reference="R-2016-0007",
    member_id=3,
    operation=OPERATION,
    region="Pichari",
    status=ClaimStatus.REGISTERED,
    promised_cents=10_000_000,
    approved_cents=None,
    paid_cents=0,
    promised_date=None,
    next_step=None,
    next_step_date=None,
    updated_at=NOW,
    version=1,
)


def _approved(cents: int = 10_000_000) -> Claim:
    review = change_status(CLAIM, ClaimStatus.UNDER_REVIEW, now=NOW).after
    return change_status(review, ClaimStatus.APPROVED, now=NOW, approved_cents=cents).after


def _refused(rule: Rule) -> pytest.RaisesExc[ClaimRefused]:
    return pytest.raises(ClaimRefused, check=lambda exc: exc.rule is rule)


def test_the_happy_path_ends_paid_and_closed() -> None:
    claim = _approved()
    scheduled = change_status(claim, ClaimStatus.PAYMENT_SCHEDULED, now=NOW).after
    part = record_payment(
        scheduled, Payment(4_000_000, date(2026, 3, 1), "transferencia", "OP-1"), now=NOW
    ).after
    assert part.status is ClaimStatus.PARTIALLY_PAID
    assert part.closed_at is None
    paid = record_payment(part, Payment(6_000_000, date(2026, 3, 2), "efectivo"), now=NOW).after
    assert paid.status is ClaimStatus.PAID
    assert paid.paid_cents == 10_000_000
    assert paid.closed_at == NOW
    assert problems(paid) == []


def test_invalid_transition_is_refused_with_its_reason() -> None:
    with _refused(Rule.TRANSITION) as caught:
        change_status(CLAIM, ClaimStatus.PAYMENT_SCHEDULED, now=NOW)
    assert str(caught.value) == "the claim's status cannot change that way"


def test_paid_cannot_be_set_by_hand() -> None:
    with _refused(Rule.BY_PAYMENT):
        change_status(_approved(), ClaimStatus.PAID, now=NOW)


def test_a_rejection_needs_a_reason_and_closes_until_reopened() -> None:
    with _refused(Rule.REASON_REQUIRED):
        change_status(CLAIM, ClaimStatus.REJECTED, now=NOW, note="   ")
    rejected = change_status(CLAIM, ClaimStatus.REJECTED, now=NOW, note="Sin pruebas").after
    assert rejected.closed_at == NOW
    reopened = change_status(rejected, ClaimStatus.REOPENED, now=NOW + timedelta(days=1))
    assert reopened.after.closed_at is None
    assert reopened.after.status is ClaimStatus.REOPENED


@pytest.mark.parametrize("cents", [0, -100])
def test_payments_must_be_positive(cents: int) -> None:
    with _refused(Rule.NEGATIVE):
        record_payment(_approved(), Payment(cents, date(2026, 3, 1), "efectivo"), now=NOW)


def test_overpaying_is_refused() -> None:
    claim = _approved(5_000_000)
    with _refused(Rule.OVERPAYMENT):
        record_payment(claim, Payment(5_000_001, date(2026, 3, 1), "efectivo"), now=NOW)


def test_a_claim_imported_as_approved_is_paid_up_to_its_promised_share() -> None:
    imported = replace(CLAIM, status=ClaimStatus.APPROVED)  # the import sets no approved amount
    with _refused(Rule.OVERPAYMENT):
        record_payment(imported, Payment(10_000_001, date(2026, 3, 1), "efectivo"), now=NOW)
    paid = record_payment(imported, Payment(10_000_000, date(2026, 3, 1), "efectivo"), now=NOW)
    assert paid.after.status is ClaimStatus.PAID
    assert paid.after.approved_cents == 10_000_000
    assert problems(paid.after) == []


def test_nothing_is_paid_before_approval() -> None:
    with _refused(Rule.NOT_PAYABLE):
        record_payment(CLAIM, Payment(100, date(2026, 3, 1), "efectivo"), now=NOW)


def test_approval_above_the_promise_or_below_what_was_paid_is_refused() -> None:
    review = change_status(CLAIM, ClaimStatus.UNDER_REVIEW, now=NOW).after
    with _refused(Rule.ABOVE_PROMISED):
        change_status(review, ClaimStatus.APPROVED, now=NOW, approved_cents=10_000_001)
    part = record_payment(
        _approved(), Payment(3_000_000, date(2026, 3, 1), "efectivo"), now=NOW
    ).after
    with _refused(Rule.BELOW_PAID):
        set_amounts(part, now=NOW, approved_cents=2_000_000)


def test_shares_above_the_operations_total_are_refused() -> None:
    with _refused(Rule.OVER_TOTAL):
        set_amounts(
            CLAIM,
            now=NOW,
            promised_cents=50_000_001,
            other_shares_cents=150_000_000,
            operation_total_cents=200_000_000,
        )
    check_shares(200_000_000, [150_000_000, 50_000_000])  # exactly the total is fine
    check_shares(None, [10**12])  # no total declared: no limit


def test_next_step_on_a_closed_claim_is_refused() -> None:
    rejected = change_status(CLAIM, ClaimStatus.REJECTED, now=NOW, note="Sin pruebas").after
    with _refused(Rule.CLOSED):
        set_next_step(rejected, "Cita", date(2026, 4, 1), now=NOW)


def test_new_operation_needs_a_positive_total() -> None:
    with _refused(Rule.NEGATIVE):
        NewOperation("Tornado 2016", None, "Pichari", 0)


def test_days_overdue_fall_back_to_the_operations_promised_date() -> None:
    claim = replace(CLAIM, operation=replace(OPERATION, pay_by=date(2026, 3, 4)))
    assert claim.days_overdue(date(2026, 3, 14)) == 10
    closed = change_status(claim, ClaimStatus.REJECTED, now=NOW, note="x").after
    assert closed.days_overdue(date(2026, 3, 14)) == 0


# --------------------------------------------------------------------------- properties

_AMOUNTS = st.integers(min_value=-1_000, max_value=12_000_000)
_NOTES = st.sampled_from([None, "", "motivo", "x" * 600])


def _command(data: st.DataObject, claim: Claim) -> ClaimChange:
    """Draw one command, mostly plausible ones (an allowed next status, what is still
    owed give or take a céntimo) so that long sequences reach every status."""
    kind = data.draw(
        st.sampled_from(["status", "status", "pay", "pay_owed", "amounts", "approve_paid", "step"])
    )
    if kind == "status":
        allowed = sorted(manual_targets(claim.status))
        plausible = bool(allowed) and data.draw(st.booleans())
        status = data.draw(st.sampled_from(allowed if plausible else list(ClaimStatus)))
        approved = data.draw(st.one_of(st.none(), _AMOUNTS))
        return change_status(
            claim, status, now=NOW, note=data.draw(_NOTES), approved_cents=approved
        )
    if kind in {"pay", "pay_owed"}:
        owed = (claim.approved_cents or 0) - claim.paid_cents
        amount = (
            data.draw(_AMOUNTS)
            if kind == "pay"
            else owed + data.draw(st.integers(min_value=-2, max_value=2))
        )
        return record_payment(claim, Payment(amount, date(2026, 3, 1), "efectivo"), now=NOW)
    if kind == "approve_paid":
        delta = data.draw(st.integers(min_value=-2, max_value=2))
        return set_amounts(claim, now=NOW, approved_cents=claim.paid_cents + delta)
    if kind == "amounts":
        return set_amounts(
            claim,
            now=NOW,
            promised_cents=data.draw(st.one_of(st.none(), _AMOUNTS)),
            approved_cents=data.draw(st.one_of(st.none(), _AMOUNTS)),
            other_shares_cents=190_000_000,
            operation_total_cents=OPERATION.total_cents,
        )
    step = data.draw(st.sampled_from([None, "Cita", "x" * 600]))
    return set_next_step(claim, step, date(2026, 4, 1), now=NOW, note=data.draw(_NOTES))


@settings(max_examples=300, deadline=None)
@given(st.data(), st.integers(min_value=1, max_value=30))
def test_no_command_sequence_reaches_an_inconsistent_claim(
    data: st.DataObject, steps: int
) -> None:
    claim = CLAIM
    payments = 0
    for _ in range(steps):
        try:
            change = _command(data, claim)
        except ClaimRefused:
            continue  # refused: the claim is untouched (it is an immutable value)
        assert change.before is claim
        if change.payment is not None:
            payments += change.payment.amount_cents
        claim = replace(change.after, version=claim.version + 1)
        assert problems(claim) == [], claim
        # The paid sum is exactly the sum of the payments recorded (reports read it).
        assert claim.paid_cents == payments
        # The operation's total holds: the other shares plus this one.
        assert 190_000_000 + claim.promised_cents <= 200_000_000


@given(st.sampled_from(list(ClaimStatus)))
def test_manual_targets_never_offer_a_status_payments_decide(status: ClaimStatus) -> None:
    assert not manual_targets(status) & {ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID}


# ------------------------------------------------------------ operations edited (#16.3)


def test_an_operation_edit_names_only_what_changed_and_checks_the_new_total() -> None:
    imported = Operation(id=3, label="Halcón", date=None, region="Pichari")  # no total yet
    after, changed = edit_operation(imported, OperationUpdate(pay_by=date(2017, 1, 1)), 500)
    assert (changed, after.total_cents) == (("pay_by",), None)
    assert edit_operation(imported, OperationUpdate(region="PICHARI"), 0) == (imported, ())
    after, changed = edit_operation(imported, OperationUpdate(promised_by="  Comando "), 0)
    assert (changed, after.promised_by) == (("promised_by",), "Comando")
    for update, rule in (
        (OperationUpdate(total_cents=499), Rule.BELOW_SHARES),
        (OperationUpdate(total_cents=0), Rule.NEGATIVE),
        (OperationUpdate(basis="x" * 501), Rule.TOO_LONG),
    ):
        with pytest.raises(ClaimRefused) as refused:
            edit_operation(imported, update, 500)
        assert refused.value.rule is rule
    assert edit_operation(imported, OperationUpdate(total_cents=500), 500)[1] == ("total_cents",)


@st.composite
def _imported_claim(draw: st.DrawFn) -> tuple[Claim, list[Payment]]:
    """A claim as ``chaski claims import`` stores it: the row parsed by the import, its paid
    amount as the one imported payment (``imported_payment``), no approved amount."""
    status = draw(st.sampled_from(sorted(IMPORT_STATUSES)))
    promised = draw(st.integers(min_value=1, max_value=10_000_000))
    paid = draw(st.one_of(st.none(), st.integers(min_value=0, max_value=promised)))
    record = dict.fromkeys(REQUIRED_COLUMNS, "")
    record |= {
        "reference": "R-2016-0007",
        "codename": "Puma",
        "operation": "Tornado 2016",
        "region": "Pichari",
        "status": str(status),
        "promised_amount": f"{promised // 100}.{promised % 100:02d}",
        "paid_amount": "" if paid is None else f"{paid // 100}.{paid % 100:02d}",
        "status_date": "2025-11-03",
    }
    try:
        row = parse_row(2, record)
    except ValidationError:  # e.g. partially paid with nothing or everything paid
        reject()
    on = row.status_date or date(2026, 3, 14)
    payment = imported_payment(row.paid_cents, on)
    claim = replace(
        CLAIM,
        status=row.status,
        promised_cents=row.promised_cents,
        paid_cents=row.paid_cents or 0,
    )
    return claim, [] if payment is None else [payment]


@settings(max_examples=300, deadline=None)
@given(_imported_claim(), st.data(), st.integers(min_value=1, max_value=20))
def test_after_an_import_the_paid_total_stays_the_sum_of_the_payments(
    imported: tuple[Claim, list[Payment]], data: st.DataObject, steps: int
) -> None:
    """Issue #16.6: an imported paid amount is a payment marked imported; whatever the chat
    does next, the paid total is the sum of the imported payment and those recorded."""
    claim, payments = imported
    assert all(p.imported and p.method == IMPORT_METHOD for p in payments)
    assert claim.paid_cents == sum(p.amount_cents for p in payments)
    for _ in range(steps):
        try:
            change = _command(data, claim)
        except ClaimRefused:
            continue
        if change.payment is not None:
            assert not change.payment.imported  # only an import makes an imported payment
            payments.append(change.payment)
        claim = replace(change.after, version=claim.version + 1)
        assert claim.paid_cents == sum(p.amount_cents for p in payments)
        assert claim.paid_cents <= claim.promised_cents


def test_the_promise_cannot_go_below_what_an_import_says_was_paid() -> None:
    """Issue #16.6: a claim imported as approved with a paid amount has no approved amount;
    lowering its promised share below what was paid would leave it overpaid."""
    imported = replace(CLAIM, status=ClaimStatus.APPROVED, paid_cents=4_000_000)
    with _refused(Rule.PROMISED_BELOW_PAID):
        set_amounts(imported, now=NOW, promised_cents=3_999_999)
    assert set_amounts(imported, now=NOW, promised_cents=4_000_000).after.promised_cents == (
        4_000_000
    )
