"""Importing claims from a CSV file: validate every row first, then all or nothing.

A programme's records arrive as spreadsheets; a half-imported file would leave some people's
promises missing without anyone noticing, so any bad row rejects the whole file, naming each
bad line and why.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

from bot.domain.errors import DomainError, ValidationError
from bot.domain.models import ClaimRow, ClaimStatus, Role
from bot.domain.ports import (
    AuditLog,
    ClaimRepository,
    Clock,
    ImportResult,
    MemberRepository,
    RegionRepository,
)
from bot.domain.text import clean_name, clean_text

REQUIRED_COLUMNS = (
    "reference",
    "codename",
    "operation",
    "operation_date",
    "region",
    "promised_amount",
    "status",
    "promised_date",
    "next_step",
    "next_step_date",
)
#: Statuses an import may set (``reopened`` only arises from an appeal in the bot).
IMPORT_STATUSES = frozenset(ClaimStatus) - {ClaimStatus.REOPENED}
_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}", re.ASCII)
_AMOUNT = re.compile(r"(\d{1,12})(?:\.(\d{1,2}))?", re.ASCII)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: S/ 100,000,000.00: far above any promised share; a typo beyond it is refused (T-28).
MAX_AMOUNT_CENTS = 10_000_000_000
MAX_ROWS = 100_000
MAX_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line of the file was refused (line 1 is the header)."""

    line: int
    reason: str


class ImportRejected(DomainError):
    """The file was refused as a whole; nothing was imported."""

    def __init__(self, errors: Sequence[LineError]) -> None:
        """Keep every line's reason for the report."""
        super().__init__(f"{len(errors)} bad line(s)")
        self.errors = list(errors)


def parse_amount(text: str) -> int:
    """Soles with a dot and up to two decimals → integer céntimos (exact, no float).

    Raises:
        ValidationError: anything else (negative, comma, exponent, three decimals, too big).
    """
    match = _AMOUNT.fullmatch(text.strip())
    if match is None:
        raise ValidationError(
            f"promised_amount: {text.strip()[:20]!r} is not soles like 1500 or 1500.50"
        )
    cents = int(match.group(1)) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    if not 0 < cents <= MAX_AMOUNT_CENTS:
        raise ValidationError("promised_amount: must be above 0 and at most 100000000.00")
    return cents


def parse_date(text: str, field: str, *, required: bool = False) -> date | None:
    """ISO 8601 calendar date (YYYY-MM-DD) or empty.

    Raises:
        ValidationError: not a real date in that form, or empty when required.
    """
    text = text.strip()
    if not text:
        if required:
            raise ValidationError(f"{field}: required")
        return None
    if not _ISO_DATE.fullmatch(text):
        raise ValidationError(f"{field}: use YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field}: not a real date") from None


def parse_reference(text: str) -> str:
    """A claim reference such as ``R-2016-0007`` (case-insensitive, stored upper-case).

    Raises:
        ValidationError: empty or with characters other than letters, digits and dashes.
    """
    ref = text.strip()
    if not ref.isascii() or not _REFERENCE.fullmatch(ref := ref.upper()):
        raise ValidationError("reference: letters, digits and dashes, like R-2016-0007")
    return ref


def parse_row(line: int, record: dict[str, str]) -> ClaimRow:
    """Turn one CSV record into a ``ClaimRow`` (no database look-ups here).

    Raises:
        ValidationError: the first problem found in the row.
    """
    status_text = record["status"].strip().lower()
    if status_text not in IMPORT_STATUSES:
        raise ValidationError(
            "status: must be one of " + ", ".join(sorted(str(s) for s in IMPORT_STATUSES))
        )
    next_step = record["next_step"].strip()
    return ClaimRow(
        line=line,
        reference=parse_reference(record["reference"]),
        codename=clean_name(record["codename"], field="codename"),
        operation=clean_text(record["operation"], field="operation", max_len=200, multiline=False),
        operation_date=parse_date(record["operation_date"], "operation_date"),
        region=clean_name(record["region"], field="region"),
        promised_cents=parse_amount(record["promised_amount"]),
        status=ClaimStatus(status_text),
        promised_date=parse_date(record["promised_date"], "promised_date"),
        next_step=(
            clean_text(next_step, field="next_step", max_len=500, multiline=False)
            if next_step
            else None
        ),
        next_step_date=parse_date(record["next_step_date"], "next_step_date"),
    )


def parse_csv(data: bytes) -> tuple[list[ClaimRow], list[LineError]]:
    """Parse the whole file, collecting every bad line instead of stopping at the first."""
    if len(data) > MAX_BYTES:
        return [], [LineError(0, f"file larger than {MAX_BYTES // (1024 * 1024)} MiB")]
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [LineError(0, "file is not UTF-8 text")]
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        return [], [LineError(1, "missing column(s): " + ", ".join(missing))]
    reader.fieldnames = header
    rows: list[ClaimRow] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(LineError(line, f"more than {MAX_ROWS} rows"))
                break
            if None in record or any(record.get(c) is None for c in REQUIRED_COLUMNS):
                errors.append(LineError(line, "wrong number of fields"))
                continue
            try:
                row = parse_row(line, {k: v for k, v in record.items() if k is not None})
            except ValidationError as exc:
                errors.append(LineError(line, str(exc)))
                continue
            if row.reference in seen:
                errors.append(LineError(line, f"reference: repeats line {seen[row.reference]}"))
                continue
            seen[row.reference] = line
            rows.append(row)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not valid CSV ({exc})"))
    if not rows and not errors:
        errors.append(LineError(1, "no rows"))
    return rows, errors


@dataclass(frozen=True, slots=True)
class ClaimImportService:
    """Validates a claims file against the database and imports it atomically."""

    claims: ClaimRepository
    members: MemberRepository
    regions: RegionRepository
    audit: AuditLog
    clock: Clock

    async def import_file(self, data: bytes) -> ImportResult:
        """Import every row, or none.

        Raises:
            ImportRejected: with every bad line and its reason.
        """
        rows, errors = parse_csv(data)
        known_regions = {
            region.name.casefold(): region.name for region in await self.regions.list_all()
        }
        checked: list[ClaimRow] = []
        for row in rows:
            member = await self.members.by_codename(row.codename)
            if member is None:
                errors.append(LineError(row.line, "codename: no member with that codename"))
            elif member.role is not Role.INFORMANT:
                errors.append(LineError(row.line, "codename: member is not an informant"))
            elif row.region.casefold() not in known_regions:
                errors.append(LineError(row.line, "region: unknown"))
            else:
                # The stored spelling: SQLite's NOCASE folds ASCII only ("PICHARÍ" would not
                # find "Picharí"), and re-importing must compare equal to what is stored.
                checked.append(replace(row, region=known_regions[row.region.casefold()]))
        if errors:
            raise ImportRejected(sorted(errors, key=lambda error: error.line))
        result = await self.claims.import_rows(checked, self.clock.now())
        await self.audit.record(
            action="claims_import",
            result=f"created={result.created} updated={result.updated}",
            now=self.clock.now(),
        )
        return result
