"""Administrators managing registrations (issue #16.3): filters and open invites."""

from __future__ import annotations

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
            (self.search is None or self.search.casefold() in member.codename.casefold())
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
