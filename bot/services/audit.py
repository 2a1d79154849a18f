"""Reading and checking the audit log for administrators (``chaski audit``, M-16).

The CLI runs on the server by someone holding the database and its keys, so it needs no
``authorize()`` call; a chat command built on this must check its action first. Actors are
shown by codename, never by Telegram ID; entries never hold message content.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bot.domain.audit import AuditCheck, AuditEntry
from bot.domain.errors import NotFound
from bot.domain.ports import Clock, UnitOfWork


@dataclass(frozen=True, slots=True)
class AuditListing:
    """Entries and the codename of each actor that is still a member."""

    entries: list[AuditEntry]
    codenames: dict[int, str]


@dataclass(frozen=True, slots=True)
class AuditAdmin:
    """``chaski audit verify`` and ``chaski audit list``."""

    uow: UnitOfWork
    clock: Clock

    async def verify(self) -> AuditCheck:
        """The whole chain checked (the CLI names the first broken entry)."""
        return await self.uow.audit_reader.check()

    async def listing(
        self,
        *,
        since: datetime | None = None,
        actor: str | None = None,
        action: str | None = None,
        limit: int | None = None,
    ) -> AuditListing:
        """Entries filtered by time, actor (codename, any case) and action.

        Raises:
            NotFound: ``actor`` names no member.
        """
        actor_id: int | None = None
        if actor is not None:
            member = await self.uow.members.by_codename_any_case(actor)
            if member is None:
                raise NotFound("no member with that codename")
            actor_id = member.id
        entries = await self.uow.audit_reader.entries(
            since=since, actor_id=actor_id, action=action, limit=limit
        )
        codenames: dict[int, str] = {}
        for entry_actor in {e.actor_id for e in entries if e.actor_id is not None}:
            member = await self.uow.members.get(entry_actor)
            if member is not None:
                codenames[entry_actor] = member.codename
        return AuditListing(entries=entries, codenames=codenames)

    async def operator(
        self, action: str, *, result: str = "ok", target: str | None = None
    ) -> None:
        """Record a privileged command run on the server (no actor: the operator's shell).

        For commands whose work is not a service's own (key rotation, backup, purge, dead
        letters): every privileged action leaves an entry (M-16).
        """
        await self.uow.audit.record(
            action=action, result=result, now=self.clock.now(), target=target
        )

    async def restored(self) -> bool:
        """After ``chaski restore``: seal a backup's chain made before the audit key.

        The operator chose this file, so its plain entries are adopted like those of a
        database opened for the first time since the key; a keyed chain is left as it is.
        """
        return await self.uow.audit_reader.seal_plain(self.clock.now(), result="restore")

    async def key_rotated(self, key_id: str) -> None:
        """Record a rotation of the audit key (made by the CLI in the key folder)."""
        await self.uow.audit.record(
            action="audit_key_rotated", result="ok", now=self.clock.now(), target=f"key:{key_id}"
        )
