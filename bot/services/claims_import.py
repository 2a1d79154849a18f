"""Importing claims from a CSV file: validate every row first, then all or nothing.

A programme's records arrive as spreadsheets; a half-imported file would leave some people's
promises missing without anyone noticing, so any bad row rejects the whole file, naming each
bad line and why.

What an error says (issue #14.6): the line, the spreadsheet cell (``G3``) and what the column
expects (the list of statuses, the date form), never the cell's value. The values of a claims
file are what the database keeps encrypted (references, codenames, amounts, steps); an error
goes to a terminal, a shell history's neighbour, a CI log or a ticket, and the administrator
has the file open anyway. A file saved by a spreadsheet in a Spanish locale separates fields
with semicolons; that is recognised from the header.

What a Peruvian spreadsheet writes is read as it is meant, and nothing else (issue #16.6):
amounts as Peru writes them, a comma between groups of three digits and a dot before the
decimals, with or without ``S/`` (``S/ 1,500.50``, ``S/1500``, ``2,000,000``); dates as
``YYYY-MM-DD`` or day first, ``DD/MM/YYYY``, as Peru writes them; header names whatever
their case and surrounding spaces; a UTF-8 byte order mark; CRLF line ends; rows left blank
(a spreadsheet's trailing empty lines, ``;;;;``). What could be read two ways is refused,
never guessed: ``1500,50`` and ``1.500,50`` (a comma as the decimal mark), commas not
between groups of three, two-digit years.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date

from bot.domain.claims import RecordedInBot
from bot.domain.errors import DomainError, ValidationError
from bot.domain.models import ClaimRow, ClaimStatus, Member, Role
from bot.domain.ports import Clock, ImportResult, Progress, UnitOfWork
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
#: Columns a file may have: amounts paid so far, and the day the status took effect.
OPTIONAL_COLUMNS = ("paid_amount", "status_date")
#: Statuses an import may set (``reopened`` only arises from an appeal in the bot).
IMPORT_STATUSES = frozenset(ClaimStatus) - {ClaimStatus.REOPENED}
_REFERENCE = re.compile(r"[A-Z0-9][A-Z0-9-]{1,31}", re.ASCII)
#: Soles as Peru writes them: ``S/`` (or the older ``S/.``) optional, a comma between
#: groups of three digits optional, a dot before at most two decimals.
_AMOUNT = re.compile(
    r"(?:S/\.?\s*)?(\d{1,3}(?:,\d{3}){1,3}|\d{1,12})(?:\.(\d{1,2}))?", re.ASCII | re.IGNORECASE
)
#: A comma as the decimal mark (``1500,50``, ``1.500,50``): Peru's marks the other way round.
_COMMA_DECIMALS = re.compile(r"(?:S/\.?\s*)?[\d.]*\d,\d{1,2}", re.ASCII | re.IGNORECASE)
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)
#: Day first, as Peru writes dates (never month first); four-digit year only.
_DAY_FIRST = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})", re.ASCII)
#: S/ 100,000,000.00: far above any promised share; a typo beyond it is refused (T-28).
MAX_AMOUNT_CENTS = 10_000_000_000
MAX_ROWS = 100_000
#: No member has the row's codename, exactly or in another case.
NO_MEMBER = "codename: no member with that codename (see chaski members list)"
#: Why a row over a claim the bot keeps the record of is refused (``RecordedInBot``).
KEPT_IN_BOT = (
    "reference: the claim has payments or changes recorded in the bot; change it in chat"
    " or leave this row out"
)
MAX_BYTES = 20 * 1024 * 1024
#: A file in another encoding (Excel's plain "CSV" on Windows is Windows-1252).
UTF8_ONLY = "file is not UTF-8 text (save it as CSV UTF-8)"


@dataclass(frozen=True, slots=True)
class LineError:
    """Why one line of the file was refused (line 1 is the header)."""

    line: int
    reason: str
    #: The spreadsheet cell, such as ``G3`` (None: the line or the file as a whole).
    cell: str | None = None


class ImportRejected(DomainError):
    """The file was refused as a whole; nothing was imported."""

    def __init__(self, errors: Sequence[LineError]) -> None:
        """Keep every line's reason for the report."""
        super().__init__(f"{len(errors)} bad line(s)")
        self.errors = list(errors)


def parse_amount(text: str, field: str = "promised_amount") -> int:
    """Soles as Peru writes them → integer céntimos (exact, no float).

    ``1500``, ``1500.50``, ``1,500.50``, ``2,000,000``, ``S/ 1,500.50``, ``S/1500``: a comma
    only between groups of three digits, a dot before at most two decimals. ``field`` names
    the column or option in the error (``--total`` for ``chaski operations``).

    Raises:
        ValidationError: anything else (negative, a comma as the decimal mark, commas out of
            groups of three, exponent, three decimals, too big), naming the form expected.
    """
    return _amount(text, field)


def _amount(text: str, field: str, *, zero: bool = False) -> int:
    """``parse_amount`` for any amount column; ``zero`` allows 0 (nothing paid yet)."""
    # A spreadsheet's currency format may put a no-break space after S/.
    text = text.replace("\u00a0", " ").replace("\u202f", " ").strip()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        if _COMMA_DECIMALS.fullmatch(text):
            raise ValidationError(
                f"{field}: a comma cannot mark the decimals; write soles like 1500.50,"
                " 1,500.50 or S/ 1,500.50 (a dot before the céntimos, commas only between"
                " thousands)"
            )
        raise ValidationError(
            f"{field}: soles with a dot and up to two decimals, like 1500, 1500.50, 1,500.50"
            " or S/ 1,500.50 (commas only between groups of three digits)"
        )
    whole = match.group(1).replace(",", "")
    cents = int(whole) * 100 + int((match.group(2) or "0").ljust(2, "0"))
    low = "at least 0" if zero else "above 0"
    if not (0 if zero else 1) <= cents <= MAX_AMOUNT_CENTS:
        raise ValidationError(f"{field}: must be {low} and at most 100000000.00")
    return cents


def parse_date(
    text: str, field: str, *, required: bool = False, day_first: bool = False
) -> date | None:
    """A calendar date as ``YYYY-MM-DD``, or empty; with ``day_first`` (a claims file) also
    day first as Peru writes it (``DD/MM/YYYY``, ``3/11/2025``).

    Raises:
        ValidationError: not a real date in those forms (a two-digit year is not guessed),
            or empty when required.
    """
    text = text.strip()
    if not text:
        if required:
            raise ValidationError(f"{field}: required")
        return None
    peruvian = _DAY_FIRST.fullmatch(text) if day_first else None
    if not peruvian and not _ISO_DATE.fullmatch(text):
        raise ValidationError(
            f"{field}: use DD/MM/YYYY or YYYY-MM-DD" if day_first else f"{field}: use YYYY-MM-DD"
        )
    try:
        if peruvian:
            day, month, year = (int(part) for part in peruvian.groups())
            return date(year, month, day)
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
    status = ClaimStatus(status_text)
    next_step = record["next_step"].strip()
    promised = parse_amount(record["promised_amount"])
    paid = _paid(record.get("paid_amount") or "", status, promised)
    return ClaimRow(
        line=line,
        reference=parse_reference(record["reference"]),
        codename=clean_name(record["codename"], field="codename"),
        operation=clean_text(record["operation"], field="operation", max_len=200, multiline=False),
        operation_date=parse_date(record["operation_date"], "operation_date", day_first=True),
        region=clean_name(record["region"], field="region"),
        promised_cents=promised,
        status=status,
        promised_date=parse_date(record["promised_date"], "promised_date", day_first=True),
        next_step=(
            clean_text(next_step, field="next_step", max_len=500, multiline=False)
            if next_step
            else None
        ),
        next_step_date=parse_date(record["next_step_date"], "next_step_date", day_first=True),
        paid_cents=paid,
        status_date=parse_date(record.get("status_date") or "", "status_date", day_first=True),
    )


def _paid(text: str, status: ClaimStatus, promised: int) -> int | None:
    """The optional ``paid_amount``: required for ``partially_paid``, at most the promise.

    Raises:
        ValidationError: not an amount, above the promised amount, or missing (or zero) for
            a partly paid claim, which would otherwise show no amount paid.
    """
    if not text.strip():
        if status is ClaimStatus.PARTIALLY_PAID:
            raise ValidationError("paid_amount: required when status is partially_paid")
        return None
    paid = _amount(text, "paid_amount", zero=True)
    if paid > promised:
        raise ValidationError("paid_amount: more than promised_amount")
    if status is ClaimStatus.PARTIALLY_PAID and not 0 < paid < promised:
        raise ValidationError("paid_amount: for partially_paid, above 0 and below promised_amount")
    return paid


def _delimiter(text: str) -> str:
    """``;`` when the header is semicolon-separated (spreadsheets in Spanish locales)."""
    header = text.partition("\n")[0]
    return ";" if header.count(";") > header.count(",") else ","


def _missing(missing: Sequence[str], header: Sequence[str]) -> str:
    """Name the missing columns; a header of one cell means another separator was used."""
    reason = "missing column(s): " + ", ".join(missing)
    if len(header) == 1:
        reason += " (separate the columns with commas or semicolons)"
    return reason


def _cell_namer(header: Sequence[str]) -> CellNamer:
    """``name(column, line)`` → the spreadsheet cell (``G3``) of a column on a line."""
    letters = {name: _column_letters(index) for index, name in enumerate(header)}

    def name(column: str, line: int) -> str | None:
        return f"{letters[column]}{line}" if column in letters else None

    return name


def _column_letters(index: int) -> str:
    """0 → A, 25 → Z, 26 → AA, as spreadsheets name columns."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(ord("A") + rest) + letters
    return letters


def _column_of(reason: str) -> str:
    """The column a ``ValidationError`` names (its text starts ``column: …``)."""
    return reason.partition(":")[0]


def _blank(record: dict[str | None, str | list[str] | None]) -> bool:
    """Whether every cell of a row is empty or spaces (extra cells included)."""
    cells: list[str | None] = []
    for key, value in record.items():
        if isinstance(value, list):
            cells.extend(value)
        elif key is not None:
            cells.append(value)
    return not any((cell or "").strip() for cell in cells)


#: ``cell(column, line)`` → the spreadsheet cell such as ``G3`` (None: no such column).
CellNamer = Callable[[str, int], str | None]


def _no_cell(column: str, line: int) -> str | None:
    del column, line
    return None


def parse_csv(data: bytes) -> tuple[list[ClaimRow], list[LineError]]:
    """Parse the whole file, collecting every bad line instead of stopping at the first."""
    rows, errors, _cell = parse_file(data)
    return rows, errors


def parse_file(data: bytes) -> tuple[list[ClaimRow], list[LineError], CellNamer]:
    """``parse_csv`` plus the namer of the file's cells, for errors found later."""
    if len(data) > MAX_BYTES:
        return [], [LineError(0, f"file larger than {MAX_BYTES // (1024 * 1024)} MiB")], _no_cell
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [LineError(0, UTF8_ONLY)], _no_cell
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    # "Reference ", " STATUS": a spreadsheet's header as typed by a person.
    header = [name.strip().lower() for name in reader.fieldnames or []]
    missing = [column for column in REQUIRED_COLUMNS if column not in header]
    if missing:
        return [], [LineError(1, _missing(missing, header))], _no_cell
    twice = sorted({name for name in header if name and header.count(name) > 1})
    if twice:
        # Which of two "status" columns holds the status would be a guess.
        return [], [LineError(1, "column(s) named twice: " + ", ".join(twice))], _no_cell
    reader.fieldnames = header
    cell = _cell_namer(header)
    rows: list[ClaimRow] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    try:
        for record in reader:
            line = reader.line_num
            if len(rows) + len(errors) >= MAX_ROWS:
                errors.append(LineError(line, f"more than {MAX_ROWS} rows"))
                break
            if _blank(record):
                continue  # a blank row (";;;;"), as spreadsheets leave after the data
            if None in record or any(record.get(c) is None for c in REQUIRED_COLUMNS):
                errors.append(LineError(line, "wrong number of fields"))
                continue
            try:
                row = parse_row(line, {k: v for k, v in record.items() if k is not None})
            except ValidationError as exc:
                reason = str(exc)
                errors.append(LineError(line, reason, cell(_column_of(reason), line)))
                continue
            if row.reference in seen:
                errors.append(
                    LineError(
                        line,
                        f"reference: repeats line {seen[row.reference]}",
                        cell("reference", line),
                    )
                )
                continue
            seen[row.reference] = line
            rows.append(row)
    except csv.Error as exc:
        errors.append(LineError(reader.line_num, f"not valid CSV ({exc})"))
    if not rows and not errors:
        errors.append(LineError(1, "no rows"))
    return rows, errors, cell


@dataclass(frozen=True, slots=True)
class ClaimImportService:
    """Validates a claims file against the database and imports it atomically."""

    uow: UnitOfWork
    clock: Clock

    async def import_file(
        self,
        data: bytes,
        *,
        check: bool = False,
        allow_reassign: bool = False,
        progress: Progress | None = None,
    ) -> ImportResult:
        """Import every row, or none; with ``check`` do everything but write (dry run).

        A row whose reference is stored for another informant would hand that claim to
        someone else without a word; it is refused unless ``allow_reassign`` says so. A row
        that would change a claim the bot keeps the record of (payments, an approved amount
        or a change made in the chat) is refused too: overwriting it would make the paid
        amount differ from the payments and undo decisions taken by two people.
        ``progress(done, total)`` hears about the writing phase now and then.

        Raises:
            ImportRejected: with every bad line and its reason.
        """
        rows, errors, cell = parse_file(data)
        known_regions = {
            region.name.casefold(): region.name for region in await self.uow.regions.list_all()
        }
        owners = await self.uow.claims.owners([row.reference for row in rows])
        found: dict[str, Member | None] = {}
        checked: list[ClaimRow] = []
        for row in rows:
            if row.codename not in found:
                # The exact spelling is one keyed-hash lookup; a spreadsheet typed by hand
                # (``atoq`` for ``Atoq``) falls back to the any-case match every other
                # command takes, which opens every codename, so only on a miss (#16.3).
                found[row.codename] = await self.uow.members.by_codename(
                    row.codename
                ) or await self.uow.members.by_codename_any_case(row.codename)
            member = found[row.codename]
            if member is None:
                errors.append(LineError(row.line, NO_MEMBER, cell("codename", row.line)))
                continue
            problem = _row_problem(row, member, known_regions, owners, allow_reassign)
            if problem is not None:
                column, reason = problem
                errors.append(LineError(row.line, f"{column}: {reason}", cell(column, row.line)))
            else:
                # The stored spelling: SQLite's NOCASE folds ASCII only ("PICHARÍ" would not
                # find "Picharí"), and re-importing must compare equal to what is stored.
                checked.append(
                    replace(
                        row,
                        region=known_regions[row.region.casefold()],
                        codename=member.codename,
                    )
                )
        if errors:
            raise ImportRejected(sorted(errors, key=lambda error: error.line))
        try:
            if check:
                # Outside any transaction of ours: the dry run rolls back its own transaction,
                # which a joined one could not do.
                return await self.uow.claims.import_rows(
                    checked,
                    self.clock.now(),
                    dry_run=True,
                    progress=progress,
                    today=self.clock.today(),
                )
            # The claims and their audit row commit together: an import that cannot be
            # audited did not happen (M-16).
            async with self.uow.transaction():
                result = await self.uow.claims.import_rows(
                    checked, self.clock.now(), progress=progress, today=self.clock.today()
                )
                await self.uow.audit.record(
                    action="claims_import",
                    result=f"created={result.created} updated={result.updated}"
                    + (" reassign" if allow_reassign else ""),
                    now=self.clock.now(),
                )
        except RecordedInBot as kept:
            raise ImportRejected(
                [LineError(line, KEPT_IN_BOT, cell("reference", line)) for line in kept.lines]
            ) from None
        return result


def _row_problem(
    row: ClaimRow,
    member: Member,
    regions: dict[str, str],
    owners: dict[str, int],
    allow_reassign: bool,
) -> tuple[str, str] | None:
    """The column and reason a well-formed row is refused for by the database, if any."""
    if member.role is not Role.INFORMANT:
        return "codename", "that member is not an informant"
    if row.region.casefold() not in regions:
        return "region", "no such region (see chaski region list)"
    owner = owners.get(row.reference)
    if owner is not None and owner != member.id and not allow_reassign:
        return (
            "codename",
            "the claim with this reference belongs to another informant; moving it needs"
            " --allow-reassign",
        )
    return None
