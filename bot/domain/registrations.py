"""Administrators managing registrations (issue #16.3): filters and open invites."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.models import Member, MemberState, Role


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

    def matches(self, member: Member) -> bool:
        """Whether ``member`` passes every filter that is set."""
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
        )
