"""``chaski claims import`` as an administrator meets it (issue #14.6).

Semicolon files from spreadsheets in Spanish locales, errors that name the cell and what is
expected without repeating the value, a re-import that would move a claim to another
informant, the dry run and the progress of long imports.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest

from bot.domain.claims import Payment
from bot.domain.models import Claim, ClaimEvent, ClaimStatus, Member
from bot.domain.pin import PinPass
from bot.services.container import Services
from tests.cli.harness import Result, with_services
from tests.cli.test_cli import HEADER, claims_of, create_invite, redeem
from tests.conftest import uow_of

ROW = "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500.50,approved,2016-06-01,,\n"


@pytest.fixture
def puma(chaski: Callable[..., Result], installed: None) -> Member:
    del installed
    assert chaski("region", "add", "Ayacucho").code == 0
    return redeem(create_invite(chaski, "Puma")["code"], 7_000_000_001)


@pytest.fixture
def condor(chaski: Callable[..., Result], puma: Member) -> Member:
    del puma
    return redeem(create_invite(chaski, "Condor")["code"], 7_000_000_002)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "claims.csv"
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_semicolon_separated_file_is_read(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    text = (HEADER + ROW).replace(",", ";")
    result = chaski("claims", "import", write(tmp_path, text))
    assert result.out == "Imported: 1 created, 0 updated, 0 unchanged.\n", result.err
    [claim] = claims_of(puma)
    assert claim.promised_cents == 150050


def test_a_header_in_one_cell_says_which_separators_work(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    del puma
    result = chaski("claims", "import", write(tmp_path, (HEADER + ROW).replace(",", "\t")))
    assert result.code == 2
    assert "separate the columns with commas or semicolons" in result.err


def test_errors_name_line_and_cell_and_what_is_expected_never_the_value(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    rows = [
        "R-1,Puma,Op,2016-02-10,Ayacucho,100,aprobado,,,",  # 2: status
        "R-2,Nadie,Op,2016-02-10,Ayacucho,100,registered,,,",  # 3: codename
        "R-3,Puma,Op,2016-02-10,Cusco,100,registered,,,",  # 4: region
        "R-4,Puma,Op,2023-02-30,Ayacucho,100,registered,,,",  # 5: date
        "R-5,Puma,Op,2016-02-10,Ayacucho,98765x,registered,,,",  # 6: amount
    ]
    result = chaski("claims", "import", write(tmp_path, HEADER + "\n".join(rows) + "\n"))
    assert result.code == 2
    lines = result.err_lines
    assert lines[0] == (
        "line 2, cell G2: status: must be one of approved, paid, partially_paid,"
        " payment_scheduled, registered, rejected, under_review"
    )
    assert lines[1].startswith("line 3, cell B3: codename: no member with that codename")
    assert lines[2].startswith("line 4, cell E4: region: no such region")
    assert lines[3] == "line 5, cell D5: operation_date: not a real date"
    assert lines[4].startswith("line 6, cell F6: promised_amount: soles with a dot")
    for value in ("aprobado", "Nadie", "Cusco", "2023-02-30", "98765x"):
        assert value not in result.err
    assert claims_of(puma) == []


def test_moving_a_claim_to_another_informant_needs_allow_reassign(
    chaski: Callable[..., Result], puma: Member, condor: Member, tmp_path: Path
) -> None:
    assert chaski("claims", "import", write(tmp_path, HEADER + ROW)).code == 0
    moved = write(tmp_path, HEADER + ROW.replace(",Puma,", ",Condor,"))

    refused = chaski("claims", "import", moved)
    assert refused.code == 2
    assert "line 2, cell B2: codename: the claim with this reference belongs to another" in (
        refused.err
    )
    assert "--allow-reassign" in refused.err
    assert [c.reference for c in claims_of(puma)] == ["R-2016-0001"]
    assert claims_of(condor) == []

    allowed = chaski("claims", "import", "--allow-reassign", moved)
    assert allowed.out == "Imported: 0 created, 1 updated, 0 unchanged.\n", allowed.err
    assert claims_of(puma) == []
    assert [c.reference for c in claims_of(condor)] == ["R-2016-0001"]


def test_check_reports_what_an_import_would_do_and_writes_nothing(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    path = write(tmp_path, HEADER + ROW)
    checked = chaski("claims", "import", "--check", path)
    assert checked.code == 0, checked.err
    assert checked.out == (
        "Check passed, nothing was written; importing would give:"
        " 1 created, 0 updated, 0 unchanged.\n"
    )
    assert claims_of(puma) == []
    assert chaski("claims", "import", path).code == 0
    again = chaski("claims", "import", "--check", path)
    assert again.out.endswith("0 created, 0 updated, 1 unchanged.\n")


def test_check_without_a_database_creates_none(
    chaski: Callable[..., Result], env: Path, tmp_path: Path
) -> None:
    result = chaski("claims", "import", "--check", write(tmp_path, HEADER + ROW))
    assert result.code == 2
    assert "no database to check against" in result.err
    assert not (env / "data").exists()


def test_long_imports_report_progress(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    rows = "".join(
        f"R-{n:05d},Puma,Op,2016-02-10,Ayacucho,100,registered,,,\n" for n in range(2500)
    )
    result = chaski("claims", "import", write(tmp_path, HEADER + rows))
    assert result.code == 0, result.err
    assert result.err_lines == [
        "chaski: 1000 of 2500 rows written…",
        "chaski: 2000 of 2500 rows written…",
    ]
    assert len(claims_of(puma)) == 2500
    checked = chaski("claims", "import", "--check", write(tmp_path, HEADER + rows))
    assert checked.err_lines[0] == "chaski: 1000 of 2500 rows checked…"


def test_partially_paid_needs_and_keeps_the_amount_paid_and_status_date(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    header = HEADER.rstrip("\n") + ",paid_amount,status_date\n"
    row = ROW.rstrip("\n").replace("approved", "partially_paid")
    missing = chaski("claims", "import", write(tmp_path, header + row + ",,\n"))
    assert "cell K2: paid_amount: required when status is partially_paid" in missing.err
    assert (
        chaski("claims", "import", write(tmp_path, header + row + ",500,2026-01-05\n")).code == 0
    )
    [claim] = claims_of(puma)
    assert claim.status is ClaimStatus.PARTIALLY_PAID
    assert claim.paid_cents == 50000
    [event] = history(puma, claim)
    assert str(event.effective) == "2026-01-05"


def test_an_import_whose_audit_row_fails_leaves_no_claims(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    """The claims and their audit row commit together (#10.6): an import that cannot be
    audited did not happen (M-16)."""
    database = tmp_path / "data" / "chaski.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as conn:
        conn.execute(
            "CREATE TRIGGER refuse_import_audit BEFORE INSERT ON audit"
            " WHEN NEW.action = 'claims_import'"
            " BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
        )
        conn.commit()

    async def attempt(services: Services) -> None:
        with pytest.raises(sqlite3.IntegrityError, match="audit refused"):
            await services.claims_import.import_file((HEADER + ROW).encode())

    with_services(attempt)
    assert claims_of(puma) == []


def history(member: Member, claim: Claim) -> list[ClaimEvent]:
    async def read(services: Services) -> list[ClaimEvent]:
        _claim, events = await services.claims.history(member, claim.id, PinPass())
        return list(events)

    return with_services(read)


PAID_HEADER = HEADER.rstrip("\n") + ",paid_amount,status_date\n"


def test_a_claim_with_payments_in_the_bot_is_not_overwritten_by_a_file(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    assert chaski("claims", "import", write(tmp_path, HEADER + ROW)).code == 0
    coordinator = redeem(
        create_invite(chaski, "Atoq", "--role", "coordinator")["code"], 7_000_000_009
    )
    [claim] = claims_of(puma)

    async def pay(services: Services) -> list[Payment]:
        await services.claims_admin.record_payment(
            coordinator, claim.id, claim.version, Payment(50_000, date(2026, 1, 5), "banco")
        )
        return await uow_of(services).claim_ledger.payments(claim.id)

    payments = with_services(pay)
    row = ROW.rstrip("\n").replace("approved", "partially_paid")
    for text in (HEADER + ROW, PAID_HEADER + row + ",1000,\n"):
        refused = chaski("claims", "import", write(tmp_path, text))
        assert refused.code == 2
        assert refused.err_lines[0] == (
            "line 2, cell A2: reference: the claim has payments or changes recorded in the"
            " bot; change it in chat or leave this row out"
        )
        assert "R-2016-0001" not in refused.err
        checked = chaski("claims", "import", "--check", write(tmp_path, text))
        assert checked.code == 2
        assert "recorded in the bot" in checked.err
    [kept] = claims_of(puma)
    assert kept.paid_cents == sum(p.amount_cents for p in payments) == 50_000
    assert kept.status is ClaimStatus.PARTIALLY_PAID
    assert kept.approved_cents == 150_050
    # A row that says what the bot says changes nothing and passes.
    same = chaski("claims", "import", write(tmp_path, PAID_HEADER + row + ",500,\n"))
    assert same.out == "Imported: 0 created, 0 updated, 1 unchanged.\n", same.err


def test_closed_at_follows_the_imported_status(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    rejected = ROW.replace("approved", "rejected")
    assert chaski("claims", "import", write(tmp_path, HEADER + rejected)).code == 0
    [claim] = claims_of(puma)
    assert claim.closed_at is not None
    stepped = rejected.replace(",,\n", ",Apelar,\n")
    assert chaski("claims", "import", write(tmp_path, HEADER + stepped)).code == 0
    [still] = claims_of(puma)
    assert still.next_step == "Apelar"
    assert still.closed_at == claim.closed_at  # still closed: the day it closed is kept
    reviewed = ROW.replace("approved", "under_review")
    assert chaski("claims", "import", write(tmp_path, HEADER + reviewed)).code == 0
    [reopened] = claims_of(puma)
    assert reopened.closed_at is None
    assert (
        chaski("claims", "import", write(tmp_path, HEADER + ROW.replace("approved", "paid"))).code
        == 0
    )
    [paid] = claims_of(puma)
    assert paid.closed_at is not None


def test_an_imported_paid_amount_is_a_payment_and_old_imports_are_repaired_at_open(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    """Issue #16.6: paid = sum of the payments, also for a database imported before 0020."""
    row = ROW.rstrip("\n").replace("approved", "partially_paid") + ",1000,2025-11-03\n"
    assert chaski("claims", "import", write(tmp_path, PAID_HEADER + row)).code == 0
    [claim] = claims_of(puma)

    def payments() -> list[Payment]:
        async def read(services: Services) -> list[Payment]:
            return await uow_of(services).claim_ledger.payments(claim.id)

        return with_services(read)

    assert payments() == [Payment(100_000, date(2025, 11, 3), "import", imported=True)]
    database = tmp_path / "data" / "chaski.sqlite3"
    with contextlib.closing(sqlite3.connect(database)) as conn, conn:
        conn.execute("DELETE FROM claim_payments")  # what an import before 0020 left
        conn.execute("INSERT INTO pending_repairs (name) VALUES ('imported_paid')")
    assert chaski("region", "list").code == 0  # any command opens the database
    assert payments() == [Payment(100_000, date(2025, 11, 3), "import", imported=True)]
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT count(*) FROM pending_repairs").fetchone() == (0,)


def _sheet(separator: str, end: str, amount: str, paid: str) -> str:
    """A claims sheet as a Peruvian spreadsheet saves it (issue #16.6)."""
    header = [
        "Reference",
        " Codename ",
        "OPERATION",
        "operation_date",
        "Region",
        "promised_amount",
        "status",
        "promised_date",
        "next_step",
        "next_step_date",
        "paid_amount",
        "status_date",
    ]
    row = [
        "R-2016-0001",
        "Puma",
        "Operación Halcón",
        "10/02/2016",
        "Ayacucho",
        amount,
        "partially_paid",
        "01/06/2016",
        "",
        "",
        paid,
        "03/11/2025",
    ]
    blank = separator * (len(header) - 1)
    lines = [separator.join(header), separator.join(row), blank, "", ""]
    return end.join(lines)


@pytest.mark.parametrize(
    "sheet",
    [
        (";", "\n", "S/ 1,500.50", "S/ 500.00", ""),  # LibreOffice, es_PE, ";"
        (",", "\r\n", '"S/ 1,500.50"', "S/500", ""),  # Google Sheets
        (";", "\r\n", "1,500.50", "500", "bom"),  # Excel, "CSV UTF-8", Spanish Windows
    ],
    ids=["libreoffice-es_PE", "google-sheets", "excel-csv-utf8"],
)
def test_a_peruvian_spreadsheet_imports_as_it_reads(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path, sheet: tuple[str, ...]
) -> None:
    separator, end, amount, paid, bom = sheet
    path = tmp_path / "reclamos.csv"
    path.write_bytes(
        (b"\xef\xbb\xbf" if bom else b"") + _sheet(separator, end, amount, paid).encode()
    )
    result = chaski("claims", "import", str(path))
    assert result.out == "Imported: 1 created, 0 updated, 0 unchanged.\n", result.err
    [claim] = claims_of(puma)
    assert (claim.promised_cents, claim.paid_cents) == (150_050, 50_000)
    assert claim.promised_date == date(2016, 6, 1)
    assert claim.operation.date == date(2016, 2, 10)


def test_a_comma_as_decimal_mark_is_refused_with_its_cell_and_nothing_is_imported(
    chaski: Callable[..., Result], puma: Member, tmp_path: Path
) -> None:
    good = _sheet(
        ";",
        "\n",
        "S/ 1,500.50",
        "500",
    ).splitlines()[:2]
    bad = [
        good[1].replace("R-2016-0001", "R-2016-0002").replace("S/ 1,500.50", "1500,50"),
        good[1].replace("R-2016-0001", "R-2016-0003").replace("S/ 1,500.50", "1.500,50"),
    ]
    path = tmp_path / "reclamos.csv"
    path.write_text("\n".join([*good, *bad]) + "\n", encoding="utf-8")
    result = chaski("claims", "import", str(path))
    assert result.code == 2
    assert result.err_lines[:2] == [
        f"line {line}, cell F{line}: promised_amount: a comma cannot mark the decimals; write"
        " soles like 1500.50, 1,500.50 or S/ 1,500.50 (a dot before the céntimos, commas only"
        " between thousands)"
        for line in (3, 4)
    ]
    assert "1500,50" not in result.err
    assert "1.500,50" not in result.err
    assert claims_of(puma) == []  # all or nothing: the good line 2 was not imported either
