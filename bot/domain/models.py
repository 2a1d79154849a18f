"""Domain value objects: members, regions, invites, operations, claims and their statuses.

Pure Python on purpose (no Telegram, SQL or Babel): every layer shares these types, and the
rules that protect informants (allowed status changes, overdue days) live next to the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

#: ``date`` under a name that a field called ``date`` cannot shadow.
Day = date


class Lang(StrEnum):
    """A member's chosen language; catalogs exist for exactly these."""

    ES = "es"
    QU = "qu"


class Role(StrEnum):
    """What a member may do; checked by the one ``authorize()``."""

    INFORMANT = "informant"
    COORDINATOR = "coordinator"
    ADMIN = "admin"


class MemberState(StrEnum):
    """Lifecycle of a member record (the Telegram link is a separate fact)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"
    UNLINKED = "unlinked"


class ClaimStatus(StrEnum):
    """Where a reward claim stands; transitions are enforced by ``ALLOWED_TRANSITIONS``."""

    REGISTERED = "registered"
    UNDER_REVIEW = "under_review"
    APPROVED = "approved"
    PAYMENT_SCHEDULED = "payment_scheduled"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    REJECTED = "rejected"
    REOPENED = "reopened"


#: Statuses that end a claim: nothing is owed any more, so nothing is overdue.
CLOSED_STATUSES = frozenset({ClaimStatus.PAID, ClaimStatus.REJECTED})

#: The claim life cycle (docs/architecture.md §8); anything else is refused by the domain.
ALLOWED_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    ClaimStatus.REGISTERED: frozenset({ClaimStatus.UNDER_REVIEW, ClaimStatus.REJECTED}),
    ClaimStatus.UNDER_REVIEW: frozenset({ClaimStatus.APPROVED, ClaimStatus.REJECTED}),
    ClaimStatus.APPROVED: frozenset(
        {ClaimStatus.PAYMENT_SCHEDULED, ClaimStatus.PARTIALLY_PAID, ClaimStatus.PAID}
    ),
    ClaimStatus.PAYMENT_SCHEDULED: frozenset({ClaimStatus.PARTIALLY_PAID, ClaimStatus.PAID}),
    ClaimStatus.PARTIALLY_PAID: frozenset({ClaimStatus.PAYMENT_SCHEDULED, ClaimStatus.PAID}),
    ClaimStatus.PAID: frozenset(),
    ClaimStatus.REJECTED: frozenset({ClaimStatus.REOPENED}),
    ClaimStatus.REOPENED: frozenset({ClaimStatus.UNDER_REVIEW, ClaimStatus.REJECTED}),
}


def can_transition(old: ClaimStatus, new: ClaimStatus) -> bool:
    """Return whether a claim may move from ``old`` to ``new``."""
    return new in ALLOWED_TRANSITIONS[old]


@dataclass(frozen=True, slots=True)
class Region:
    """A named area; coordinators are scoped to regions, informants belong to one."""

    id: int
    name: str


@dataclass(frozen=True, slots=True)
class Member:
    """A registered person, known by codename only (never a real name, M-01).

    ``lang_chosen`` is False until the member pressed a language button: until then we
    speak Spanish and show the picker, whatever Telegram's ``language_code`` says (M-19).
    ``telegram_linked`` says whether an account is linked; the ID itself stays in storage.
    ``pin_set`` says whether a PIN was set when the member was read (None: not read with
    it), so the PIN gate needs no lookup of its own for members without one.
    """

    id: int
    role: Role
    codename: str
    lang: Lang
    lang_chosen: bool
    regions: tuple[str, ...]
    state: MemberState
    telegram_linked: bool
    blocked: bool = False
    pin_set: bool | None = None
    #: The last day (UTC, no time) the member used the bot, at most one write a day; None:
    #: never, or not read. A day and not a time: see docs/threat-model.md (last seen).
    last_seen: date | None = None
    #: The day the member was enrolled (invite created); None: not read.
    enrolled: date | None = None

    @property
    def active(self) -> bool:
        """A member who may use the bot right now."""
        return self.state is MemberState.ACTIVE and self.telegram_linked

    @property
    def region(self) -> str | None:
        """The first (for informants: the only) region."""
        return self.regions[0] if self.regions else None


@dataclass(frozen=True, slots=True)
class NewInvite:
    """What an administrator asks for when creating an invite.

    A coordinator may have several regions (``region`` and ``more_regions``); an informant
    has exactly one.
    """

    role: Role
    region: str
    codename: str
    lang: Lang | None
    ttl_hours: int
    more_regions: tuple[str, ...] = ()

    @property
    def regions(self) -> tuple[str, ...]:
        """Every region of the invite, the first one first."""
        return (self.region, *self.more_regions)


def can_reenrol(member: Member, role: Role) -> bool:
    """Whether a new invite may be issued for an existing codename (issue #14.7).

    Only while no Telegram account is linked (the invite was lost or expired, or the member
    was unlinked: panic button, lost phone, duress) and with the same role: a suspended
    member stays suspended, and a codename never changes role by a new invite.
    """
    return (
        not member.telegram_linked
        and member.state is not MemberState.SUSPENDED
        and member.role is role
    )


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    """The only moment the plaintext code exists: printed once, stored as a keyed hash."""

    code: str
    member_id: int
    expires_at: datetime
    #: A new code for an existing member (``can_reenrol``), not a new member.
    reenrolled: bool = False


@dataclass(frozen=True, slots=True)
class Operation:
    """The event a reward was promised for; one operation is shared by many claims.

    ``total_cents`` is the whole reward offered (shared among the claims: their promised
    shares may not add up to more), ``promised_by`` and ``basis`` say who promised it and
    on what basis (a flier, a resolution), ``pay_by`` the payment date promised. All four
    are None for operations created by an import before they were asked (issue #16.1).
    """

    id: int
    label: str
    date: date | None
    region: str
    total_cents: int | None = None
    promised_by: str | None = None
    basis: str | None = None
    pay_by: Day | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """One informant's claim on one operation; money is integer céntimos of PEN."""

    id: int
    reference: str
    member_id: int
    operation: Operation
    region: str
    status: ClaimStatus
    promised_cents: int
    approved_cents: int | None
    paid_cents: int
    promised_date: date | None
    next_step: str | None
    next_step_date: date | None
    updated_at: datetime
    version: int
    #: When the claim was paid in full or rejected; None while it is open (or reopened).
    closed_at: datetime | None = None

    @property
    def due_date(self) -> date | None:
        """The payment date promised: the claim's own, else its operation's."""
        return self.promised_date or self.operation.pay_by

    def days_overdue(self, today: date) -> int:
        """Days since the promised date while the claim is still unpaid (0 otherwise)."""
        due = self.due_date
        if due is None or self.status in CLOSED_STATUSES:
            return 0
        return max(0, (today - due).days)


@dataclass(frozen=True, slots=True)
class ClaimEvent:
    """One entry of a claim's history; ``visible`` events may be shown to the informant."""

    claim_id: int
    at: datetime
    status: ClaimStatus
    note: str | None
    visible: bool
    #: The day the status took effect, when the import said so (``at`` is when it was
    #: recorded); None for events recorded before that was asked.
    effective: date | None = None


@dataclass(frozen=True, slots=True)
class ClaimRow:
    """One validated row of a claims import file (see ``bot.services.claims_import``)."""

    line: int
    reference: str
    codename: str
    operation: str
    operation_date: date | None
    region: str
    promised_cents: int
    status: ClaimStatus
    promised_date: date | None
    next_step: str | None
    next_step_date: date | None
    #: Paid so far (optional ``paid_amount`` column); None: not given, the stored sum stays.
    paid_cents: int | None = None
    #: When the status took effect (optional ``status_date`` column); None: not known, and
    #: the history shows only when the change was recorded.
    status_date: date | None = None
