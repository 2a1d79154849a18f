"""Administrators manage registrations from the server (issue #16.3): ``chaski members``,
``chaski invite``, ``chaski region``.

The CLI runs on the server by someone holding the database and its keys, so it needs no
``authorize()`` call (like ``bot.services.members``). The administrators' chat command
(``/miembros``) uses the same methods through the ``*_by`` variants, which take the member
record of this update and check ``Action.MANAGE_MEMBERS`` every time (M-04): an old button
of a demoted administrator, or a coordinator's forged one, is refused and the refusal
audited and counted (``DenialWatch``, T-11). Every change is audited with the member's
internal id, never a codename.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Member, MemberState, Region, Role
from bot.domain.ports import Clock, UnitOfWork
from bot.domain.registrations import (
    ChangeRefused,
    EditWait,
    MemberFilter,
    OpenInvite,
    Refusal,
    RegionChange,
    RegionEdit,
    RegionInUse,
    RegionUsage,
    digits_only,
    region_fingerprint,
)
from bot.domain.safety import WipeReport
from bot.domain.text import clean_name
from bot.services.authz import Action, is_allowed
from bot.services.invites import InviteService
from bot.services.outbox import menu_message
from bot.services.safety import SafetyService
from bot.services.vigilance import DenialWatch

#: At most this many members in one chat answer (one button each; the CLI lists them all).
MAX_LISTED = 20


@dataclass(frozen=True, slots=True)
class RegistrationAdmin:
    """Find, suspend, reactivate, re-role, re-region and unlink members; invites; regions."""

    uow: UnitOfWork
    invites: InviteService
    safety: SafetyService
    clock: Clock
    #: Audits and counts refusals of the chat variants (T-11); None in the CLI's tests.
    denials: DenialWatch | None = None

    async def find(self, wanted: MemberFilter) -> list[Member]:
        """Members passing every filter, by id (idle days are counted from today, UTC).

        Raises:
            ValidationError: ``wanted.region`` names no region: a mistyped region must not
                read as "nobody there" (#16.3), as in ``claims export --region``.
        """
        if wanted.region is not None and await self.uow.regions.get(wanted.region.strip()) is None:
            raise ValidationError("region: unknown (see chaski region list)")
        today = self.clock.now().date()
        return [
            member for member in await self.uow.members.list_all() if wanted.matches(member, today)
        ]

    async def member(self, codename: str) -> Member:
        """The member with this codename, any case.

        Raises:
            NotFound: no such member.
        """
        member = await self.uow.members.by_codename_any_case(codename.strip())
        if member is None:
            raise NotFound("no member with that codename (see chaski members list)")
        return member

    async def _record(
        self, action: str, member: Member, result: str = "ok", actor: Member | None = None
    ) -> None:
        await self.uow.audit.record(
            action=action,
            result=result,
            now=self.clock.now(),
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=f"member:{member.id}",
        )

    async def _refuse(self, actor: Member, target: str | None) -> NotAllowed:
        """Audit and count one refused chat request; the caller raises what this returns."""
        if self.denials is not None:
            await self.denials.denied(actor, str(Action.MANAGE_MEMBERS), target)
        return NotAllowed(Action.MANAGE_MEMBERS)

    async def target_by(self, actor: Member, member_id: int) -> Member:
        """The member ``actor`` may suspend or reactivate from the chat.

        Only an active administrator, and never on themselves (as for unlinks and PIN
        resets, ``bot.services.authz``): suspending oneself would leave the chat without a
        way back.

        Raises:
            NotAllowed: not an active administrator, no such member, or themselves
                (audited, indistinguishable).
        """
        target = f"member:{member_id}"
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            raise await self._refuse(actor, target)
        member = await self.uow.members.get(member_id)
        if member is None or member.id == actor.id:
            raise await self._refuse(actor, target)
        return member

    async def find_by(self, actor: Member, wanted: MemberFilter) -> list[Member]:
        """``find`` for the chat: an active administrator only, at most ``MAX_LISTED``.

        Raises:
            NotAllowed: not an active administrator (audited).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            raise await self._refuse(actor, None)
        return (await self.find(wanted))[:MAX_LISTED]

    async def suspend(self, codename: str) -> Member:
        """Suspend: the member can do nothing in the bot, and no invite of theirs works.

        Raises:
            NotFound: no such member. ValidationError: not active (suspended or unlinked).
            ChangeRefused: the last active administrator (audited).
        """
        return await self._suspend(await self.member(codename), None)

    async def suspend_by(self, actor: Member, member_id: int) -> Member:
        """``suspend`` from the chat, re-checked for ``actor`` now (M-04).

        Raises:
            NotAllowed: as ``target_by``. ValidationError: not active.
        """
        return await self._suspend(await self.target_by(actor, member_id), actor)

    async def _suspend(self, member: Member, actor: Member | None) -> Member:
        """The rules of a suspension, one place for the CLI and the chat.

        The last active administrator is refused as for a role change (audited). The check
        and the change are one transaction, so two administrators suspending each other at
        the same moment leave one of them active.

        Raises:
            ValidationError: not active. ChangeRefused: the last active administrator.
        """
        if member.state is not MemberState.ACTIVE:
            raise ValidationError(f"the member is {member.state}, not active; nothing changed")
        refused = False
        async with self.uow.transaction():
            if member.role is Role.ADMIN and not await self._other_admin(member):
                refused = True
                await self._record(
                    "member_suspend", member, f"refused:{Refusal.LAST_ADMIN}", actor
                )
            else:
                await self.uow.members.set_state(member.id, MemberState.SUSPENDED)
                await self._record("member_suspend", member, actor=actor)
        if refused:
            raise ChangeRefused(
                Refusal.LAST_ADMIN,
                "this is the last active administrator: make another administrator first",
            )
        return member

    async def reactivate(self, codename: str) -> Member:
        """Undo a suspension (an unlinked member needs a new invite instead).

        Raises:
            NotFound: no such member. ValidationError: not suspended.
        """
        return await self._reactivate(await self.member(codename), None)

    async def reactivate_by(self, actor: Member, member_id: int) -> Member:
        """``reactivate`` from the chat, re-checked for ``actor`` now (M-04).

        Raises:
            NotAllowed: as ``target_by``. ValidationError: not suspended.
        """
        return await self._reactivate(await self.target_by(actor, member_id), actor)

    async def _reactivate(self, member: Member, actor: Member | None) -> Member:
        if member.state is not MemberState.SUSPENDED:
            raise ValidationError(
                f"the member is {member.state}, not suspended; nothing changed"
                + (
                    " (an unlinked member gets a new invite: chaski invite create)"
                    if member.state is MemberState.UNLINKED
                    else ""
                )
            )
        await self.uow.members.set_state(member.id, MemberState.ACTIVE)
        await self._record("member_reactivate", member, actor=actor)
        return member

    async def set_role(self, codename: str, role: Role) -> Member:
        """Change a member's role; an informant must then have exactly one region.

        Returns the member as it was (its previous role).

        Raises:
            NotFound: no such member. ChangeRefused: as ``_set_role`` (audited).
        """
        return await self._set_role(await self.member(codename), role, None)

    async def set_role_by(self, actor: Member, member_id: int, role: Role) -> Member:
        """``set_role`` from the chat, re-checked for ``actor`` now (M-04, T-12).

        Raises:
            NotAllowed: as ``target_by`` (so never one's own role). ChangeRefused: as
                ``_set_role`` (audited).
        """
        return await self._set_role(await self.target_by(actor, member_id), role, actor)

    async def _set_role(self, member: Member, role: Role, actor: Member | None) -> Member:
        """The rules of a role change, one place for the CLI and the chat.

        Refused (nothing changes, the refusal is audited): the same role; an informant-to-be
        without exactly one region; the last active administrator losing the role (nobody
        could manage members in the chat any more).
        """
        refusal: ChangeRefused | None = None
        if member.role is role:
            refusal = ChangeRefused(
                Refusal.UNCHANGED, f"the member is already {role}; nothing changed"
            )
        elif role is Role.INFORMANT and len(member.regions) != 1:
            refusal = ChangeRefused(
                Refusal.ONE_REGION,
                "an informant belongs to exactly one region: set the regions first"
                " (chaski members set-regions)",
            )
        # One transaction from the last-administrator check to the change, so two
        # administrators demoting each other at the same moment leave one of them. The
        # member's command menu follows in it too: a row the running bot's sender
        # turns into the new role's menu, whether the change came from the chat or from the
        # CLI, which cannot reach Telegram (issue #16.3).
        async with self.uow.transaction():
            if (
                refusal is None
                and member.role is Role.ADMIN
                and not await self._other_admin(member)
            ):
                refusal = ChangeRefused(
                    Refusal.LAST_ADMIN,
                    "this is the last active administrator: make another administrator first",
                )
            if refusal is not None:
                await self._record("member_set_role", member, f"refused:{refusal.reason}", actor)
            else:
                await self.uow.registrations.set_role(member.id, role)
                if member.telegram_linked:
                    now = self.clock.now()
                    await self.uow.outbox.enqueue(menu_message(member.id, role, now))
                await self._record("member_set_role", member, f"role:{role}", actor)
        if refusal is not None:
            raise refusal
        return member

    async def _other_admin(self, member: Member) -> bool:
        """Whether another administrator can act now (active, with a linked account)."""
        return any(
            other.role is Role.ADMIN and other.active and other.id != member.id
            for other in await self.uow.members.list_all()
        )

    async def set_regions(self, codename: str, regions: Sequence[str]) -> tuple[str, ...]:
        """Replace a member's regions (an informant has exactly one).

        Raises:
            NotFound: no such member. ValidationError: unknown region, none, several for an
                informant (audited as refused).
        """
        return await self._set_regions(await self.member(codename), regions, None)

    async def regions_by(self, actor: Member) -> list[Region]:
        """Every region, for the chat's region buttons.

        Raises:
            NotAllowed: not an active administrator (audited).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            raise await self._refuse(actor, None)
        return await self.uow.regions.list_all()

    async def region_counts_by(self, actor: Member) -> list[tuple[Region, int, RegionUsage]]:
        """Every region with how many members belong to it (unlinked ones not counted) and
        what uses it (unlinked members counted: they keep the region), for the chat's region
        list and its *Quitar* buttons (issue #16.3).

        Raises:
            NotAllowed: not an active administrator (audited).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            raise await self._refuse(actor, None)
        members = [
            member
            for member in await self.uow.members.list_all()
            if member.state is not MemberState.UNLINKED
        ]
        usage = await self.uow.regions.usage()
        return [
            (
                region,
                sum(region.name in member.regions for member in members),
                usage.get(region.id, RegionUsage()),
            )
            for region in await self.uow.regions.list_all()
        ]

    async def change_region_by(
        self, actor: Member, member_id: int, region_id: int, change: RegionChange
    ) -> tuple[Member, tuple[str, ...]]:
        """One region moved to, added or removed from the chat, applied to the member's
        regions as they are now (the button may be old). Returns the member as it was and
        its new regions.

        Raises:
            NotAllowed: as ``target_by``. ChangeRefused: no such region any more, no change,
                none left, several for an informant (audited).
        """
        member = await self.target_by(actor, member_id)
        names = {region.id: region.name for region in await self.uow.regions.list_all()}
        refusal: ChangeRefused | None = None
        if region_id not in names:
            refusal = ChangeRefused(Refusal.UNKNOWN_REGION, "region: unknown")
        else:
            wanted = change.apply(member.regions, names[region_id])
            if wanted == member.regions:
                refusal = ChangeRefused(Refusal.UNCHANGED, "region: nothing changes")
            elif not wanted:
                refusal = ChangeRefused(Refusal.NO_REGION, "region: at least one is needed")
        if refusal is not None:
            await self._record("member_set_regions", member, f"refused:{refusal.reason}", actor)
            raise refusal
        return member, await self._set_regions(member, wanted, actor)

    async def _set_regions(
        self, member: Member, regions: Sequence[str], actor: Member | None
    ) -> tuple[str, ...]:
        try:
            names = await self.invites.check_regions(member.role, regions)
            try:
                await self.uow.registrations.set_regions(member.id, names)
            except NotFound:
                raise ChangeRefused(Refusal.UNKNOWN_REGION, "region: unknown") from None
        except ChangeRefused as refusal:
            await self._record("member_set_regions", member, f"refused:{refusal.reason}", actor)
            raise
        await self._record("member_set_regions", member, actor=actor)
        return names

    async def unlink(self, codename: str) -> tuple[Member, WipeReport]:
        """A lost or seized phone: shred the link; claims stay; a new invite re-links.

        Raises:
            NotFound: no such member. ValidationError: no account is linked.
            ChangeRefused: the last active administrator (audited).
        """
        member = await self.member(codename)
        try:
            report = await self.safety.unlink_by_operator(member)
        except NotFound:
            raise ValidationError("the member has no linked account; nothing changed") from None
        return member, report

    async def open_invites(self) -> list[OpenInvite]:
        """Invites neither used nor revoked (expired ones flagged)."""
        return await self.uow.registrations.open_invites(self.clock.now())

    async def open_invites_by(self, actor: Member) -> list[OpenInvite]:
        """The chat's list: unused invites not yet expired, at most ``MAX_LISTED``.

        Raises:
            NotAllowed: not an active administrator (audited).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            raise await self._refuse(actor, None)
        return [invite for invite in await self.open_invites() if not invite.expired][:MAX_LISTED]

    async def revoke_invites(self, codename: str) -> int:
        """Revoke the member's unused invites.

        Raises:
            NotFound: no such member. ValidationError: nothing to revoke.
        """
        return await self._revoke(await self.member(codename), None)

    async def revoke_invites_by(self, actor: Member, member_id: int) -> tuple[Member, int]:
        """``revoke_invites`` from the chat, re-checked for ``actor`` now (M-04).

        Raises:
            NotAllowed: as ``target_by``. ValidationError: nothing to revoke any more.
        """
        member = await self.target_by(actor, member_id)
        return member, await self._revoke(member, actor)

    async def _revoke(self, member: Member, actor: Member | None) -> int:
        count = await self.uow.registrations.revoke_invites(member.id)
        if count == 0:
            raise ValidationError("the member has no unused invite; nothing changed")
        await self._record("invite_revoke", member, f"revoked:{count}", actor)
        return count

    async def rename_region(self, old: str, new: str, actor: Member | None = None) -> Region:
        """Rename a region; members, operations and claims follow. ``actor`` is the
        administrator in the chat (None: the CLI).

        Raises:
            ValidationError: bad new name, unknown region, or the name is taken.
        """
        clean = clean_name(new, field="region")
        try:
            region = await self.uow.registrations.rename_region(old.strip(), clean)
        except NotFound:
            raise ValidationError("region: unknown (see chaski region list)") from None
        except Conflict:
            raise ValidationError("region: the new name is taken") from None
        await self.uow.audit.record(
            action="region_rename",
            result="ok",
            now=self.clock.now(),
            actor_id=actor.id if actor else None,
            actor_role=actor.role if actor else None,
            target=f"region:{region.id}",
        )
        return region

    # --- a region added or renamed in the chat: button, typed name, confirmation ----------

    async def _region_admin(self, actor: Member) -> None:
        """An active administrator now, or refused: a step under way of someone demoted
        since the button is forgotten with the refusal (M-04).

        Raises:
            NotAllowed: not an active administrator (audited, T-11).
        """
        if not is_allowed(actor, Action.MANAGE_MEMBERS):
            await self.uow.region_edits.drop(actor.id)
            raise await self._refuse(actor, None)

    async def _region_named(self, region_id: int) -> Region:
        """The region with this id now.

        Raises:
            ChangeRefused: no such region (any more).
        """
        for region in await self.uow.regions.list_all():
            if region.id == region_id:
                return region
        raise ChangeRefused(Refusal.UNKNOWN_REGION, "region: unknown")

    async def start_region_edit_by(self, actor: Member, region_id: int | None) -> Region | None:
        """The button: wait for the name of a new region (``region_id`` None) or the new
        name of region ``region_id``, returned. Stored, so a restart loses nothing.

        Raises:
            NotAllowed: not an active administrator (audited). ChangeRefused: no such region.
        """
        await self._region_admin(actor)
        await self.uow.region_edits.drop(actor.id)
        await self.uow.operation_edits.drop(actor.id)  # one typed value waits at a time
        region = None if region_id is None else await self._region_named(region_id)
        await self.uow.region_edits.put(actor.id, RegionEdit(region_id), self.clock.now())
        return region

    async def region_edit_state(self, member_id: int) -> EditWait:
        """What the member's next plain text meets: a region name they were asked for
        (``WAITING``), nothing, or a change that waited past ``REGION_EDIT_LIFETIME``: it is
        dropped now (``EXPIRED``), so the text is not taken as a name (issue #16.3)."""
        edit = await self.uow.region_edits.get(member_id)
        if edit is None:
            return EditWait.NONE
        if edit.expired(self.clock.now()):
            await self.uow.region_edits.drop(member_id)
            return EditWait.EXPIRED
        return EditWait.WAITING

    async def _live_edit(self, actor: Member) -> RegionEdit:
        """The member's region change, if it has not waited too long (then it is dropped).

        Raises:
            ChangeRefused: nothing waiting, or it expired.
        """
        edit = await self.uow.region_edits.get(actor.id)
        if edit is None:
            raise ChangeRefused(Refusal.NOTHING_PENDING, "region: nothing under way")
        if edit.expired(self.clock.now()):
            await self.uow.region_edits.drop(actor.id)
            raise ChangeRefused(Refusal.EXPIRED, "region: the change waited too long")
        return edit

    async def name_region_edit_by(self, actor: Member, typed: str) -> tuple[Region | None, str]:
        """The typed name: checked now as ``chaski region add|rename`` would check it, kept
        for the confirmation. Returns the region being renamed (None: a new one) and the
        clean name. A bad or taken name leaves the step waiting for another.

        Raises:
            NotAllowed: not an active administrator (audited; the step is forgotten).
            ChangeRefused: nothing waiting, expired, digits only (never a name: it may be a
                PIN typed in the wrong place, T-54), a bad or taken name, or the region is gone.
        """
        await self._region_admin(actor)
        edit = await self._live_edit(actor)
        if digits_only(typed):
            raise ChangeRefused(Refusal.DIGITS_ONLY, "region: a name is never digits only")
        try:
            name = clean_name(typed, field="region")
        except ValidationError as error:
            raise ChangeRefused(Refusal.BAD_NAME, str(error)) from None
        taken = await self.uow.regions.get(name)
        if taken is not None and taken.id != edit.region_id:
            raise ChangeRefused(Refusal.NAME_TAKEN, "region: the name is taken")
        region = None
        if edit.region_id is not None:
            try:
                region = await self._region_named(edit.region_id)
            except ChangeRefused:
                await self.uow.region_edits.drop(actor.id)
                raise
        await self.uow.region_edits.put(
            actor.id, RegionEdit(edit.region_id, name), self.clock.now()
        )
        return region, name

    async def confirm_region_edit_by(self, actor: Member) -> tuple[Region | None, Region]:
        """*Confirmar*: add or rename through the CLI's own methods (one code path, audited
        with the administrator). Returns the region as it was (None: new) and as it is.

        Raises:
            NotAllowed: not an active administrator (audited; the step is forgotten).
            ChangeRefused: nothing waiting, expired, the name taken or the region gone
                meanwhile.
        """
        await self._region_admin(actor)
        edit = await self._live_edit(actor)
        await self.uow.region_edits.drop(actor.id)
        if edit.name is None:
            raise ChangeRefused(Refusal.NOTHING_PENDING, "region: nothing under way")
        if edit.region_id is None:
            try:
                return None, await self.invites.add_region(edit.name, actor)
            except ValidationError:
                raise ChangeRefused(Refusal.NAME_TAKEN, "region: already exists") from None
        old = await self._region_named(edit.region_id)
        try:
            return old, await self.rename_region(old.name, edit.name, actor)
        except ValidationError:
            raise ChangeRefused(Refusal.NAME_TAKEN, "region: the name is taken") from None

    async def drop_region_edit(self, member_id: int) -> None:
        """*Cancelar*: forget the member's region change, if any."""
        await self.uow.region_edits.drop(member_id)

    # --- a region removed in the chat: button, confirmation ---------------------------------

    async def ask_remove_region_by(self, actor: Member, region_id: int) -> Region:
        """*Quitar*: the region to ask about, if nothing uses it now.

        Raises:
            NotAllowed: not an active administrator (audited). ChangeRefused: no such region
                any more. RegionInUse: something uses it (with the counts).
        """
        await self._region_admin(actor)
        region = await self._region_named(region_id)
        usage = (await self.uow.regions.usage()).get(region.id, RegionUsage())
        if not usage.unused:
            raise RegionInUse(region.name, usage)
        return region

    async def remove_region_by(self, actor: Member, region_id: int, fingerprint: str) -> Region:
        """*Confirmar*: remove the region the administrator was asked about, judged again now
        (M-04) and audited like ``chaski region remove``, with the administrator.

        ``fingerprint`` (``region_fingerprint``) is the name the question showed: a region
        renamed meanwhile by another administrator is not removed, so neither change is lost
        unseen.

        Raises:
            NotAllowed: not an active administrator (audited). ChangeRefused: gone, renamed
                meanwhile, or used meanwhile (``RegionInUse``); audited as refused.
        """
        await self._region_admin(actor)
        return await self._remove_region(region_id, actor, fingerprint)

    async def remove_region(self, name: str) -> None:
        """Delete a region nothing uses (``chaski region remove``), by the chat's rule.

        Raises:
            ValidationError: unknown, or still in use (``RegionInUse``, with the counts).
        """
        region = await self.uow.regions.get(name.strip())
        if region is None:
            raise ValidationError("region: unknown (see chaski region list)")
        await self._remove_region(region.id, None, None)

    async def _remove_region(
        self, region_id: int, actor: Member | None, fingerprint: str | None
    ) -> Region:
        """The one removal, for the CLI (``actor`` None) and the chat: the region as it is
        now, with the name ``fingerprint`` stands for (the chat's), used by nothing (members,
        even unlinked, operations, claims, safety alerts), removed and audited; the checks
        and the removal are one transaction. The chat's refusals are audited too.

        Raises:
            ChangeRefused: gone, renamed meanwhile, or used (``RegionInUse``).
        """
        refusal: ChangeRefused | None = None
        async with self.uow.transaction():
            try:
                region = await self._region_named(region_id)
            except ChangeRefused as gone:
                region, refusal = Region(id=region_id, name=""), gone
            if (
                refusal is None
                and fingerprint is not None
                and region_fingerprint(region.name) != fingerprint
            ):
                refusal = ChangeRefused(Refusal.REGION_CHANGED, "region: renamed meanwhile")
            if refusal is None:
                usage = (await self.uow.regions.usage()).get(region.id, RegionUsage())
                if not usage.unused:
                    refusal = RegionInUse(region.name, usage)
            if refusal is None:
                await self.uow.regions.remove(region.id)
            if refusal is None or actor is not None:
                await self.uow.audit.record(
                    action="region_remove",
                    result=f"refused:{refusal.reason}" if refusal else "ok",
                    now=self.clock.now(),
                    actor_id=actor.id if actor else None,
                    actor_role=actor.role if actor else None,
                    target=f"region:{region_id}",
                )
        if refusal is not None:
            raise refusal
        return region
