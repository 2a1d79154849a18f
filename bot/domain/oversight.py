"""Whether promises are kept: per-operation sums and lateness of reward claims (#16.6).

Pure arithmetic over claims, so the CLI report, its JSON and its HTML page (and later a chat
summary) all show the same figures. Money is integer céntimos of PEN throughout.

What is *owed* on a claim is its approved amount once there is one, else its promised share;
a rejected claim owes nothing. *Outstanding* is what is owed minus what was paid, never below
zero. A claim is *overdue* when it is still open past its promised payment date
(``Claim.days_overdue``); the longest delay is the largest such count of days.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from bot.domain.models import Claim, ClaimStatus


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


@dataclass(frozen=True, slots=True)
class OperationsReport:
    """Every operation with claims (oldest first) and the totals, as of ``today``."""

    today: date
    operations: tuple[OperationSummary, ...]
    totals: OperationSummary
    #: Days overdue of every overdue claim, longest first (how long informants have waited).
    delays: tuple[int, ...]


def _summary(
    claims: list[Claim], today: date, operation_id: int | None, label: str
) -> OperationSummary:
    first = claims[0] if claims else None
    delays = [claim.days_overdue(today) for claim in claims]
    return OperationSummary(
        operation_id=operation_id,
        label=label,
        date=first.operation.date if first and operation_id is not None else None,
        region=first.operation.region if first and operation_id is not None else "",
        claims=len(claims),
        informants=len({claim.member_id for claim in claims}),
        promised_cents=sum(claim.promised_cents for claim in claims),
        approved_cents=sum(claim.approved_cents or 0 for claim in claims),
        paid_cents=sum(claim.paid_cents for claim in claims),
        outstanding_cents=sum(outstanding_cents(claim) for claim in claims),
        overdue=sum(1 for days in delays if days > 0),
        longest_delay_days=max(delays, default=0),
    )


def summarize(claims: Iterable[Claim], today: date) -> OperationsReport:
    """Group claims by operation; operations by date (undated last), then label."""
    every = list(claims)
    by_operation: dict[int, list[Claim]] = {}
    for claim in every:
        by_operation.setdefault(claim.operation.id, []).append(claim)
    lines = [
        _summary(group, today, operation_id, group[0].operation.label)
        for operation_id, group in by_operation.items()
    ]
    lines.sort(key=lambda line: (line.date is None, line.date or today, line.label))
    delays = sorted((d for d in (c.days_overdue(today) for c in every) if d > 0), reverse=True)
    return OperationsReport(
        today=today,
        operations=tuple(lines),
        totals=_summary(every, today, None, "Total"),
        delays=tuple(delays),
    )
