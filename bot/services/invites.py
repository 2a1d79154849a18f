"""Creating regions and one-time invites (administrators, CLI or chat)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.errors import Conflict, NotFound, ValidationError
from bot.domain.models import IssuedInvite, Lang, NewInvite, Region, Role
from bot.domain.ports import AuditLog, Clock, InviteRepository, RegionRepository
from bot.domain.text import clean_name

#: M-03: expiry ≤ 72 h.
MAX_TTL_HOURS = 72
#: 32 random bytes → 43 base64url characters, fits Telegram's 64-character deep link.
CODE_BYTES = 32


@dataclass(frozen=True, slots=True)
class InviteService:
    """Registration is by invitation only; this is where invitations come from."""

    invites: InviteRepository
    regions: RegionRepository
    audit: AuditLog
    clock: Clock

    async def add_region(self, name: str) -> Region:
        """Create a region.

        Raises:
            ValidationError: bad name, or it exists already.
        """
        clean = clean_name(name, field="region")
        try:
            region = await self.regions.add(clean, self.clock.now())
        except Conflict:
            raise ValidationError("region: already exists") from None
        await self.audit.record(
            action="region_add", result="ok", now=self.clock.now(), target=f"region:{region.id}"
        )
        return region

    async def create(
        self,
        *,
        role: Role,
        region: str,
        codename: str,
        lang: Lang | None = None,
        ttl_hours: int = MAX_TTL_HOURS,
    ) -> IssuedInvite:
        """Create the member-to-be and its one-time code; the code is returned only here.

        Raises:
            ValidationError: bad codename, unknown region, taken codename, bad TTL.
        """
        clean = clean_name(codename, field="codename")
        if not 1 <= ttl_hours <= MAX_TTL_HOURS:
            raise ValidationError(f"ttl-hours: must be between 1 and {MAX_TTL_HOURS}")
        found = await self.regions.get(region.strip())
        if found is None:
            raise ValidationError("region: unknown (create it with: chaski region add NAME)")
        now = self.clock.now()
        expires_at = now + timedelta(hours=ttl_hours)
        code = secrets.token_urlsafe(CODE_BYTES)
        new = NewInvite(
            role=role, region=found.name, codename=clean, lang=lang, ttl_hours=ttl_hours
        )
        try:
            member_id = await self.invites.create(new, code, expires_at, now)
        except Conflict:
            raise ValidationError("codename: already taken") from None
        except NotFound:
            raise ValidationError("region: unknown") from None
        await self.audit.record(
            action="invite_create", result="ok", now=now, target=f"member:{member_id}"
        )
        return IssuedInvite(code=code, member_id=member_id, expires_at=expires_at)
