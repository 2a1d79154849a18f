"""Administering claims (issue #16.1, #16.2, #16.4): operations, status, payments, next step.

Coordinators keep the record true within their regions, administrators everywhere; every
change goes through the one ``authorize`` (``UPDATE_CLAIM`` on the claim, M-04), the domain's
rules (``bot.domain.claims``) and a compare-and-set on the claim's version, so that of two
people editing one claim the second is told and nothing is lost. Each change is audited
(actor, action, ``claim:<id>``, never content, M-16); a refusal for scope is audited and
counted by the ``DenialWatch`` like any other (T-11).

Every change is one the informant can see (a status, a payment, a next step; a note only
when it is not internal), so each queues one neutral push through the outbox in the same
transaction (R-01): "Tienes novedades. Abre el menú.", nothing about rewards on a lock
screen (M-02). The push waits ``push_delay`` and replaces any push still waiting for that
informant (the outbox's ``merge``), so a burst of changes is one push; the details are shown
only when the informant opens their claims, after the PIN if they set one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date, timedelta

from bot.domain import claims as rules
from bot.domain.claims import (
    AmountRequest,
    ClaimChange,
    ClaimEdit,
    ClaimRefused,
    DraftProblem,
    DraftRefused,
    EditKind,
    NewOperation,
    OperationDraft,
    OperationStep,
    OperationUpdate,
    Payment,
    Rule,
)
from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import (
    CLOSED_STATUSES,
    Claim,
    ClaimEvent,
    ClaimStatus,
    Member,
    Operation,
    Role,
)
from bot.domain.notices import (
    AmountApprovalNeeded,
    AmountDecided,
    AmountOutcome,
    ClaimUpdated,
)
from bot.domain.outbox import OutboxKind, OutboxMessage
from bot.domain.ports import (
    Clock,
    UnitOfWork,
)
from bot.domain.registrations import EditWait
from bot.domain.text import clean_text
from bot.services import claims_import
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch

#: A reference as informants quote it (``R-2016-0007``); matched case-insensitively.
_REFERENCE = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{1,31}", re.ASCII)


def _typed_day(text: str) -> date:
    """A date typed in the chat, as the claims file reads it (``31/12/2026``, ``2026-12-31``).

    Raises:
        DraftRefused: ``BAD_DATE``: neither form, or not a real date.
    """
    try:
        day = claims_import.parse_date(text, "date", required=True, day_first=True)
    except ValidationError:
        raise DraftRefused(DraftProblem.BAD_DATE) from None
    assert day is not None  # noqa: S101 - required=True never returns None
    return day


#: At most this many claims in one answer to a search (the chat shows one button each).
MAX_FOUND = 20


@dataclass(frozen=True, slots=True)
class Confirmed:
    """What confirming an edit did: the claim as stored, or (amounts) a request now waiting
    for a second person, the claim unchanged."""

    claim: Claim
    pending: bool = False


@dataclass(frozen=True, slots=True)
class OperationEdited:
    """An operation after an edit and the names of the fields that changed (none: nothing
    was written)."""

    operation: Operation
    changed: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ClaimFile:
    """One claim as staff see it: the claim, its whole history and its payments."""

    claim: Claim
    events: list[ClaimEvent]
    payments: list[Payment]


def overdue_first(claims: list[Claim], today: date) -> list[Claim]:
    """Open claims first, the longest overdue first, then by next step date, then by id."""

    def key(claim: Claim) -> tuple[int, int, date, int]:
        return (
            int(claim.status in CLOSED_STATUSES),
            -claim.days_overdue(today),
            claim.next_step_date or date.max,
            claim.id,
        )

    return sorted(claims, key=key)


@dataclass(frozen=True, slots=True)
class ClaimAdminService:
    """Operations and claim changes for staff (chat) and operators (CLI)."""

    uow: UnitOfWork
    clock: Clock
    denials: DenialWatch | None = None
    #: How long a push waits for more changes before it goes (one push per burst).
    push_delay: timedelta = timedelta(minutes=2)

    # ------------------------------------------------------------------ operations (CLI)

    async def add_operation(self, new: NewOperation, actor: Member | None = None) -> Operation:
        """Create an operation (``chaski operations add``, the chat); audited without its
        label, with the administrator who confirmed it in the chat.

        Raises:
            Conflict: the label exists. NotFound: the region does not exist.
        """
        now = self.clock.now()
        async with self.uow.transaction():
            operation = await self.uow.claim_ledger.add_operation(new, now)
            await self.uow.audit.record(
                action="operation_add",
                result="ok",
                now=now,
                actor_id=actor.id if actor else None,
                actor_role=actor.role if actor else None,
                target=f"operation:{operation.id}",
            )
        return operation

    async def operations(self) -> list[Operation]:
        """Every operation (``chaski operations list``)."""
        return await self.uow.claim_ledger.operations()

    async def edit_operation(
        self, operation_id: int, update: OperationUpdate, actor: Member | None = None
    ) -> OperationEdited:
        """Change an operation (``chaski operations edit``, the chat); audited with the names
        of the fields that changed, never their values (M-16). Nothing changed: no write and
        no audit row. One transaction: the shares are read where the total is written.

        Raises:
            NotFound: no such operation (``"operation"``) or region (``"region"``).
            Conflict: another operation has the new label.
            ClaimRefused: ``BELOW_SHARES``, ``NEGATIVE``, ``TOO_LARGE``, ``TOO_LONG``.
        """
        now = self.clock.now()
        async with self.uow.transaction():
            before = await self.uow.claim_ledger.operation(operation_id)
            if before is None:
                raise NotFound("operation")
            shares = await self.uow.claim_ledger.shares(operation_id)
            after, changed = rules.edit_operation(before, update, shares)
            if not changed:
                return OperationEdited(before, ())
            stored = await self.uow.claim_ledger.update_operation(after, now)
            await self.uow.audit.record(
                action="operation_edit",
                result="ok",
                now=now,
                actor_id=actor.id if actor else None,
                actor_role=actor.role if actor else None,
                target=f"operation:{operation_id}:{','.join(changed)}",
            )
        return OperationEdited(stored, changed)

    async def _check_admin(self, actor: Member) -> None:
        """The one authorization for operations in the chat: an active administrator, read
        from the database for this update (M-04).

        Raises:
            NotAllowed: not an active administrator (audited and counted, T-11).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            # A draft of someone demoted since its button is forgotten with the refusal.
            await self.uow.operation_edits.drop(actor.id)
            if self.denials is not None:
                await self.denials.denied(actor, str(Action.MANAGE_MEMBERS), None)
            raise NotAllowed(Action.MANAGE_MEMBERS)

    async def operations_by(self, actor: Member, limit: int = 20) -> list[Operation]:
        """``operations`` for ``/miembros`` (issue #16.3), read only: the last ``limit``
        (one chat message), for an active administrator only, checked now (M-04).

        Raises:
            NotAllowed: not an active administrator (audited and counted, T-11).
        """
        await self._check_admin(actor)
        return (await self.operations())[-limit:]

    # --- an operation created, or its pay-by date or total corrected, in the chat (#16.3) ---

    async def start_operation_by(
        self, actor: Member, operation_id: int | None, field: OperationStep | None = None
    ) -> Operation | None:
        """*Nueva operación* (``operation_id`` None) or one field (``PAY_BY``, ``TOTAL``) of
        an operation to correct: the draft waits in the database for what is typed next.
        Returns the operation being corrected.

        Raises:
            NotAllowed: not an active administrator (audited). DraftRefused: ``GONE``.
        """
        await self._check_admin(actor)
        # One typed value waits at a time: a region name asked for before is not any more.
        await self.uow.region_edits.drop(actor.id)
        operation = None
        if operation_id is None:
            draft = OperationDraft(None, OperationStep.LABEL)
        else:
            operation = await self.uow.claim_ledger.operation(operation_id)
            if operation is None or field not in (OperationStep.PAY_BY, OperationStep.TOTAL):
                await self.uow.operation_edits.drop(actor.id)
                raise DraftRefused(DraftProblem.GONE)
            draft = OperationDraft(operation_id, field, field=field)
        await self.uow.operation_edits.put(actor.id, draft, self.clock.now())
        return operation

    async def operation_by(self, actor: Member, operation_id: int) -> Operation:
        """One operation, for an active administrator only, checked now (M-04).

        Raises:
            NotAllowed: not an active administrator (audited). DraftRefused: ``GONE``.
        """
        await self._check_admin(actor)
        operation = await self.uow.claim_ledger.operation(operation_id)
        if operation is None:
            raise DraftRefused(DraftProblem.GONE)
        return operation

    async def operation_draft_state(self, member_id: int) -> EditWait:
        """What the member's next plain text meets: an operation draft waiting for it, none,
        or one that waited past its lifetime (dropped now, so the text is not taken)."""
        draft = await self.uow.operation_edits.get(member_id)
        if draft is None:
            return EditWait.NONE
        if draft.expired(self.clock.now()):
            await self.uow.operation_edits.drop(member_id)
            return EditWait.EXPIRED
        return EditWait.WAITING

    async def awaits_typed_amount(self, member_id: int) -> bool:
        """Whether the member's live operation draft waits for a total: the one typed text
        made of digits only that is not taken for a PIN (6 digits are S/ 100,000, a common
        total). Only within the draft's lifetime, so a PIN typed long after is still a PIN.
        """
        draft = await self.uow.operation_edits.get(member_id)
        return (
            draft is not None
            and draft.step is OperationStep.TOTAL
            and not draft.expired(self.clock.now())
        )

    async def _draft(self, actor: Member, *steps: OperationStep) -> OperationDraft:
        """The actor's draft, waiting at one of ``steps``.

        Raises:
            NotAllowed: not an active administrator (audited; the draft is forgotten).
            DraftRefused: ``NOTHING_PENDING``, or ``USE_BUTTONS`` at another step.
        """
        await self._check_admin(actor)
        draft = await self.uow.operation_edits.get(actor.id)
        if draft is None:
            raise DraftRefused(DraftProblem.NOTHING_PENDING)
        if draft.expired(self.clock.now()):
            await self.uow.operation_edits.drop(actor.id)
            raise DraftRefused(DraftProblem.EXPIRED)
        if draft.step not in steps:
            raise DraftRefused(DraftProblem.USE_BUTTONS)
        return draft

    async def _keep(self, actor: Member, draft: OperationDraft) -> OperationDraft:
        await self.uow.operation_edits.put(actor.id, draft, self.clock.now())
        return draft

    async def type_operation_by(self, actor: Member, typed: str) -> OperationDraft:
        """What the administrator typed for the step their draft waits at (label, total or
        pay-by date), checked now; returns the draft at its next step. Bad input changes
        nothing and the step keeps waiting. A corrected total is checked against the
        claims' shares already here, so the refusal comes before any confirmation.

        Raises:
            NotAllowed: not an active administrator (audited; the draft is forgotten).
            DraftRefused: bad input, nothing waiting, a step that takes a button, or the
                operation gone. ClaimRefused: ``BELOW_SHARES`` and the amount rules.
        """
        draft = await self._draft(
            actor, OperationStep.LABEL, OperationStep.TOTAL, OperationStep.PAY_BY
        )
        if draft.step is OperationStep.LABEL:
            try:
                label = clean_text(typed, field="label", max_len=200, multiline=False)
            except ValidationError:
                raise DraftRefused(DraftProblem.BAD_LABEL) from None
            return await self._keep(actor, replace(draft, label=label, step=OperationStep.REGION))
        if draft.step is OperationStep.TOTAL:
            try:
                cents = claims_import.parse_amount(typed)
            except ValidationError:
                raise DraftRefused(DraftProblem.BAD_AMOUNT) from None
            if draft.operation_id is None:
                after = replace(draft, total_cents=cents, step=OperationStep.PAY_BY)
                return await self._keep(actor, after)
            before = await self.uow.claim_ledger.operation(draft.operation_id)
            if before is None:
                await self.uow.operation_edits.drop(actor.id)
                raise DraftRefused(DraftProblem.GONE)
            shares = await self.uow.claim_ledger.shares(before.id)
            rules.edit_operation(before, OperationUpdate(total_cents=cents), shares)
            after = replace(draft, total_cents=cents, step=OperationStep.CONFIRM)
            return await self._keep(actor, after)
        day = _typed_day(typed)
        return await self._keep(actor, replace(draft, pay_by=day, step=OperationStep.CONFIRM))

    async def choose_operation_region_by(self, actor: Member, region_id: int) -> OperationDraft:
        """A new operation's region, chosen with a button (never typed).

        Raises:
            NotAllowed: not an active administrator (audited). DraftRefused: nothing
                waiting for a region, or no such region (``GONE``).
        """
        draft = await self._draft(actor, OperationStep.REGION)
        region = next((r for r in await self.uow.regions.list_all() if r.id == region_id), None)
        if region is None:
            raise DraftRefused(DraftProblem.GONE)
        return await self._keep(
            actor, replace(draft, region=region.name, step=OperationStep.TOTAL)
        )

    async def skip_pay_by_by(self, actor: Member) -> OperationDraft:
        """*Sin fecha*: no promised payment date (an edit clears the one recorded).

        Raises:
            NotAllowed: not an active administrator (audited). DraftRefused: nothing
                waiting for a date.
        """
        draft = await self._draft(actor, OperationStep.PAY_BY)
        return await self._keep(actor, replace(draft, pay_by=None, step=OperationStep.CONFIRM))

    async def confirm_operation_by(self, actor: Member) -> tuple[OperationDraft, Operation, bool]:
        """*Confirmar*: create or correct the operation through the CLI's own methods (one
        code path, audited with the administrator). Returns the draft, the operation as
        stored and whether anything changed. The draft is forgotten whatever happens.

        Raises:
            NotAllowed: not an active administrator (audited). DraftRefused: nothing to
                confirm, the label taken (``LABEL_TAKEN``), the operation or region gone.
            ClaimRefused: ``BELOW_SHARES`` (claims promised more meanwhile).
        """
        draft = await self._draft(actor, OperationStep.CONFIRM)
        await self.uow.operation_edits.drop(actor.id)
        try:
            if draft.operation_id is None:
                new = NewOperation(
                    label=draft.label or "",
                    date=None,
                    region=draft.region or "",
                    total_cents=draft.total_cents or 0,
                    pay_by=draft.pay_by,
                )
                return draft, await self.add_operation(new, actor), True
            update = (
                OperationUpdate(pay_by=draft.pay_by)
                if draft.field is OperationStep.PAY_BY
                else OperationUpdate(total_cents=draft.total_cents or 0)
            )
            edited = await self.edit_operation(draft.operation_id, update, actor)
        except Conflict:
            raise DraftRefused(DraftProblem.LABEL_TAKEN) from None
        except NotFound:
            raise DraftRefused(DraftProblem.GONE) from None
        return draft, edited.operation, bool(edited.changed)

    async def drop_operation_draft(self, member_id: int) -> None:
        """*Cancelar*: forget the member's operation draft, if any."""
        await self.uow.operation_edits.drop(member_id)

    # ------------------------------------------------------------------ finding (staff)

    def _scope(self, actor: Member) -> list[str] | None:
        """The regions ``actor`` administers claims in (None: all), or NotAllowed."""
        if not actor.active or actor.role not in {Role.COORDINATOR, Role.ADMIN}:
            raise NotAllowed(Action.UPDATE_CLAIM)
        return None if actor.role is Role.ADMIN else list(actor.regions)

    async def list_claims(self, actor: Member, status: ClaimStatus | None = None) -> list[Claim]:
        """The claims ``actor`` may administer, overdue first (optionally of one status).

        The storage orders by ``overdue_first``'s keys and keeps ``MAX_FOUND``, so only the
        claims shown are decrypted however many the regions hold (docs/performance.md).
        The scope is the actor's regions in the query, and ``authorize``'s rule is applied
        again to what comes back (M-04).

        Raises:
            NotAllowed: not active staff.
        """
        found = await self.uow.claim_ledger.overdue_first(
            self._scope(actor), today=self.clock.today(), limit=MAX_FOUND, status=status
        )
        return [c for c in found if is_allowed(actor, Action.UPDATE_CLAIM, c)]

    async def find(self, actor: Member, text: str) -> list[Claim]:
        """Claims by reference, else by codename, within ``actor``'s scope (overdue first).

        Outside the scope looks like nothing found (M-04).

        Raises:
            NotAllowed: not active staff.
        """
        self._scope(actor)
        # Codenames are stored NFC; some keyboards send accents decomposed (``Co\u0301ndor``).
        query = unicodedata.normalize("NFC", text.strip())
        found: list[Claim] = []
        if _REFERENCE.fullmatch(query):
            claim = await self.uow.claim_ledger.by_reference(query.upper())
            if claim is not None:
                found = [claim]
        if not found and query:
            member = await self.uow.members.by_codename_any_case(query)
            if member is not None and member.role is Role.INFORMANT:
                # Ordered and cut in storage like ``list_claims``: one informant may hold
                # many claims, and only the ones shown are decrypted.
                return [
                    c
                    for c in await self.uow.claim_ledger.overdue_first(
                        self._scope(actor),
                        today=self.clock.today(),
                        limit=MAX_FOUND,
                        member_id=member.id,
                    )
                    if is_allowed(actor, Action.UPDATE_CLAIM, c)
                ]
        mine = [c for c in found if is_allowed(actor, Action.UPDATE_CLAIM, c)]
        return overdue_first(mine, self.clock.today())[:MAX_FOUND]

    async def editable(self, actor: Member, claim_id: int) -> Claim:
        """The claim, if ``actor`` may change it; a refusal is audited and counted.

        Raises:
            NotFound: unknown or outside the actor's scope (indistinguishable).
        """
        claim = await self.uow.claim_ledger.get(claim_id)
        if claim is None or not is_allowed(actor, Action.UPDATE_CLAIM, claim):
            if self.denials is not None:
                await self.denials.denied(actor, str(Action.UPDATE_CLAIM), f"claim:{claim_id}")
            raise NotFound("claim")
        return claim

    async def open(self, actor: Member, claim_id: int) -> ClaimFile:
        """A claim with its whole history (internal notes too) and payments; audited as seen.

        Raises:
            NotFound: as ``editable``.
        """
        claim = await self.editable(actor, claim_id)
        await self.uow.audit.record(
            action=str(Action.VIEW_CLAIM),
            result="ok",
            now=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            target=f"claim:{claim.id}",
        )
        events = await self.uow.claim_ledger.history(claim.id, visible_only=False)
        return ClaimFile(claim, events, await self.uow.claim_ledger.payments(claim.id))

    async def codenames(self, claims: list[Claim]) -> dict[int, str]:
        """The codename of each claim's informant (staff see codenames only, M-04)."""
        names: dict[int, str] = {}
        for member_id in {claim.member_id for claim in claims}:
            member = await self.uow.members.get(member_id)
            names[member_id] = member.codename if member is not None else "?"
        return names

    # ------------------------------------------------------------------ changes (staff)

    async def change_status(
        self,
        actor: Member,
        claim_id: int,
        version: int,
        new: ClaimStatus,
        *,
        note: str | None,
        visible: bool,
    ) -> Claim:
        """Move a claim to ``new`` (a rejection needs its reason as ``note``).

        Raises:
            NotFound: unknown or outside the actor's scope.
            Conflict: someone changed the claim since ``version`` was read.
            ClaimRefused: the rules refuse it (the reason says why).
        """
        now = self.clock.now()
        return await self._apply(
            actor,
            claim_id,
            version,
            "claim_status",
            lambda claim: rules.change_status(claim, new, now=now, note=note, visible=visible),
        )

    async def record_payment(
        self,
        actor: Member,
        claim_id: int,
        version: int,
        payment: Payment,
        *,
        note: str | None = None,
        visible: bool = True,
    ) -> Claim:
        """Record a payment; the claim becomes paid or partially paid.

        Raises:
            NotFound, Conflict, ClaimRefused: as ``change_status``.
        """
        now = self.clock.now()
        return await self._apply(
            actor,
            claim_id,
            version,
            "claim_payment",
            lambda claim: rules.record_payment(
                claim, payment, now=now, note=note, visible=visible
            ),
        )

    async def set_next_step(
        self,
        actor: Member,
        claim_id: int,
        version: int,
        step: str | None,
        on: date | None,
        *,
        note: str | None = None,
        visible: bool = True,
    ) -> Claim:
        """Set the next step and its date.

        Raises:
            NotFound, Conflict, ClaimRefused: as ``change_status``.
        """
        now = self.clock.now()
        return await self._apply(
            actor,
            claim_id,
            version,
            "claim_next_step",
            lambda claim: rules.set_next_step(
                claim, step, on, now=now, note=note, visible=visible
            ),
        )

    # ------------------------------------------------------------------ edits in the chat

    async def start_edit(
        self,
        actor: Member,
        claim_id: int,
        version: int,
        kind: EditKind,
        status: ClaimStatus | None = None,
    ) -> tuple[Claim, ClaimEdit]:
        """Begin a multi-step edit of a claim seen at ``version`` (replaces any other edit).

        Raises:
            NotFound: unknown or outside the actor's scope (audited).
            Conflict: the claim changed since the actor saw it.
            ClaimRefused: a status the claim cannot move to by hand, or nothing to pay.
        """
        claim = await self.editable(actor, claim_id)
        if claim.version != version:
            raise Conflict("the claim changed meanwhile")
        if kind is EditKind.STATUS and (
            status is None or status not in rules.manual_targets(claim.status)
        ):
            raise ClaimRefused(Rule.TRANSITION)
        if kind is EditKind.PAYMENT and claim.status not in rules.PAYABLE:
            raise ClaimRefused(Rule.NOT_PAYABLE)
        if kind in {EditKind.STEP, EditKind.AMOUNT} and claim.status in CLOSED_STATUSES:
            raise ClaimRefused(Rule.CLOSED)
        edit = ClaimEdit(claim.id, claim.version, kind, status=status)
        await self.uow.claim_edits.put(actor.id, edit, self.clock.now())
        return claim, edit

    async def has_edit(self, actor: Member) -> bool:
        """Whether ``actor`` has an edit under way; nothing of it or its claim is shown, so a
        plain text can be answered with how values are typed without a PIN session."""
        return await self.uow.claim_edits.get(actor.id) is not None

    async def pending(self, actor: Member) -> tuple[Claim, ClaimEdit] | None:
        """The actor's edit under way and its claim as it is now, or None.

        Raises:
            NotFound: the claim is no longer the actor's to change (audited); the edit is
                forgotten.
        """
        edit = await self.uow.claim_edits.get(actor.id)
        if edit is None:
            return None
        try:
            claim = await self.editable(actor, edit.claim_id)
        except NotFound:
            await self.uow.claim_edits.drop(actor.id)
            raise
        return claim, edit

    async def amend(
        self,
        actor: Member,
        *,
        note: str | None = None,
        visible: bool | None = None,
        payment: Payment | None = None,
        step: tuple[str, date | None] | None = None,
        amount: tuple[str, int] | None = None,
    ) -> tuple[Claim, ClaimEdit]:
        """Add what the actor typed or toggled to their edit under way.

        Raises:
            NotFound: no edit under way (or its claim is out of scope now).
            ClaimRefused: a text too long, an amount not positive; ``OTHER_EDIT``: a value
                the edit's kind does not take (``/pago`` while a status change is under way:
                the edit exists, so "no change started" would be false).
        """
        found = await self.pending(actor)
        if found is None:
            raise NotFound("edit")
        claim, edit = found
        if note is not None:
            edit = replace(edit, note=rules.clean_note(note))
        if visible is not None:
            edit = replace(edit, visible=visible)
        if payment is not None:
            if edit.kind is not EditKind.PAYMENT:
                raise ClaimRefused(Rule.OTHER_EDIT)
            edit = replace(
                edit,
                amount_cents=rules.check_amount(payment.amount_cents),
                method=rules.clean_note(payment.method, rules.MAX_LABEL_CHARS),
                reference=rules.clean_note(payment.reference, rules.MAX_LABEL_CHARS),
            )
        if step is not None:
            if edit.kind is not EditKind.STEP:
                raise ClaimRefused(Rule.OTHER_EDIT)
            edit = replace(edit, step=rules.clean_note(step[0]), step_date=step[1])
        if amount is not None:
            which, cents = amount
            if edit.kind is not EditKind.AMOUNT or which not in {"promised", "approved"}:
                raise ClaimRefused(Rule.OTHER_EDIT)
            cents = rules.check_amount(cents)
            if which == "promised":
                edit = replace(edit, new_promised=cents)
            else:
                edit = replace(edit, new_approved=cents)
        await self.uow.claim_edits.put(actor.id, edit, self.clock.now())
        return claim, edit

    async def cancel(self, actor: Member) -> None:
        """Forget the actor's edit under way."""
        await self.uow.claim_edits.drop(actor.id)

    async def confirm(self, actor: Member, claim_id: int, version: int) -> Confirmed:
        """Apply the actor's edit of ``claim_id`` begun at ``version``; forget it when done.

        An amount change is not applied: it becomes a request for a second person (M-14).

        Raises:
            NotFound: no such edit under way (an old button), or out of scope (audited).
            Conflict: someone changed the claim since the edit began; the edit is forgotten
                and the other person's change kept.
            ClaimRefused: the rules refuse it (the edit is kept, to be corrected).
        """
        edit = await self.uow.claim_edits.get(actor.id)
        if edit is None or edit.claim_id != claim_id or edit.version != version:
            raise NotFound("edit")
        await self.editable(actor, claim_id)  # a refusal audited outside the write below
        try:
            async with self.uow.transaction():
                claim = await self._run(actor, edit)
                await self.uow.claim_edits.drop(actor.id)
        except Conflict:
            await self.uow.claim_edits.drop(actor.id)
            raise
        return claim

    async def _run(self, actor: Member, edit: ClaimEdit) -> Confirmed:
        if edit.kind is EditKind.AMOUNT and (
            edit.new_promised is not None or edit.new_approved is not None
        ):
            return Confirmed(await self._request_amounts(actor, edit), pending=True)
        return Confirmed(await self._change(actor, edit))

    async def _change(self, actor: Member, edit: ClaimEdit) -> Claim:
        if edit.kind is EditKind.STATUS and edit.status is not None:
            return await self.change_status(
                actor,
                edit.claim_id,
                edit.version,
                edit.status,
                note=edit.note,
                visible=edit.visible,
            )
        if edit.kind is EditKind.PAYMENT and edit.amount_cents is not None:
            payment = Payment(
                edit.amount_cents, self.clock.today(), edit.method or "", edit.reference
            )
            return await self.record_payment(
                actor, edit.claim_id, edit.version, payment, note=edit.note, visible=edit.visible
            )
        if edit.kind is EditKind.STEP and (edit.step is not None or edit.step_date is not None):
            return await self.set_next_step(
                actor,
                edit.claim_id,
                edit.version,
                edit.step,
                edit.step_date,
                note=edit.note,
                visible=edit.visible,
            )
        raise ClaimRefused(Rule.INCOMPLETE)

    # ------------------------------------------------------------------ amounts (M-14)

    async def _amount_change(
        self,
        claim: Claim,
        promised: int | None,
        approved: int | None,
        note: str | None,
        visible: bool,
    ) -> ClaimChange:
        """The domain's verdict on new amounts, the operation's other shares counted."""
        shares = await self.uow.claim_ledger.shares(claim.operation.id, excluding=claim.id)
        return rules.set_amounts(
            claim,
            now=self.clock.now(),
            promised_cents=promised,
            approved_cents=approved,
            other_shares_cents=shares,
            operation_total_cents=claim.operation.total_cents,
            note=note,
            visible=visible,
        )

    async def _request_amounts(self, actor: Member, edit: ClaimEdit) -> Claim:
        """Check the new amounts now (a refusal says why at once), then store them as a
        request and tell who may approve it; the claim stays as it is."""
        claim = await self.editable(actor, edit.claim_id)
        if claim.version != edit.version:
            raise Conflict("the claim changed meanwhile")
        await self._amount_change(
            claim, edit.new_promised, edit.new_approved, edit.note, edit.visible
        )
        now = self.clock.now()
        request = AmountRequest(
            id=0,
            claim_id=claim.id,
            region=claim.region,
            version=claim.version,
            requester_id=actor.id,
            promised_cents=edit.new_promised,
            approved_cents=edit.new_approved,
            note=edit.note,
            visible=edit.visible,
        )
        request_id = await self.uow.amount_requests.create(request, now)
        await self.uow.audit.record(
            action="claim_amount_request",
            result="pending",
            now=now,
            actor_id=actor.id,
            actor_role=actor.role,
            target=f"claim:{claim.id}",
        )
        request = replace(request, id=request_id)
        coordinators = await self.uow.members.in_regions([claim.region], [Role.COORDINATOR])
        admins = [
            m for m in await self.uow.members.list_all() if m.role is Role.ADMIN and m.active
        ]
        approvers = {
            m.id: m
            for m in (*coordinators, *admins)
            if is_allowed(m, Action.APPROVE_CLAIM_AMOUNT, request)
        }
        await self.uow.outbox.enqueue_many(
            [
                OutboxMessage(
                    idempotency_key=f"claim-amount:{request_id}:{member_id}",
                    kind=OutboxKind.NOTIFICATION,
                    member_id=member_id,
                    notice=AmountApprovalNeeded(),
                )
                for member_id in sorted(approvers)
            ]
        )
        return claim

    async def amount_requests(self, actor: Member) -> list[tuple[AmountRequest, Claim, str]]:
        """The amount changes ``actor`` may decide, with each claim and its requester.

        Raises:
            NotAllowed: not active staff.
        """
        self._scope(actor)
        found: list[tuple[AmountRequest, Claim, str]] = []
        for request in await self.uow.amount_requests.pending():
            if not is_allowed(actor, Action.APPROVE_CLAIM_AMOUNT, request):
                continue
            claim = await self.uow.claim_ledger.get(request.claim_id)
            requester = await self.uow.members.get(request.requester_id)
            if claim is not None:
                found.append((request, claim, requester.codename if requester else "?"))
        return found[:MAX_FOUND]

    async def decide_amounts(self, actor: Member, request_id: int, *, approve: bool) -> Claim:
        """Approve (apply) or reject a pending amount change.

        Raises:
            NotFound: no such pending request (decided already, or an old button).
            NotAllowed: the actor asked for it, or it is outside their scope (audited).
            Conflict: the claim changed since the request; it is marked stale.
            ClaimRefused: the amounts no longer fit (e.g. someone paid more meanwhile).
        """
        request = await self.uow.amount_requests.get(request_id)
        if request is None:
            raise NotFound("request")
        if not is_allowed(actor, Action.APPROVE_CLAIM_AMOUNT, request):
            if self.denials is not None:
                await self.denials.denied(
                    actor, str(Action.APPROVE_CLAIM_AMOUNT), f"claim:{request.claim_id}"
                )
            raise NotAllowed(Action.APPROVE_CLAIM_AMOUNT)
        claim = await self.editable(actor, request.claim_id)
        now = self.clock.now()
        if not approve:
            async with self.uow.transaction():
                if not await self.uow.amount_requests.decide(
                    request.id, "rejected", actor.id, now
                ):
                    raise NotFound("request")
                await self._audit_decision(actor, claim, "rejected")
                await self._tell_requester(request, AmountOutcome.REJECTED)
            return claim
        if claim.version != request.version:
            async with self.uow.transaction():
                await self.uow.amount_requests.decide(request.id, "stale", actor.id, now)
                await self._tell_requester(request, AmountOutcome.STALE)
            raise Conflict("the claim changed meanwhile")
        change = await self._amount_change(
            claim, request.promised_cents, request.approved_cents, request.note, request.visible
        )
        async with self.uow.transaction():
            if not await self.uow.amount_requests.decide(request.id, "approved", actor.id, now):
                raise NotFound("request")
            stored = await self._store(actor, claim, change, "claim_amounts")
            await self._audit_decision(actor, claim, "approved")
            await self._tell_requester(request, AmountOutcome.APPROVED)
        return stored

    async def _tell_requester(self, request: AmountRequest, outcome: AmountOutcome) -> None:
        """Queue the neutral note to who asked for the change, with what became of it, in
        the same transaction as the decision. One per request: the key is the request's, so
        a second outcome of one request (two approvers at once) is not queued."""
        await self.uow.outbox.enqueue(
            OutboxMessage(
                idempotency_key=f"claim-amount-decided:{request.id}",
                kind=OutboxKind.NOTIFICATION,
                member_id=request.requester_id,
                notice=AmountDecided(outcome),
            )
        )

    async def _audit_decision(self, actor: Member, claim: Claim, result: str) -> None:
        await self.uow.audit.record(
            action="claim_amount_decide",
            result=result,
            now=self.clock.now(),
            actor_id=actor.id,
            actor_role=actor.role,
            target=f"claim:{claim.id}",
        )

    async def _apply(
        self,
        actor: Member,
        claim_id: int,
        version: int,
        action: str,
        make: Callable[[Claim], ClaimChange],
    ) -> Claim:
        claim = await self.editable(actor, claim_id)
        if claim.version != version:
            raise Conflict("the claim changed meanwhile")
        authorize(actor, Action.UPDATE_CLAIM, claim)
        return await self._store(actor, claim, make(claim), action)

    async def _store(self, actor: Member, claim: Claim, change: ClaimChange, action: str) -> Claim:
        """Write ``change`` (compare-and-set), its audit row and the informant's push."""
        now = self.clock.now()
        async with self.uow.transaction():
            if not await self.uow.claim_ledger.save(change, actor_id=actor.id, now=now):
                raise Conflict("the claim changed meanwhile")
            await self.uow.audit.record(
                action=action,
                result="ok",
                now=now,
                actor_id=actor.id,
                actor_role=actor.role,
                target=f"claim:{claim.id}",
            )
            await self._push(change.after)
        return replace(change.after, version=claim.version + 1)

    async def _push(self, claim: Claim) -> None:
        """Queue the neutral push to the claim's informant; replaces one still waiting."""
        await self.uow.outbox.enqueue(
            OutboxMessage(
                idempotency_key=f"claim_news:{claim.member_id}:{claim.id}:{claim.version + 1}",
                kind=OutboxKind.NOTIFICATION,
                member_id=claim.member_id,
                notice=ClaimUpdated(((claim.id, claim.version + 1),)),
                correlation=f"claim_news:{claim.member_id}",
                not_before=self.clock.now() + self.push_delay,
            )
        )
