"""The oversight report's arithmetic (issue #16.6): owed, outstanding, lateness, totals."""

from __future__ import annotations

from datetime import UTC, date, datetime

from bot.domain.models import Claim, ClaimStatus, Operation
from bot.domain.oversight import outstanding_cents, owed_cents, summarize

TODAY = date(2026, 3, 14)
HALCON = Operation(id=1, label="Halcón", date=date(2016, 2, 10), region="Ayacucho")
CONDOR = Operation(id=2, label="Cóndor", date=None, region="Pichari")


def claim(
    claim_id: int,
    member_id: int,
    operation: Operation,
    status: ClaimStatus,
    promised: int,
    *,
    approved: int | None = None,
    paid: int = 0,
    promised_date: date | None = None,
) -> Claim:
    return Claim(
        id=claim_id,
        reference=f"R-{claim_id}",
        member_id=member_id,
        operation=operation,
        region=operation.region,
        status=status,
        promised_cents=promised,
        approved_cents=approved,
        paid_cents=paid,
        promised_date=promised_date,
        next_step=None,
        next_step_date=None,
        updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        version=1,
    )


def test_owed_is_the_approved_amount_once_there_is_one_and_nothing_when_rejected() -> None:
    assert owed_cents(claim(1, 1, HALCON, ClaimStatus.UNDER_REVIEW, 1000)) == 1000
    assert owed_cents(claim(1, 1, HALCON, ClaimStatus.APPROVED, 1000, approved=800)) == 800
    assert owed_cents(claim(1, 1, HALCON, ClaimStatus.REJECTED, 1000, approved=800)) == 0
    partly = claim(1, 1, HALCON, ClaimStatus.PARTIALLY_PAID, 1000, approved=800, paid=300)
    assert outstanding_cents(partly) == 500
    overpaid = claim(1, 1, HALCON, ClaimStatus.PAID, 1000, approved=800, paid=900)
    assert outstanding_cents(overpaid) == 0  # never negative


def test_operations_are_summed_and_lateness_measured() -> None:
    claims = [
        claim(1, 10, HALCON, ClaimStatus.APPROVED, 150_000, approved=120_000,
              promised_date=date(2016, 6, 1)),
        claim(2, 11, HALCON, ClaimStatus.PAYMENT_SCHEDULED, 100_000, approved=100_000,
              paid=0, promised_date=date(2026, 3, 4)),
        claim(3, 11, HALCON, ClaimStatus.PAID, 50_000, paid=50_000,
              promised_date=date(2016, 6, 1)),
        claim(4, 10, CONDOR, ClaimStatus.REJECTED, 70_000, promised_date=date(2020, 1, 1)),
    ]  # fmt: skip
    report = summarize(claims, TODAY)
    halcon, condor = report.operations  # dated first, undated last
    assert (halcon.label, halcon.claims, halcon.informants) == ("Halcón", 3, 2)
    assert (halcon.promised_cents, halcon.approved_cents, halcon.paid_cents) == (
        300_000,
        220_000,
        50_000,
    )
    assert halcon.outstanding_cents == 220_000
    assert halcon.overdue == 2
    assert halcon.longest_delay_days == (TODAY - date(2016, 6, 1)).days
    assert (condor.outstanding_cents, condor.overdue, condor.longest_delay_days) == (0, 0, 0)
    totals = report.totals
    assert (totals.claims, totals.informants, totals.promised_cents) == (4, 2, 370_000)
    assert totals.outstanding_cents == 220_000
    assert totals.operation_id is None
    assert report.delays == ((TODAY - date(2016, 6, 1)).days, 10)


def test_no_claims_make_an_empty_report() -> None:
    report = summarize([], TODAY)
    assert report.operations == ()
    assert (report.totals.claims, report.totals.promised_cents, report.delays) == (0, 0, ())


def test_operations_are_keyed_by_id_with_their_offer_and_unassigned_share() -> None:
    # Two operations under one label (two records of a name) stay two lines, each with its
    # own offer; a claim without its own date is overdue from its operation's pay-by date.
    first = Operation(
        id=7,
        label="Halcón",
        date=date(2016, 2, 10),
        region="Ayacucho",
        total_cents=500_000,
        pay_by=date(2017, 1, 1),
    )
    second = Operation(
        id=8, label="Halcón", date=date(2016, 2, 10), region="Ayacucho", total_cents=90_000
    )
    claims = [
        claim(1, 10, first, ClaimStatus.APPROVED, 150_000),
        claim(2, 11, first, ClaimStatus.REJECTED, 100_000),
        claim(3, 10, second, ClaimStatus.UNDER_REVIEW, 100_000),
    ]  # fmt: skip
    report = summarize(claims, TODAY)
    one, two = report.operations
    assert (one.operation_id, one.offered_cents, one.pay_by) == (7, 500_000, date(2017, 1, 1))
    assert one.unassigned_cents == 250_000  # a rejected claim's share is still assigned
    assert (one.overdue, one.longest_delay_days) == (1, (TODAY - date(2017, 1, 1)).days)
    assert (two.operation_id, two.unassigned_cents) == (8, -10_000)  # shares over the offer
    assert (report.totals.offered_cents, report.totals.unassigned_cents) == (590_000, 240_000)


def test_an_operation_without_claims_is_reported_with_its_whole_offer() -> None:
    offer = Operation(id=3, label="Cóndor", date=None, region="Pichari", total_cents=80_000)
    report = summarize([], TODAY, [offer, HALCON])
    assert [line.operation_id for line in report.operations] == [1, 3]
    assert report.operations[1].unassigned_cents == 80_000
    assert report.operations[0].unassigned_cents is None  # no offer recorded
    # Shares counted elsewhere (other regions of a filtered report) are subtracted too.
    filtered = summarize([], TODAY, [offer], assigned={3: 30_000})
    assert filtered.operations[0].unassigned_cents == 50_000
