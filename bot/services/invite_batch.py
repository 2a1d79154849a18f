"""Creating many invites at once from a file of codenames: every line checked, then all or none.

An administrator prepares an operation's twenty informants in one go. If line 14 holds a typo
or a codename already in use, creating the first thirteen would leave codes nobody will hand
out and a file that can no longer be re-run as is; so every line is validated first and the
invites are created in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.errors import DomainError, ValidationError
from bot.domain.models import IssuedInvite, Lang, Role, can_reenrol
from bot.domain.ports import UnitOfWork
from bot.domain.text import clean_name
from bot.services.claims_import import LineError
from bot.services.invites import CASE_TWIN, MAX_TTL_HOURS, InviteService

#: Far above an operation's informants; a bigger file is more likely the wrong file.
MAX_BATCH = 500
#: Larger than ``MAX_BATCH`` lines of 64-character codenames could ever need.
MAX_BYTES = 256 * 1024


class BatchRejected(DomainError):
    """The codenames file was refused as a whole; no invite was created."""

    def __init__(self, errors: list[LineError]) -> None:
        """Keep every line's reason for the report (line 0: the file as a whole)."""
        super().__init__(f"{len(errors)} bad line(s)")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class BatchInvite:
    """One created invite and the codename it is for (the code exists only here)."""

    codename: str
    invite: IssuedInvite


def parse_codenames(data: bytes) -> tuple[list[tuple[int, str]], list[LineError]]:
    """Split a UTF-8 file into ``(line number, clean codename)``, skipping blank lines.

    Lines are split on ``\\n`` only (``\\r\\n`` tolerated): ``str.splitlines`` would also split
    on U+2028 or U+0085 and so hide a separator that ``clean_name`` must get to refuse.
    """
    if len(data) > MAX_BYTES:
        return [], [LineError(0, f"file larger than {MAX_BYTES // 1024} KiB")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [LineError(0, "file is not UTF-8 text")]
    names: list[tuple[int, str]] = []
    errors: list[LineError] = []
    seen: dict[str, tuple[int, str]] = {}
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.removesuffix("\r")
        if not line.strip():
            continue
        if len(names) + len(errors) >= MAX_BATCH:
            errors.append(LineError(number, f"more than {MAX_BATCH} codenames"))
            break
        try:
            codename = clean_name(line, field="codename")
        except ValidationError as exc:
            errors.append(LineError(number, str(exc)))
            continue
        folded = codename.casefold()
        if folded in seen:
            first, spelling = seen[folded]
            apart = "" if spelling == codename else " (apart from case)"
            errors.append(LineError(number, f"codename: repeats line {first}{apart}"))
            continue
        seen[folded] = (number, codename)
        names.append((number, codename))
    if not names and not errors:
        errors.append(LineError(0, "no codenames (one per line)"))
    return names, errors


@dataclass(frozen=True, slots=True)
class InviteBatchService:
    """Creates one invite per codename of a file, atomically."""

    invites: InviteService
    uow: UnitOfWork

    async def create_from_file(
        self,
        data: bytes,
        *,
        role: Role,
        region: str | Sequence[str],
        lang: Lang | None = None,
        ttl_hours: int = MAX_TTL_HOURS,
    ) -> list[BatchInvite]:
        """Create an invite for every codename in ``data``, in file order, or none at all.

        Raises:
            ValidationError: bad TTL, unknown region or several for informants (nothing
                about the lines is checked).
            BatchRejected: with every bad line: not UTF-8, hidden characters, mixed
                scripts, a codename repeated in the file or taken by a member who cannot
                be re-enrolled (``can_reenrol``).
        """
        if not 1 <= ttl_hours <= MAX_TTL_HOURS:
            raise ValidationError(f"ttl-hours: must be between 1 and {MAX_TTL_HOURS}")
        await self.invites.check_regions(role, region)
        names, errors = parse_codenames(data)
        enrolled = {member.codename.casefold() for member in await self.uow.members.list_all()}
        for number, codename in names:
            existing = await self.uow.members.by_codename(codename)
            if existing is not None and not can_reenrol(existing, role):
                errors.append(LineError(number, "codename: already taken"))
            elif existing is None and codename.casefold() in enrolled:
                errors.append(LineError(number, CASE_TWIN))
        if errors:
            raise BatchRejected(sorted(errors, key=lambda error: error.line))
        created: list[BatchInvite] = []
        async with self.uow.transaction():
            for _number, codename in names:
                issued = await self.invites.create(
                    role=role, region=region, codename=codename, lang=lang, ttl_hours=ttl_hours
                )
                created.append(BatchInvite(codename=codename, invite=issued))
        return created
