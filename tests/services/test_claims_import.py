"""The pure CSV parsing of claim imports: amounts, dates, references, whole files (T-27, T-28).

These parsers face spreadsheets typed by hand; each must turn any input into either a domain
value or a ``ValidationError`` naming the field, never another exception, and money must be
exact integer céntimos.
"""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot.domain.errors import ValidationError
from bot.domain.models import ClaimStatus
from bot.services.claims_import import (
    MAX_AMOUNT_CENTS,
    MAX_BYTES,
    REQUIRED_COLUMNS,
    UTF8_ONLY,
    LineError,
    parse_amount,
    parse_csv,
    parse_date,
    parse_reference,
)

HEADER = ",".join(REQUIRED_COLUMNS) + "\n"
GOOD = "R-2016-0007,Puma,Operación Halcón,2016-02-10,Ayacucho,1500.50,approved,2016-06-01,,\n"


# --- parse_amount ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cents"),
    [
        ("1500", 150000),
        ("1500.5", 150050),
        ("1500.50", 150050),
        (" 1500.05 ", 150005),
        ("0.01", 1),
        ("0007", 700),
        ("100000000.00", MAX_AMOUNT_CENTS),
        # As a Peruvian spreadsheet writes them (issue #16.6).
        ("S/ 1,500.50", 150050),
        ("S/1500", 150000),
        ("1,500.50", 150050),
        ("2,000,000", 200000000),
        ("1,000.00", 100000),
        ("S/ 100", 10000),
        ("S/. 1,500", 150000),
        ("s/\u00a01,500.5", 150050),
        ("100,000,000.00", MAX_AMOUNT_CENTS),
    ],
)
def test_parse_amount_exact(text: str, cents: int) -> None:
    assert parse_amount(text) == cents


@pytest.mark.parametrize(
    "text",
    [
        "1.000,00",
        "1500,50",
        "1,50,000",
        "15,00",
        "1,5000",
        ",500",
        "1,500.",
        "1.500",
        "S/",
        "S/ -5",
        "USD 5",
        "5 S/",
        "1 500",
        "1" + ",000" * 2000,
        "-5",
        "+5",
        "0",
        "0.00",
        "100.005",
        "NaN",
        "inf",
        "1e309",
        "1e3",
        "",
        "  ",
        ".5",
        "5.",
        "100000000.01",
        "9" * 13,
        "0x10",
        "1_000",
    ],
)
def test_parse_amount_refuses(text: str) -> None:
    with pytest.raises(ValidationError, match="promised_amount"):
        parse_amount(text)


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=MAX_AMOUNT_CENTS))
def test_parse_amount_round_trips_cents(cents: int) -> None:
    assert parse_amount(f"{cents // 100}.{cents % 100:02d}") == cents
    if cents % 100 == 0:
        assert parse_amount(str(cents // 100)) == cents


@settings(max_examples=300)
@given(st.text())
@example("1e309")
@example("NaN")
@example("9" * 5000)
def test_parse_amount_only_raises_validation_error(text: str) -> None:
    try:
        cents = parse_amount(text)
    except ValidationError:
        return
    assert isinstance(cents, int)
    assert 0 < cents <= MAX_AMOUNT_CENTS


# --- parse_date -----------------------------------------------------------------------------


def test_parse_date_valid_and_empty() -> None:
    assert parse_date("2016-02-29", "promised_date") == date(2016, 2, 29)
    assert parse_date(" 2016-02-10 ", "promised_date") == date(2016, 2, 10)
    # Day first, as Peru writes dates (issue #16.6).
    assert parse_date("10/02/2016", "promised_date", day_first=True) == date(2016, 2, 10)
    assert parse_date("3/1/2025", "promised_date", day_first=True) == date(2025, 1, 3)
    assert parse_date("29/02/2016", "promised_date", day_first=True) == date(2016, 2, 29)
    # Elsewhere (``chaski operations add --pay-by``) the documented form only.
    with pytest.raises(ValidationError, match="--pay-by: use YYYY-MM-DD"):
        parse_date("10/02/2016", "--pay-by")
    assert parse_date("", "promised_date") is None
    with pytest.raises(ValidationError, match="operation_date: required"):
        parse_date(" ", "operation_date", required=True)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2016-02-30", "not a real date"),
        ("2015-02-29", "not a real date"),
        ("2016-13-01", "not a real date"),
        ("2016-00-10", "not a real date"),
        ("31/02/2016", "not a real date"),
        ("02/13/2016", "not a real date"),  # never month first
        ("10/02/16", "use DD/MM/YYYY or YYYY-MM-DD"),  # the century is not guessed
        ("10-02-2016", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("2016/02/10", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("10/02/2016 00:00", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("2016-2-10", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("20160210", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("2016-02-10T00:00", "use DD/MM/YYYY or YYYY-MM-DD"),
        ("mañana", "use DD/MM/YYYY or YYYY-MM-DD"),
    ],
)
def test_parse_date_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=f"promised_date: {reason}"):
        parse_date(text, "promised_date", day_first=True)


@settings(max_examples=300)
@given(st.dates())
def test_parse_date_round_trips(day: date) -> None:
    assert parse_date(day.isoformat(), "next_step_date") == day


@settings(max_examples=300)
@given(st.one_of(st.text(), st.from_regex(r"\A\d{4}-\d{2}-\d{2}\Z")), st.booleans())
def test_parse_date_only_raises_validation_error(text: str, required: bool) -> None:
    try:
        parsed = parse_date(text, "next_step_date", required=required)
    except ValidationError as exc:
        message = str(exc)
    else:
        assert parsed is None or isinstance(parsed, date)
        return
    assert message.startswith("next_step_date:")


# --- parse_reference ------------------------------------------------------------------------


def test_parse_reference_upper_cases() -> None:
    assert parse_reference(" r-2016-0007 ") == "R-2016-0007"


@pytest.mark.parametrize(
    "text", ["", "R", "-R1", "R 1", "R_1", "R/1", "R-1'; DROP TABLE claims;--", "R" * 33]
)
def test_parse_reference_refuses(text: str) -> None:
    with pytest.raises(ValidationError, match="reference"):
        parse_reference(text)


@settings(max_examples=300)
@given(st.from_regex(r"[A-Za-z0-9][A-Za-z0-9-]{1,31}", fullmatch=True))
def test_parse_reference_is_stable(text: str) -> None:
    ref = parse_reference(text)
    assert ref == text.upper()
    assert parse_reference(ref) == ref


@settings(max_examples=300)
@given(st.text())
def test_parse_reference_only_raises_validation_error(text: str) -> None:
    try:
        ref = parse_reference(text)
    except ValidationError:
        return
    assert ref == ref.strip().upper()
    assert 2 <= len(ref) <= 32


# --- parse_csv ------------------------------------------------------------------------------


def test_parse_csv_good_file_with_bom_and_crlf() -> None:
    data = ("\ufeff" + HEADER + GOOD).replace("\n", "\r\n").encode("utf-8")
    rows, errors = parse_csv(data)
    assert errors == []
    (row,) = rows
    assert row.line == 2
    assert row.reference == "R-2016-0007"
    assert row.operation == "Operación Halcón"
    assert row.promised_cents == 150050
    assert row.status is ClaimStatus.APPROVED
    assert row.next_step is None


def test_parse_csv_header_order_and_spaces_do_not_matter() -> None:
    columns = list(reversed(REQUIRED_COLUMNS))
    values = dict(zip(REQUIRED_COLUMNS, GOOD.strip().split(","), strict=True))
    data = " , ".join(columns) + "\n" + ",".join(values[c] for c in columns) + "\n"
    rows, errors = parse_csv(data.encode())
    assert errors == []
    assert rows[0].codename == "Puma"


def test_parse_csv_collects_every_bad_line() -> None:
    lines = [
        GOOD,
        GOOD.replace("R-2016-0007", "R-2"),  # 3: good
        GOOD.replace("R-2016-0007", "r-2"),  # 4: duplicate of line 3
        GOOD.replace("R-2016-0007", "R-4").replace("approved", "reopened"),  # 5
        GOOD.replace("R-2016-0007", "R-5").replace("Puma", "Pu\u202ema"),  # 6
        GOOD.replace("R-2016-0007", "R-6").replace(",,\n", "\n"),  # 7: too few
        GOOD.replace("R-2016-0007", "R-7").replace(",,\n", ",,,\n"),  # 8: too many
        GOOD.replace("R-2016-0007", "R-8").replace("2016-06-01", "2016-02-30"),  # 9
    ]
    rows, errors = parse_csv((HEADER + "".join(lines)).encode())
    assert [row.line for row in rows] == [2, 3]
    assert [error.line for error in errors] == [4, 5, 6, 7, 8, 9]
    reasons = [error.reason for error in errors]
    assert reasons[0] == "reference: repeats line 3"
    assert reasons[1].startswith("status: must be one of")
    assert "U+202E" in reasons[2]
    assert reasons[3] == reasons[4] == "wrong number of fields"
    assert reasons[5] == "promised_date: not a real date"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", LineError(1, "missing column(s): " + ", ".join(REQUIRED_COLUMNS))),
        (HEADER.encode(), LineError(1, "no rows")),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), LineError(0, UTF8_ONLY)),
        (HEADER.encode() + "Ñandú".encode("latin-1"), LineError(0, UTF8_ONLY)),
    ],
)
def test_parse_csv_unusable_files(data: bytes, expected: LineError) -> None:
    assert parse_csv(data) == ([], [expected])


def test_parse_csv_missing_columns_named() -> None:
    rows, errors = parse_csv(b"reference,codename,status\nR-1,Puma,paid\n")
    assert rows == []
    assert errors[0].line == 1
    assert "operation" in errors[0].reason
    assert "promised_amount" in errors[0].reason


def test_parse_csv_too_large() -> None:
    rows, errors = parse_csv(b" " * (MAX_BYTES + 1))
    assert rows == []
    assert errors == [LineError(0, "file larger than 20 MiB")]


def test_parse_csv_sql_text_is_data() -> None:
    evil = "'; DROP TABLE claims;--"
    rows, errors = parse_csv((HEADER + GOOD.replace("Operación Halcón", evil)).encode())
    assert errors == []
    assert rows[0].operation == evil


@settings(max_examples=300)
@given(st.binary(max_size=2000))
def test_parse_csv_never_raises_on_bytes(data: bytes) -> None:
    rows, errors = parse_csv(data)
    assert rows or errors


@settings(max_examples=300)
@given(st.lists(st.text(alphabet=st.characters(), max_size=40), min_size=10, max_size=10))
def test_parse_csv_never_raises_on_rows(cells: list[str]) -> None:
    line = ",".join('"' + cell.replace('"', '""') + '"' for cell in cells)
    rows, errors = parse_csv((HEADER + line + "\n").encode("utf-8", "surrogatepass"))
    assert len(rows) + len(errors) >= 1
    assert all(error.line >= 0 for error in errors)


@pytest.mark.parametrize("text", ["\u0661\u0662\u0663", "\uff11\uff12\uff13.\uff15", "12\u0663"])
def test_amounts_in_non_ascii_digits_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_amount(text)


@pytest.mark.parametrize("text", ["r-\ufb00", "\u00df1", "\u0131-1"])
def test_references_that_change_when_upper_cased_are_refused(text: str) -> None:
    with pytest.raises(ValidationError):
        parse_reference(text)


# --- optional columns, cells, separators (issue #14.6, #14.8) ---------------------------------

OPTIONAL_HEADER = HEADER.rstrip("\n") + ",paid_amount,status_date\n"


@pytest.mark.parametrize(
    ("status", "paid", "reason"),
    [
        ("partially_paid", "", "paid_amount: required when status is partially_paid"),
        ("partially_paid", "0", "paid_amount: for partially_paid, above 0 and below"),
        ("partially_paid", "1500.50", "paid_amount: for partially_paid, above 0 and below"),
        ("approved", "2000", "paid_amount: more than promised_amount"),
        ("approved", "-1", "paid_amount: soles with a dot"),
        ("approved", '"500,50"', "paid_amount: a comma cannot mark the decimals"),
    ],
)
def test_paid_amount_rules(status: str, paid: str, reason: str) -> None:
    row = GOOD.rstrip("\n").replace("approved", status) + f",{paid},\n"
    rows, errors = parse_csv((OPTIONAL_HEADER + row).encode())
    assert rows == []
    assert errors[0].reason.startswith(reason)
    assert errors[0].cell == "K2"


def test_paid_amount_and_status_date_are_optional_and_kept() -> None:
    row = GOOD.rstrip("\n") + ",0,2016-07-01\n"
    [parsed], errors = parse_csv((OPTIONAL_HEADER + row).encode())
    assert errors == []
    assert parsed.paid_cents == 0
    assert parsed.status_date == date(2016, 7, 1)
    [plain], _ = parse_csv((HEADER + GOOD).encode())
    assert plain.paid_cents is None
    assert plain.status_date is None


def test_cells_past_column_z_are_named_like_a_spreadsheet() -> None:
    extra = ",".join(f"x{n}" for n in range(20))
    header = HEADER.rstrip("\n") + "," + extra + ",status_date\n"
    row = GOOD.rstrip("\n") + "," + ",".join("" for _ in range(20)) + ",2016-13-01\n"
    _rows, [error] = parse_csv((header + row).encode())
    assert error == LineError(2, "status_date: not a real date", "AE2")


def test_semicolons_are_recognised_from_the_header() -> None:
    [row], errors = parse_csv((HEADER + GOOD).replace(",", ";").encode())
    assert errors == []
    assert row.promised_cents == 150050


# --- what a Peruvian spreadsheet writes (issue #16.6) ------------------------------------------

#: As LibreOffice Calc in es_PE saves "Texto CSV" with ";" as the field separator: the
#: header as a person typed it, amounts in the cells' currency format, day-first dates, text
#: quoted, and the empty rows below the data that the sheet had formatted.
LIBREOFFICE_ES_PE = (
    " Reference ;Codename;Operation;Operation_Date;Region;Promised_Amount;Status;"
    "Promised_Date;Next_Step;Next_Step_Date;Paid_Amount;Status_Date\n"
    'R-2016-0007;Puma;"Operación Halcón";10/02/2016;Ayacucho;S/ 1,500.50;partially_paid;'
    '01/06/2016;"Firma del acta; en Lima";15/05/2026;S/ 500.00;3/11/2025\n'
    "R-2016-0008;Puma;Operación Halcón;10/02/2016;Ayacucho;2,000,000;approved;;;;;\n"
    ";;;;;;;;;;;\n"
    ";;;;;;;;;;;\n"
)

#: As Google Sheets exports "Valores separados por comas (.csv)": CRLF, a cell holding a
#: comma quoted, formatted amounts and dates as shown, blank rows at the end.
GOOGLE_SHEETS = (
    "reference,codename,operation,operation_date,region,promised_amount,status,"
    "promised_date,next_step,next_step_date,paid_amount,status_date\r\n"
    'R-2016-0007,Puma,Operación Halcón,10/02/2016,Ayacucho,"S/ 1,500.50",partially_paid,'
    '01/06/2016,"Firma del acta, en Lima",15/05/2026,S/500,03/11/2025\r\n'
    'R-2016-0008,Puma,Operación Halcón,2016-02-10,Ayacucho,"2,000,000",approved,,,,,\r\n'
    ",,,,,,,,,,,\r\n"
    "\r\n"
)


@pytest.mark.parametrize(
    ("text", "step"),
    [(LIBREOFFICE_ES_PE, "Firma del acta; en Lima"), (GOOGLE_SHEETS, "Firma del acta, en Lima")],
    ids=["libreoffice-es_PE-semicolons", "google-sheets-commas-crlf"],
)
def test_a_peruvian_spreadsheets_file_is_read_as_meant(text: str, step: str) -> None:
    for data in (text.encode(), "\ufeff".encode() + text.encode()):  # with and without BOM
        rows, errors = parse_csv(data)
        assert errors == []
        first, second = rows
        assert (first.line, second.line) == (2, 3)
        assert first.promised_cents == 150050
        assert first.paid_cents == 50000
        assert first.operation_date == date(2016, 2, 10)
        assert first.promised_date == date(2016, 6, 1)
        assert first.next_step == step
        assert first.next_step_date == date(2026, 5, 15)
        assert first.status_date == date(2025, 11, 3)
        assert first.status is ClaimStatus.PARTIALLY_PAID
        assert second.promised_cents == 200_000_000
        assert second.paid_cents is None


@pytest.mark.parametrize("amount", ["1500,50", "1.500,50", "1,50,000"])
def test_an_amount_that_could_be_read_two_ways_is_refused_by_cell_never_by_value(
    amount: str,
) -> None:
    row = GOOD.replace("1500.50", "1500").replace(",", ";").replace("1500", amount)
    rows, errors = parse_csv((HEADER.replace(",", ";") + GOOD.replace(",", ";") + row).encode())
    assert [row.line for row in rows] == [2]  # the service refuses the whole file
    [error] = errors
    assert (error.line, error.cell) == (3, "F3")
    assert error.reason.startswith("promised_amount: ")
    assert "1,500.50" in error.reason  # the form expected
    assert amount not in error.reason


def test_a_header_naming_a_column_twice_is_refused() -> None:
    header = HEADER.rstrip("\n") + ",Status\n"
    rows, errors = parse_csv((header + GOOD.rstrip("\n") + ",paid\n").encode())
    assert rows == []
    assert errors == [LineError(1, "column(s) named twice: status")]


def test_blank_rows_are_skipped_and_line_numbers_stay_the_files() -> None:
    text = HEADER + "\n" + ",,,,,,,,,\n" + "  ,  ,,,,,,,,\n" + GOOD + ",,,,,,,,,,,,\n"
    [row], errors = parse_csv(text.encode())
    assert errors == []
    assert row.line == 5
    _rows, [error] = parse_csv((HEADER + ",,\n" + GOOD.replace("1500.50", "x")).encode())
    assert (error.line, error.cell) == (3, "F3")
