"""Administrators managing registrations (issue #16.3): filters and open invites."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from bot.domain.errors import ValidationError
from bot.domain.models import Member, MemberState, Role


class Refusal(StrEnum):
    """Why a change of role or regions was refused: the chat names it in the member's
    language, the CLI prints the English message, the audit row records it."""

    UNCHANGED = "unchanged"
    #: An informant belongs to exactly one region.
    ONE_REGION = "one_region"
    #: The last active administrator would be left with nobody to manage members.
    LAST_ADMIN = "last_admin"
    UNKNOWN_REGION = "unknown_region"
    #: Staff keep at least one region.
    NO_REGION = "no_region"
    #: A typed region name that is not one clean line of at most 64 characters.
    BAD_NAME = "bad_name"
    #: Another region has that name already (names are the same in any case).
    NAME_TAKEN = "name_taken"
    #: No region change is waiting for a name or a confirmation (done, cancelled, old button).
    NOTHING_PENDING = "nothing_pending"
    #: The region change waited longer than ``REGION_EDIT_LIFETIME`` and was dropped.
    EXPIRED = "expired"
    #: A typed region name of digits only: perhaps a PIN typed in the wrong place (T-54).
    DIGITS_ONLY = "digits_only"
    #: A region to remove is still used by members, operations or claims (``RegionInUse``).
    IN_USE = "in_use"
    #: The region to remove was renamed since the question was asked.
    REGION_CHANGED = "region_changed"


class ChangeRefused(ValidationError):
    """A change of role or regions the rules refuse; nothing changed (audited)."""

    def __init__(self, reason: Refusal, message: str) -> None:
        """Keep the reason beside the operator's message."""
        super().__init__(message)
        self.reason = reason


class RegionChange(StrEnum):
    """One change of a member's regions from the chat: one region at a time, so a button
    carries it whole and the confirmation is judged against the regions at the press."""

    #: An informant moves to another region (they have exactly one).
    MOVE = "move"
    ADD = "add"
    REMOVE = "remove"

    def apply(self, current: tuple[str, ...], region: str) -> tuple[str, ...]:
        """The regions after this change of ``current``."""
        if self is RegionChange.MOVE:
            return (region,)
        if self is RegionChange.ADD:
            return current if region in current else (*current, region)
        return tuple(name for name in current if name != region)


@dataclass(frozen=True, slots=True)
class OpenInvite:
    """An invite not used and not revoked (expired ones too: they say who never came)."""

    member_id: int
    codename: str
    role: Role
    regions: tuple[str, ...]
    created_at: datetime
    expires_at: datetime
    expired: bool


@dataclass(frozen=True, slots=True)
class MemberFilter:
    """Which members ``chaski members list`` shows; None or False means "any"."""

    search: str | None = None
    role: Role | None = None
    region: str | None = None
    state: MemberState | None = None
    #: Registered: a Telegram account is linked.
    registered: bool = False
    #: Enrolled but the invite not redeemed yet (active, no account linked).
    not_redeemed: bool = False
    blocked: bool = False
    #: Not opened the bot for this many days: the last day seen (or, never seen, the day of
    #: enrolment) is at least this many days before today.
    idle_days: int | None = None

    def matches(self, member: Member, today: date) -> bool:
        """Whether ``member`` passes every filter that is set (``today`` for ``idle_days``)."""
        return (
            (self.search is None or search_key(self.search) in search_key(member.codename))
            and (self.role is None or member.role is self.role)
            and (
                self.region is None
                or self.region.casefold() in (r.casefold() for r in member.regions)
            )
            and (self.state is None or member.state is self.state)
            and (not self.registered or member.telegram_linked)
            and (
                not self.not_redeemed
                or (member.state is MemberState.ACTIVE and not member.telegram_linked)
            )
            and (not self.blocked or member.blocked)
            and (self.idle_days is None or self._idle(member, today))
        )

    def _idle(self, member: Member, today: date) -> bool:
        last = member.last_seen or member.enrolled
        return last is None or last <= today - timedelta(days=self.idle_days or 0)


@dataclass(frozen=True, slots=True)
class RegionEdit:
    """An administrator adding (``region_id`` None) or renaming a region in the chat, between
    the button and the confirmation; ``name`` is what they typed, once typed."""

    region_id: int | None
    name: str | None = None
    #: When the step was last taken (the button, or the typed name); None before it is stored.
    created_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Whether the change has waited ``REGION_EDIT_LIFETIME`` or longer since its last
        step, and must be dropped rather than take the member's next text as a name."""
        return self.created_at is not None and now - self.created_at >= REGION_EDIT_LIFETIME


#: How long a region change waits for its typed name, then for its confirmation, counted
#: from its last step. Ten minutes is the default life of the prompt asking for the name
#: (M-10) and of a PIN session (M-05): once the prompt is gone from the chat nothing shows
#: that the bot still waits, so a text typed later (a PIN, a note) must not become a region
#: name (issue #16.3).
REGION_EDIT_LIFETIME = timedelta(minutes=10)


class EditWait(StrEnum):
    """What a member's next plain text meets: no region change, one waiting for its name,
    or one that waited too long (dropped now; the member is told, the text goes on)."""

    NONE = "none"
    WAITING = "waiting"
    EXPIRED = "expired"


def search_key(text: str) -> str:
    """``text`` as a search compares it: any case, without accents (#16.3).

    Codenames are written ``Ñusta`` or ``José``; an administrator on a phone types ``nusta``
    or ``JOSE``, and must find them. Compatibility decomposition (NFKD) splits every accented
    letter into its base and a combining mark, which is dropped; then case is folded. A
    search that finds a little more (``n`` matching ``ñ``) beats one that finds nobody.
    """
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


#: Characters people put between digit groups; ignored when telling a digits-only text.
_DIGIT_SEPARATORS = frozenset("-._/,+()#*")


def digits_only(text: str) -> bool:
    """Whether ``text`` is digits only (any script, after NFKC; spaces and the usual group
    separators ignored): never a region name, since it may be a PIN typed in the wrong
    place (T-54). A text of separators alone is not digits."""
    digits = False
    for char in unicodedata.normalize("NFKC", text):
        if char.isspace() or char in _DIGIT_SEPARATORS:
            continue
        if not char.isdecimal():
            return False
        digits = True
    return digits


@dataclass(frozen=True, slots=True)
class RegionUsage:
    """How many members (unlinked ones too: they keep their regions), operations, claims and
    safety alerts (kept 30 days) use one region; a region is removed only when all are zero."""

    members: int = 0
    operations: int = 0
    claims: int = 0
    alerts: int = 0

    @property
    def unused(self) -> bool:
        """Nothing uses the region: it may be removed."""
        return self.members == self.operations == self.claims == self.alerts == 0


class RegionInUse(ChangeRefused):
    """A region that cannot be removed: something uses it (counts for the answer)."""

    def __init__(self, region: str, usage: RegionUsage) -> None:
        """Keep the region's name and its counts beside the operator's message."""
        super().__init__(
            Refusal.IN_USE,
            f"region: still used by {usage.members} member(s), {usage.operations}"
            f" operation(s), {usage.claims} claim(s), {usage.alerts} alert(s); move them first",
        )
        self.region = region
        self.usage = usage


def region_fingerprint(name: str) -> str:
    """Eight hex digits standing for a region's name in a removal button: the press removes
    the region only if it still has the name the administrator confirmed (another one may
    have renamed it meanwhile)."""
    return hashlib.sha256(name.encode()).hexdigest()[:8]
