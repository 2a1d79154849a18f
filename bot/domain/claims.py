"""The rules of a claim's life (issue #16.1): status changes, payments, amounts, next step.

Every change a coordinator can make is a pure function from the claim as read to a
``ClaimChange`` (the claim after, the history entry that explains it, the payment if any),
or a ``ClaimRefused`` naming the rule it breaks. Services store a change only with a
compare-and-set on the claim's ``version``, so two people editing one claim cannot both win.

The invariants (``problems``) are what property tests check after any sequence of commands:

* amounts are never negative; nothing is paid before an amount is approved, and never more
  than was approved; the approved amount is within the promised share;
* *paid* means paid in full, *partially paid* means something but not all of it: both follow
  from recorded payments, never from a status set by hand;
* ``closed_at`` is set exactly while the claim is paid or rejected;
* an operation's shares add up to at most its total reward (checked by ``check_shares``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import Enum, StrEnum
from typing import TypeVar

from bot.domain.errors import DomainError
from bot.domain.models import (
    ALLOWED_TRANSITIONS,
    CLOSED_STATUSES,
    Claim,
    ClaimStatus,
    Day,
    Operation,
)
from bot.domain.registrations import REGION_EDIT_LIFETIME

T = TypeVar("T")

#: S/ 100,000,000.00: far above any reward; a typo beyond it is refused (as the import does).
MAX_AMOUNT_CENTS = 10_000_000_000
#: A note or a next step is a sentence or two, never a document.
MAX_NOTE_CHARS = 500
#: Payment method and reference: short labels ("transferencia", "OP-123").
MAX_LABEL_CHARS = 64

#: Statuses a payment can be recorded in: approved, and not yet paid in full.
PAYABLE = frozenset(
    {ClaimStatus.APPROVED, ClaimStatus.PAYMENT_SCHEDULED, ClaimStatus.PARTIALLY_PAID}
)
#: Statuses that follow from payments only: set by ``record_payment``, never by hand.
BY_PAYMENT = frozenset({ClaimStatus.PAID, ClaimStatus.PARTIALLY_PAID})


class Rule(StrEnum):
    """Why a change was refused; handlers translate each into a clear sentence."""

    TRANSITION = "transition"
    BY_PAYMENT = "by_payment"
    REASON_REQUIRED = "reason_required"
    NEGATIVE = "negative"
    TOO_LARGE = "too_large"
    NOT_PAYABLE = "not_payable"
    OVERPAYMENT = "overpayment"
    ABOVE_PROMISED = "above_promised"
    BELOW_PAID = "below_paid"
    PROMISED_BELOW_PAID = "promised_below_paid"
    OVER_TOTAL = "over_total"
    BELOW_SHARES = "below_shares"
    CLOSED = "closed"
    TOO_LONG = "too_long"
    INCOMPLETE = "incomplete"
    OTHER_EDIT = "other_edit"


_REASONS: dict[Rule, str] = {
    Rule.TRANSITION: "the claim's status cannot change that way",
    Rule.BY_PAYMENT: "paid and partially paid follow from recorded payments",
    Rule.REASON_REQUIRED: "a rejection needs a reason",
    Rule.NEGATIVE: "an amount must be more than zero",
    Rule.TOO_LARGE: "the amount is beyond any reward",
    Rule.NOT_PAYABLE: "a payment needs an approved claim not yet paid in full",
    Rule.OVERPAYMENT: "the payment is more than what is still owed",
    Rule.ABOVE_PROMISED: "the approved amount is more than the promised share",
    Rule.BELOW_PAID: "the approved amount is less than what was paid already",
    Rule.PROMISED_BELOW_PAID: "the promised share is less than what was paid already",
    Rule.OVER_TOTAL: "the shares would add up to more than the operation's total reward",
    Rule.BELOW_SHARES: "the total is less than the claims' promised shares of this operation",
    Rule.CLOSED: "the claim is closed; reopen it first",
    Rule.TOO_LONG: "the text is too long",
    Rule.INCOMPLETE: "the change is missing what it changes (an amount, a step)",
    Rule.OTHER_EDIT: "the change under way does not take that value (a payment, a step, amounts)",
}


class RecordedInBot(DomainError):
    """Rows of an import that would overwrite what the bot recorded on their claims.

    A claim with payments, an approved amount or a change made by a person in the bot is
    kept by the bot from then on: a file must not silently replace its paid amount (the sum
    of its payments), its approved amount or its status. ``lines`` are the file's lines.
    """

    def __init__(self, lines: Iterable[int]) -> None:
        """Keep the lines for the report."""
        self.lines = sorted(lines)
        super().__init__(f"{len(self.lines)} row(s) would overwrite what the bot recorded")


class ClaimRefused(DomainError):
    """A change the claim's rules do not allow; ``rule`` says which (message: in English)."""

    def __init__(self, rule: Rule) -> None:
        """Name the broken rule."""
        super().__init__(_REASONS[rule])
        self.rule = rule


@dataclass(frozen=True, slots=True)
class Payment:
    """One payment made on a claim; amount in céntimos, method and reference are labels."""

    amount_cents: int
    paid_on: date
    method: str
    reference: str | None = None
    #: Stands for a ``paid_amount`` read from a claims file (``imported_payment``), not a
    #: payment recorded in the bot: a re-import may replace it.
    imported: bool = False


#: The method of the payment an imported paid amount is stored as: the file says how much
#: was paid, not how; shown translated, never as this word.
IMPORT_METHOD = "import"


def imported_payment(paid_cents: int | None, on: date) -> Payment | None:
    """The one payment a claims file's ``paid_amount`` is stored as (issue #16.6).

    A claim's paid total is always the sum of its payments: balances, the history and the
    oversight report read the payments, and a payment recorded later in the chat adds to
    them. So an imported paid amount is a payment too, marked as imported, dated ``on``
    (the row's status date, else the day of the import), without a reference. Nothing
    paid (None or 0) is no payment.
    """
    if not paid_cents:
        return None
    return Payment(paid_cents, on, IMPORT_METHOD, None, imported=True)


@dataclass(frozen=True, slots=True)
class NewOperation:
    """An operation as an administrator declares it (``chaski operations add``).

    ``total_cents`` is the whole reward offered, to be shared among the claims.
    """

    label: str
    date: date | None
    region: str
    total_cents: int
    promised_by: str | None = None
    basis: str | None = None
    pay_by: Day | None = None

    def __post_init__(self) -> None:
        """Refuse a total that is not a positive amount, and overlong texts.

        Raises:
            ClaimRefused: ``NEGATIVE``, ``TOO_LARGE`` or ``TOO_LONG``.
        """
        _amount(self.total_cents)
        for text in (self.promised_by, self.basis):
            _text(text)


class Keep(Enum):
    """An ``OperationUpdate`` field left as it is (None means: clear it)."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class OperationUpdate:
    """What an administrator changes in an operation (``chaski operations edit``, the chat).

    A field left at ``KEEP`` is not touched; None clears an optional field. Label, region
    and total are required, so they cannot be cleared.
    """

    label: str | Keep = KEEP
    date: date | Keep | None = KEEP
    region: str | Keep = KEEP
    total_cents: int | Keep = KEEP
    promised_by: str | Keep | None = KEEP
    basis: str | Keep | None = KEEP
    pay_by: Day | Keep | None = KEEP


#: The fields of an operation an update can change, in the order the audit names them.
OPERATION_FIELDS = ("label", "date", "region", "total_cents", "promised_by", "basis", "pay_by")


def _pick(value: T | Keep, old: T) -> T:
    return old if isinstance(value, Keep) else value


def edit_operation(
    before: Operation, update: OperationUpdate, shares_cents: int
) -> tuple[Operation, tuple[str, ...]]:
    """The operation after ``update`` and the names of the fields that really changed.

    ``shares_cents`` is what the operation's claims were promised, added up: a total below
    it would make the record say more was promised than the reward offered (#16.1). The
    region is matched by storage (an unknown one is refused there, in the same transaction).

    Raises:
        ClaimRefused: ``NEGATIVE`` or ``TOO_LARGE`` (total), ``BELOW_SHARES``, ``TOO_LONG``.
    """
    total = _pick(update.total_cents, before.total_cents)
    region = _pick(update.region, before.region)
    after = replace(
        before,
        label=_pick(update.label, before.label),
        date=_pick(update.date, before.date),
        # Region names are matched without regard to case, as storage matches them.
        region=before.region if region.casefold() == before.region.casefold() else region,
        total_cents=total,
        promised_by=_pick(_keep_or_text(update.promised_by), before.promised_by),
        basis=_pick(_keep_or_text(update.basis), before.basis),
        pay_by=_pick(update.pay_by, before.pay_by),
    )
    changed = tuple(
        name for name in OPERATION_FIELDS if getattr(after, name) != getattr(before, name)
    )
    if total is not None and "total_cents" in changed and _amount(total) < shares_cents:
        raise ClaimRefused(Rule.BELOW_SHARES)
    return after, changed


def _keep_or_text(value: str | Keep | None) -> str | Keep | None:
    return value if isinstance(value, Keep) else _text(value)


@dataclass(frozen=True, slots=True)
class ClaimChange:
    """A claim before and after one command, and the note that explains it.

    The change itself is always visible to the informant (status, amounts and next step are
    on their screen); ``visible`` says whether the ``note`` is too, or stays internal to the
    staff. ``note`` is free text of the coordinator, a rejection's reason, or None.
    """

    before: Claim
    after: Claim
    note: str | None
    visible: bool
    payment: Payment | None = None

    @property
    def claim(self) -> Claim:
        """The claim as it will be stored."""
        return self.after


def _text(value: str | None, limit: int = MAX_NOTE_CHARS) -> str | None:
    """Trimmed text, None when empty; refused beyond ``limit`` characters."""
    text = (value or "").strip()
    if len(text) > limit:
        raise ClaimRefused(Rule.TOO_LONG)
    return text or None


def _amount(cents: int) -> int:
    if cents <= 0:
        raise ClaimRefused(Rule.NEGATIVE)
    if cents > MAX_AMOUNT_CENTS:
        raise ClaimRefused(Rule.TOO_LARGE)
    return cents


def clean_note(value: str | None, limit: int = MAX_NOTE_CHARS) -> str | None:
    """A note, step or label as it will be stored: trimmed, None when empty.

    Raises:
        ClaimRefused: ``TOO_LONG``.
    """
    return _text(value, limit)


def check_amount(cents: int) -> int:
    """An amount a change may carry: above zero and below any reward.

    Raises:
        ClaimRefused: ``NEGATIVE`` or ``TOO_LARGE``.
    """
    return _amount(cents)


def manual_targets(status: ClaimStatus) -> frozenset[ClaimStatus]:
    """The statuses a coordinator may choose next (payments make the others)."""
    return ALLOWED_TRANSITIONS[status] - BY_PAYMENT


def closed_at_for(status: ClaimStatus, before: Claim, now: datetime) -> datetime | None:
    """``closed_at`` of ``before`` moved to ``status``: kept while it stays closed, set when
    it closes (``now``), cleared when it opens; the import follows the same rule."""
    if status in CLOSED_STATUSES:
        return before.closed_at if before.status is status else now
    return None


def change_status(
    claim: Claim,
    new: ClaimStatus,
    *,
    now: datetime,
    note: str | None = None,
    visible: bool = True,
    approved_cents: int | None = None,
) -> ClaimChange:
    """Move ``claim`` to ``new`` with a note.

    Approving without an amount approves the promised share (or keeps one set before). A
    rejection needs its reason as the note. Paid and partially paid are refused here: they
    follow from ``record_payment``.

    Raises:
        ClaimRefused: the life cycle does not allow it, or an amount or note is wrong.
    """
    text = _text(note)
    if new in BY_PAYMENT:
        raise ClaimRefused(Rule.BY_PAYMENT)
    if new not in ALLOWED_TRANSITIONS[claim.status]:
        raise ClaimRefused(Rule.TRANSITION)
    if new is ClaimStatus.REJECTED and text is None:
        raise ClaimRefused(Rule.REASON_REQUIRED)
    approved = claim.approved_cents
    if new is ClaimStatus.APPROVED:
        approved = approved_cents if approved_cents is not None else approved
        approved = _check_approved(
            claim, approved if approved is not None else claim.promised_cents
        )
    elif approved_cents is not None:
        raise ClaimRefused(Rule.TRANSITION)
    after = replace(
        claim,
        status=new,
        approved_cents=approved,
        closed_at=closed_at_for(new, claim, now),
        updated_at=now,
    )
    return ClaimChange(claim, after, text, visible)


def _check_approved(claim: Claim, cents: int) -> int:
    _amount(cents)
    if cents > claim.promised_cents:
        raise ClaimRefused(Rule.ABOVE_PROMISED)
    if cents < claim.paid_cents:
        raise ClaimRefused(Rule.BELOW_PAID)
    return cents


def record_payment(
    claim: Claim,
    payment: Payment,
    *,
    now: datetime,
    note: str | None = None,
    visible: bool = True,
) -> ClaimChange:
    """Add ``payment``: the claim becomes paid when nothing is owed, else partially paid.

    Raises:
        ClaimRefused: not payable now, not a positive amount, or more than still owed.
    """
    text = _text(note)
    method = _text(payment.method, MAX_LABEL_CHARS)
    reference = _text(payment.reference, MAX_LABEL_CHARS)
    amount = _amount(payment.amount_cents)
    if claim.status not in PAYABLE:
        raise ClaimRefused(Rule.NOT_PAYABLE)
    # A claim imported as approved carries no approved amount: the promised share was.
    approved = claim.promised_cents if claim.approved_cents is None else claim.approved_cents
    paid = claim.paid_cents + amount
    if paid > approved:
        raise ClaimRefused(Rule.OVERPAYMENT)
    status = ClaimStatus.PAID if paid == approved else ClaimStatus.PARTIALLY_PAID
    after = replace(
        claim,
        status=status,
        approved_cents=approved,
        paid_cents=paid,
        closed_at=closed_at_for(status, claim, now),
        updated_at=now,
    )
    stored = Payment(amount, payment.paid_on, method or "", reference)
    return ClaimChange(claim, after, text, visible, stored)


def set_next_step(
    claim: Claim,
    step: str | None,
    on: date | None,
    *,
    now: datetime,
    note: str | None = None,
    visible: bool = True,
) -> ClaimChange:
    """Set (or clear, with None) the next step and its date.

    Raises:
        ClaimRefused: the claim is closed, or the text is too long.
    """
    text = _text(note)
    if claim.status in CLOSED_STATUSES:
        raise ClaimRefused(Rule.CLOSED)
    after = replace(claim, next_step=_text(step), next_step_date=on, updated_at=now)
    return ClaimChange(claim, after, text, visible)


def set_amounts(
    claim: Claim,
    *,
    now: datetime,
    promised_cents: int | None = None,
    approved_cents: int | None = None,
    other_shares_cents: int = 0,
    operation_total_cents: int | None = None,
    note: str | None = None,
    visible: bool = True,
) -> ClaimChange:
    """Change the promised share and/or the approved amount (given ones only).

    ``other_shares_cents`` is what the operation's other claims were promised; with the
    operation's total the new share is checked against it.

    Raises:
        ClaimRefused: closed claim, amount not positive, above the total or the promise, or
            (promised or approved) below what was paid.
    """
    text = _text(note)
    if claim.status in CLOSED_STATUSES:
        raise ClaimRefused(Rule.CLOSED)
    promised = claim.promised_cents if promised_cents is None else _amount(promised_cents)
    if promised < claim.paid_cents:
        # A claim imported with a paid amount has no approved amount to stop this (#16.6).
        raise ClaimRefused(Rule.PROMISED_BELOW_PAID)
    check_shares(operation_total_cents, (other_shares_cents, promised))
    after = replace(claim, promised_cents=promised, updated_at=now)
    approved = claim.approved_cents if approved_cents is None else approved_cents
    if approved is not None:
        after = replace(after, approved_cents=_check_approved(after, approved))
        if after.paid_cents and after.paid_cents == after.approved_cents:
            # Lowered to what was paid already: nothing is owed, the claim is paid.
            after = replace(after, status=ClaimStatus.PAID, closed_at=now)
    return ClaimChange(claim, after, text, visible)


def check_shares(total_cents: int | None, shares: Iterable[int]) -> None:
    """Refuse shares adding up to more than an operation's total (no total: no limit).

    Raises:
        ClaimRefused: ``OVER_TOTAL``.
    """
    if total_cents is not None and sum(shares) > total_cents:
        raise ClaimRefused(Rule.OVER_TOTAL)


def problems(claim: Claim) -> list[str]:
    """The invariants ``claim`` breaks (empty: consistent); for tests and ``--check`` tools."""
    found: list[str] = []
    approved = claim.approved_cents
    if claim.promised_cents < 0 or claim.paid_cents < 0 or (approved is not None and approved < 0):
        found.append("negative amount")
    if approved is None and claim.paid_cents > 0:
        found.append("paid without an approved amount")
    if approved is not None and claim.paid_cents > approved:
        found.append("paid more than approved")
    if approved is not None and approved > claim.promised_cents:
        found.append("approved more than promised")
    if claim.status is ClaimStatus.PAID and (approved is None or claim.paid_cents != approved):
        found.append("paid but money owed")
    if claim.status is ClaimStatus.PARTIALLY_PAID and not (0 < claim.paid_cents < (approved or 0)):
        found.append("partially paid without a partial payment")
    if (claim.closed_at is not None) != (claim.status in CLOSED_STATUSES):
        found.append("closed_at does not match the status")
    return found


class EditKind(StrEnum):
    """What a coordinator is changing in a multi-step edit in the chat."""

    STATUS = "status"
    PAYMENT = "payment"
    STEP = "step"
    AMOUNT = "amount"


@dataclass(frozen=True, slots=True)
class ClaimEdit:
    """A change being composed in the chat, kept in the database between its steps.

    ``version`` is the claim's version when the edit started: confirming compares it, so an
    edit begun before someone else's change is refused instead of overwriting it (#16.2).
    """

    claim_id: int
    version: int
    kind: EditKind
    status: ClaimStatus | None = None
    note: str | None = None
    visible: bool = True
    amount_cents: int | None = None
    method: str | None = None
    reference: str | None = None
    step: str | None = None
    step_date: date | None = None
    #: An amount change (``AMOUNT``): the new promised share and/or approved amount.
    new_promised: int | None = None
    new_approved: int | None = None


@dataclass(frozen=True, slots=True)
class AmountRequest:
    """A change of a claim's promised share or approved amount waiting for a second person.

    Money promised to a person is changed by two people (M-14, like alerts): the requester
    never decides; the change applies only if the claim is still at ``version``.
    """

    id: int
    claim_id: int
    region: str
    version: int
    requester_id: int
    promised_cents: int | None
    approved_cents: int | None
    note: str | None = None
    visible: bool = True


class OperationStep(StrEnum):
    """What an administrator composing an operation in the chat is asked for next.

    A new operation asks for its label, region, total and promised payment date in turn;
    an edit asks for one field (``PAY_BY`` or ``TOTAL``); ``CONFIRM`` waits for *Confirmar*.
    """

    LABEL = "label"
    REGION = "region"
    TOTAL = "total"
    PAY_BY = "pay_by"
    CONFIRM = "confirm"


@dataclass(frozen=True, slots=True)
class OperationDraft:
    """An operation being created (``operation_id`` None) or edited in the chat, kept in the
    database between its steps so that a restart of the bot loses nothing (#16.3).

    ``field`` is what an edit changes (``PAY_BY`` or ``TOTAL``; None for a new operation);
    ``pay_by`` None at ``CONFIRM`` means "no date" (an edit clears it). ``created_at`` is
    when its last step was stored (None: not stored yet).
    """

    operation_id: int | None
    step: OperationStep
    field: OperationStep | None = None
    label: str | None = None
    region: str | None = None
    total_cents: int | None = None
    pay_by: Day | None = None
    created_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the draft has waited as long as a region change may (10 minutes since
        its last step, ``REGION_EDIT_LIFETIME``, for the same reason: once its prompt is
        gone from the chat, a text typed later, such as a PIN, must not become a label or
        a total)."""
        return self.created_at is not None and now - self.created_at >= REGION_EDIT_LIFETIME


class DraftProblem(StrEnum):
    """Why a step of an operation draft in the chat changed nothing (the draft still waits,
    except for ``GONE`` and ``NOTHING_PENDING``); handlers translate each into a sentence."""

    BAD_LABEL = "bad_label"
    BAD_AMOUNT = "bad_amount"
    BAD_DATE = "bad_date"
    USE_BUTTONS = "use_buttons"
    NOTHING_PENDING = "nothing_pending"
    GONE = "gone"
    LABEL_TAKEN = "label_taken"
    #: The draft waited past its lifetime (``OperationDraft.expired``) and was dropped.
    EXPIRED = "expired"


class DraftRefused(DomainError):
    """A step of an operation draft refused; ``problem`` says why (message: in English)."""

    def __init__(self, problem: DraftProblem) -> None:
        """Name the problem."""
        super().__init__(f"operation draft: {problem}")
        self.problem = problem
