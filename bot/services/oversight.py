"""Oversight for administrators: every claim exported, and whether promises are kept (#16.6).

The CLI runs on the server by someone holding the database and its keys, so it needs no
``authorize()`` call (like ``bot.services.members``). The chat summary (``/informe``) is the
same report through ``report_for``: it asks the one ``authorize()`` (``VIEW_REPORT`` on the
member's regions, M-04) and is scoped to them, an administrator's to everything. Every read
is audited (action and row count, never a value): an export leaves the server with every
codename, and a report in chat ends up on a phone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.domain.errors import NotAllowed, ValidationError
from bot.domain.models import Claim, ClaimStatus, Member, Role
from bot.domain.oversight import (
    OperationsReport,
    assigned_shares,
    outstanding_cents,
    owed_cents,
    summarize,
)
from bot.domain.ports import (
    Clock,
    UnitOfWork,
)
from bot.services.authz import Action, authorize


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One claim as exported: the import's columns plus what the record says today."""

    reference: str
    codename: str
    operation: str
    operation_date: date | None
    region: str
    status: ClaimStatus
    promised_cents: int
    approved_cents: int | None
    paid_cents: int
    owed_cents: int
    outstanding_cents: int
    promised_date: date | None
    #: The operation's promised payment date: overdue counts from it without ``promised_date``.
    operation_pay_by: date | None
    days_overdue: int
    next_step: str | None
    next_step_date: date | None


@dataclass(frozen=True, slots=True)
class OversightService:
    """``chaski claims export`` and ``chaski report operations``."""

    uow: UnitOfWork
    clock: Clock

    async def _claims(self, region: str | None, status: ClaimStatus | None) -> list[Claim]:
        """The claims asked for; a mistyped region is an error, not an empty result.

        Raises:
            ValidationError: ``region`` does not exist.
        """
        if region is not None and await self.uow.regions.get(region.strip()) is None:
            raise ValidationError("region: unknown (see chaski region list)")
        return await self.uow.claim_lister.list_all(
            region=region.strip() if region else None, status=status
        )

    async def export(
        self, *, region: str | None = None, status: ClaimStatus | None = None
    ) -> list[ExportRow]:
        """Every claim matching the filters, with its informant's codename; audited."""
        claims = await self._claims(region, status)
        codenames = {member.id: member.codename for member in await self.uow.members.list_all()}
        today = self.clock.today()
        rows = [
            ExportRow(
                reference=claim.reference,
                codename=codenames.get(claim.member_id, ""),
                operation=claim.operation.label,
                operation_date=claim.operation.date,
                region=claim.region,
                status=claim.status,
                promised_cents=claim.promised_cents,
                approved_cents=claim.approved_cents,
                paid_cents=claim.paid_cents,
                owed_cents=owed_cents(claim),
                outstanding_cents=outstanding_cents(claim),
                promised_date=claim.promised_date,
                operation_pay_by=claim.operation.pay_by,
                days_overdue=claim.days_overdue(today),
                next_step=claim.next_step,
                next_step_date=claim.next_step_date,
            )
            for claim in claims
        ]
        await self.uow.audit.record(
            action="claims_export", result=f"rows:{len(rows)}", now=self.clock.now()
        )
        return rows

    async def operations_report(self, *, region: str | None = None) -> OperationsReport:
        """Per operation (by id): its offer and promised payment date, its claims' sums.

        Operations without claims are listed too (their whole offer is unassigned); with a
        ``region``, those of that region. The unassigned share counts the shares of all the
        operation's claims, whatever their region, as the claims domain checks them.

        Raises:
            ValidationError: ``region`` does not exist.
        """
        if region is not None and await self.uow.regions.get(region.strip()) is None:
            raise ValidationError("region: unknown (see chaski region list)")
        report = await self._summarize(None if region is None else frozenset({region}))
        await self.uow.audit.record(
            action="report_operations",
            result=f"operations:{len(report.operations)}",
            now=self.clock.now(),
        )
        return report

    async def report_for(self, actor: Member) -> OperationsReport:
        """``/informe``: the operations report of ``actor``'s regions (administrators: all).

        Audited like the CLI report, with who asked; a refusal is audited too (T-11).

        Raises:
            NotAllowed: not active staff, or a coordinator without a region.
        """
        scope = None if actor.role is Role.ADMIN else frozenset(actor.regions)
        now = self.clock.now()
        try:
            authorize(actor, Action.VIEW_REPORT, scope)
        except NotAllowed:
            await self.uow.audit.record(
                action="report_operations",
                result="denied",
                now=now,
                actor_id=actor.id,
                actor_role=actor.role,
            )
            raise
        report = await self._summarize(scope)
        await self.uow.audit.record(
            action="report_operations",
            result=f"operations:{len(report.operations)}",
            now=now,
            actor_id=actor.id,
            actor_role=actor.role,
        )
        return report

    async def _summarize(self, regions: frozenset[str] | None) -> OperationsReport:
        """The report of the claims and operations of ``regions`` (None: all of them).

        Regions compare case-insensitively, as ``--region`` does.
        """
        everything = await self.uow.claim_lister.list_all()
        operations = await self.uow.claim_lister.operations()
        claims = everything
        if regions is not None:
            wanted = {name.strip().casefold() for name in regions}
            claims = [claim for claim in everything if claim.region.casefold() in wanted]
            operations = [op for op in operations if op.region.casefold() in wanted]
        return summarize(
            claims, self.clock.today(), operations, assigned=assigned_shares(everything)
        )
