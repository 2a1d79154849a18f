"""Whether promises are kept: per-operation sums and lateness of reward claims (#16.6).

Pure arithmetic over claims, so the CLI report, its JSON and its HTML page (and later a chat
summary) all show the same figures. Money is integer céntimos of PEN throughout.

What is *owed* on a claim is its approved amount once there is one, else its promised share;
a rejected claim owes nothing. *Outstanding* is what is owed minus what was paid, never below
zero. A claim is *overdue* when it is still open past its promised payment date: its own,
else its operation's (``Claim.due_date`` and ``Claim.days_overdue``, the one rule the claims
domain uses too); the longest delay is the largest such count of days.

Operations are keyed by their id, never by their label. Next to its claims' sums each line
shows what the operation's record says: the total reward *offered* and the payment date
promised for it (``pay_by``), and the share of the offer *unassigned* to any claim: the
offer minus the promised shares of all its claims, counted like ``bot.domain.claims``
checks shares (every claim, rejected ones too, in every region). It is negative when the
shares add up to more than the offer (claims imported before the total was recorded).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date

from bot.domain.models import Claim, ClaimStatus, Day, Operation


def owed_cents(claim: Claim) -> int:
    """What the programme owes on this claim (0 once rejected)."""
    if claim.status is ClaimStatus.REJECTED:
        return 0
    return claim.approved_cents if claim.approved_cents is not None else claim.promised_cents


def outstanding_cents(claim: Claim) -> int:
    """What is owed and not yet paid (never negative)."""
    return max(0, owed_cents(claim) - claim.paid_cents)


@dataclass(frozen=True, slots=True)
class OperationSummary:
    """One operation's line of the report (the totals line has ``operation_id`` None)."""

    operation_id: int | None
    label: str
    date: date | None
    region: str
    claims: int
    informants: int
    promised_cents: int
    approved_cents: int
    paid_cents: int
    outstanding_cents: int
    overdue: int
    longest_delay_days: int
    #: The total reward offered (None: not recorded; in the totals, the recorded ones added).
    offered_cents: int | None = None
    #: The operation's promised payment date (None in the totals).
    pay_by: Day | None = None
    #: The offer minus the promised shares of all the operation's claims (None: no offer).
    unassigned_cents: int | None = None


@dataclass(frozen=True, slots=True)
class OperationsReport:
    """Every operation with claims (oldest first) and the totals, as of ``today``."""

    today: date
    operations: tuple[OperationSummary, ...]
    totals: OperationSummary
    #: Days overdue of every overdue claim, longest first (how long informants have waited).
    delays: tuple[int, ...]


def _summary(
    claims: list[Claim],
    today: date,
    operation: Operation | None,
    assigned_cents: int,
) -> OperationSummary:
    """One operation's line (``operation`` None: the totals line, filled in by the caller)."""
    delays = [claim.days_overdue(today) for claim in claims]
    offered = operation.total_cents if operation else None
    return OperationSummary(
        operation_id=operation.id if operation else None,
        label=operation.label if operation else "Total",
        date=operation.date if operation else None,
        region=operation.region if operation else "",
        claims=len(claims),
        informants=len({claim.member_id for claim in claims}),
        promised_cents=sum(claim.promised_cents for claim in claims),
        approved_cents=sum(claim.approved_cents or 0 for claim in claims),
        paid_cents=sum(claim.paid_cents for claim in claims),
        outstanding_cents=sum(outstanding_cents(claim) for claim in claims),
        overdue=sum(1 for days in delays if days > 0),
        longest_delay_days=max(delays, default=0),
        offered_cents=offered,
        pay_by=operation.pay_by if operation else None,
        unassigned_cents=None if offered is None else offered - assigned_cents,
    )


def assigned_shares(claims: Iterable[Claim]) -> dict[int, int]:
    """Per operation id, the promised shares of its claims added up (as ``check_shares``)."""
    shares: dict[int, int] = {}
    for claim in claims:
        shares[claim.operation.id] = shares.get(claim.operation.id, 0) + claim.promised_cents
    return shares


def summarize(
    claims: Iterable[Claim],
    today: date,
    operations: Iterable[Operation] = (),
    *,
    assigned: Mapping[int, int] | None = None,
) -> OperationsReport:
    """Group claims by operation id; operations by date (undated last), label, then id.

    ``operations`` adds operations that have no claim here (an offer not yet shared out);
    ``assigned`` is every operation's promised shares (``assigned_shares`` of all claims,
    whatever the report's filter), by default those of ``claims``.
    """
    every = list(claims)
    shares = assigned_shares(every) if assigned is None else assigned
    by_operation: dict[int, list[Claim]] = {}
    known: dict[int, Operation] = {}
    for claim in every:
        by_operation.setdefault(claim.operation.id, []).append(claim)
        known.setdefault(claim.operation.id, claim.operation)
    for operation in operations:
        by_operation.setdefault(operation.id, [])
        known[operation.id] = operation
    lines = [
        _summary(group, today, known[operation_id], shares.get(operation_id, 0))
        for operation_id, group in by_operation.items()
    ]
    lines.sort(
        key=lambda line: (
            line.date is None,
            line.date or today,
            line.label,
            line.operation_id or 0,
        )
    )
    delays = sorted((d for d in (c.days_overdue(today) for c in every) if d > 0), reverse=True)
    offers = [line.offered_cents for line in lines if line.offered_cents is not None]
    unassigned = [line.unassigned_cents for line in lines if line.unassigned_cents is not None]
    totals = replace(
        _summary(every, today, None, 0),
        offered_cents=sum(offers) if offers else None,
        unassigned_cents=sum(unassigned) if unassigned else None,
    )
    return OperationsReport(
        today=today,
        operations=tuple(lines),
        totals=totals,
        delays=tuple(delays),
    )
