"""Reading claims: an informant sees their own, and nothing else exists for them (M-04)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import NotFound
from bot.domain.models import Claim, ClaimEvent, Member, Role
from bot.domain.ports import ClaimRepository
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch


@dataclass(frozen=True, slots=True)
class ClaimService:
    """Claim queries for members."""

    claims: ClaimRepository
    #: Audits and counts refused claim views (T-10, T-11); the composition root always sets
    #: it (shared with the other services), unit tests of reading may leave it out.
    denials: DenialWatch | None = None

    async def list_for(self, actor: Member) -> list[Claim]:
        """The actor's own claims.

        Raises:
            NotAllowed: the actor is not an active informant.
        """
        authorize(actor, Action.VIEW_OWN_CLAIMS)
        return await self.claims.list_for_member(actor.id)

    async def history(self, actor: Member, claim_id: int) -> tuple[Claim, list[ClaimEvent]]:
        """A claim and the history the actor may see (informants: visible notes only).

        Raises:
            NotFound: unknown, or not the actor's to see (indistinguishable on purpose: both
                are audited the same way, so neither costs a different write).
        """
        claim = await self.claims.get(claim_id)
        if claim is None or not is_allowed(actor, Action.VIEW_CLAIM, claim):
            if self.denials is not None:
                await self.denials.denied(actor, str(Action.VIEW_CLAIM), f"claim:{claim_id}")
            raise NotFound("claim")
        events = await self.claims.history(claim_id, visible_only=actor.role is Role.INFORMANT)
        return claim, events
