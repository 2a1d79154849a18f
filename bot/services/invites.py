"""Creating regions and one-time invites (administrators, CLI or chat)."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from bot.domain.errors import Conflict, NotFound, ValidationError
from bot.domain.models import IssuedInvite, Lang, Member, NewInvite, Region, Role
from bot.domain.ports import Clock, UnitOfWork
from bot.domain.registrations import ChangeRefused, Refusal
from bot.domain.text import clean_name

#: M-03: expiry ≤ 72 h.
MAX_TTL_HOURS = 72
#: 32 random bytes → 43 base64url characters, fits Telegram's 64-character deep link.
CODE_BYTES = 32

#: Why a codename that only another member's case sets apart is refused (#16.3): every
#: command naming a member takes the codename "in any case", and with ``Admin-1`` and
#: ``admin-1`` both enrolled ``ADMIN-1`` named nobody; in a list they also look alike.
CASE_TWIN = (
    "codename: differs only in case from an existing member's codename;"
    " choose another, or type it exactly as enrolled to re-enrol"
)


@dataclass(frozen=True, slots=True)
class InviteService:
    """Registration is by invitation only; this is where invitations come from."""

    uow: UnitOfWork
    clock: Clock

    async def add_region(self, name: str, actor: Member | None = None) -> Region:
        """Create a region; ``actor`` is the administrator in the chat (None: the CLI).

        Raises:
            ValidationError: bad name, or it exists already.
        """
        clean = clean_name(name, field="region")
        try:
            region = await self.uow.regions.add(clean, self.clock.now())
        except Conflict:
            raise ValidationError("region: already exists") from None
        await self.uow.audit.record(
            action="region_add",
            result="ok",
            now=self.clock.now(),
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=f"region:{region.id}",
        )
        return region

    async def create(
        self,
        *,
        role: Role,
        region: str | Sequence[str],
        codename: str,
        lang: Lang | None = None,
        ttl_hours: int = MAX_TTL_HOURS,
    ) -> IssuedInvite:
        """Create the member-to-be and its one-time code; the code is returned only here.

        ``region`` is one region or several (a coordinator of two regions); an informant
        belongs to exactly one. A codename that exists already gets a new code instead when
        ``can_reenrol`` allows it (lost invite, unlinked member): the docs' "re-enrol with a
        new invite", audited as ``reenrol``.

        Raises:
            ValidationError: bad codename, unknown region, several regions for an informant,
                taken codename, bad TTL.
        """
        clean = clean_name(codename, field="codename")
        if not 1 <= ttl_hours <= MAX_TTL_HOURS:
            raise ValidationError(f"ttl-hours: must be between 1 and {MAX_TTL_HOURS}")
        regions = await self.check_regions(role, region)
        members = self.uow.members
        if (
            await members.by_codename(clean) is None
            and await members.by_codename_any_case(clean) is not None
        ):
            raise ValidationError(CASE_TWIN)
        now = self.clock.now()
        expires_at = now + timedelta(hours=ttl_hours)
        code = secrets.token_urlsafe(CODE_BYTES)
        new = NewInvite(
            role=role,
            region=regions[0],
            codename=clean,
            lang=lang,
            ttl_hours=ttl_hours,
            more_regions=regions[1:],
        )
        result = "ok"
        try:
            try:
                member_id: int | None = await self.uow.invites.create(new, code, expires_at, now)
            except Conflict:
                member_id = await self.uow.invites.reenrol(new, code, expires_at, now)
                result = "reenrol"
        except NotFound:
            raise ValidationError("region: unknown") from None
        if member_id is None:
            raise ValidationError(
                "codename: already taken (by a linked or suspended member, or one of another role)"
            )
        await self.uow.audit.record(
            action="invite_create", result=result, now=now, target=f"member:{member_id}"
        )
        return IssuedInvite(
            code=code,
            member_id=member_id,
            expires_at=expires_at,
            reenrolled=result == "reenrol",
        )

    async def check_regions(self, role: Role, region: str | Sequence[str]) -> tuple[str, ...]:
        """Each named region's stored spelling, once each, in the order given.

        Raises:
            ChangeRefused: none given, one unknown, or several for an informant (a
                ``ValidationError`` with its reason).
        """
        found: dict[int, str] = {}
        for name in [region] if isinstance(region, str) else region:
            known = await self.uow.regions.get(name.strip())
            if known is None:
                raise ChangeRefused(
                    Refusal.UNKNOWN_REGION,
                    "region: unknown (create it with: chaski region add NAME)",
                )
            found.setdefault(known.id, known.name)
        if not found:
            raise ChangeRefused(Refusal.NO_REGION, "region: at least one is needed")
        if role is Role.INFORMANT and len(found) > 1:
            raise ChangeRefused(
                Refusal.ONE_REGION, "region: an informant belongs to exactly one region"
            )
        return tuple(found.values())
