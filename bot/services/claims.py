"""Reading claims: an informant sees their own, and nothing else exists for them (M-04).

Staff (coordinators of the claim's region, administrators) may open a claim's history: no
screen lists claims for them, so the only way there is a ``claim:history:<id>`` callback they
typed or forged. Each history shown to staff is audited (actor, ``view_claim``, ``claim:<id>``,
never content) so that an insider walking claim ids (A3) leaves a trail an administrator can
read (M-16, T-11); each refused one is audited and counted by the ``DenialWatch``. An
informant's views of their own claims are not audited: the audit log would become a diary of
when an informant looked, which is activity data we do not need to keep (M-01).

Every read of claim data takes the ``PinPass`` of the PIN decision (``PinService.admit``), so
nothing is read, let alone decrypted, before the PIN allowed it (M-05), and the duress PIN's
decoy is decided here, not by the caller (M-13b, T-17): the list is empty, and what only an old
screen could ask for (another page, a history) does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain.errors import NotFound
from bot.domain.models import Claim, ClaimEvent, Member, Role
from bot.domain.pin import PinPass
from bot.domain.ports import Clock, UnitOfWork
from bot.services.authz import Action, authorize, is_allowed
from bot.services.vigilance import DenialWatch


@dataclass(frozen=True, slots=True)
class ClaimService:
    """Claim queries for members."""

    uow: UnitOfWork
    #: Audits and counts refused claim views (T-10, T-11); the composition root always sets
    #: it (shared with the other services), unit tests of reading may leave it out.
    denials: DenialWatch | None = None
    #: The time staff views of a claim's history are stamped with in ``uow.audit``; the
    #: composition root sets it, unit tests of informant reads may leave it out (no audit).
    clock: Clock | None = None

    async def list_for(self, actor: Member, pin: PinPass) -> list[Claim]:
        """The actor's own claims; none in a session opened by the duress PIN (the decoy is
        the real empty state, M-13b), and then nothing is read.

        Raises:
            NotAllowed: the actor is not an active informant.
        """
        authorize(actor, Action.VIEW_OWN_CLAIMS)
        if pin.decoy:
            return []
        return await self.uow.claims.list_for_member(actor.id)

    async def page_of(self, actor: Member, pin: PinPass) -> list[Claim]:
        """The list behind a page button: as ``list_for``, but a decoy list has no pages, so
        in a decoy session only an old button can be pressed and the list does not exist.

        Raises:
            NotAllowed: the actor is not an active informant.
            NotFound: a decoy session.
        """
        authorize(actor, Action.VIEW_OWN_CLAIMS)
        if pin.decoy:
            raise NotFound("claim list")
        return await self.uow.claims.list_for_member(actor.id)

    async def visible(self, actor: Member, claim_id: int) -> Claim:
        """The claim, if ``actor`` may see it; nothing is shown or audited as seen yet.

        Raises:
            NotFound: unknown, or not the actor's to see (indistinguishable on purpose: both
                are audited the same way, so neither costs a different write).
        """
        claim = await self.uow.claims.get(claim_id)
        if claim is None or not is_allowed(actor, Action.VIEW_CLAIM, claim):
            if self.denials is not None:
                await self.denials.denied(actor, str(Action.VIEW_CLAIM), f"claim:{claim_id}")
            raise NotFound("claim")
        return claim

    async def history(
        self, actor: Member, claim_id: int, pin: PinPass
    ) -> tuple[Claim, list[ClaimEvent]]:
        """A claim and the history the actor may see (informants: visible notes only); for
        staff, an audit row that they saw it. Called once the PIN allowed it (the pass), so
        that the row records a view that happened.

        Raises:
            NotFound: as ``visible``; and in a decoy session, where only an old keyboard can
                be pressed (nothing is read).
        """
        if pin.decoy:
            raise NotFound("claim")
        claim = await self.visible(actor, claim_id)
        if actor.role is not Role.INFORMANT and self.clock is not None:
            await self.uow.audit.record(
                action=str(Action.VIEW_CLAIM),
                result="ok",
                now=self.clock.now(),
                actor_id=actor.id,
                actor_role=actor.role,
                target=f"claim:{claim.id}",
            )
        events = await self.uow.claims.history(claim_id, visible_only=actor.role is Role.INFORMANT)
        return claim, events
