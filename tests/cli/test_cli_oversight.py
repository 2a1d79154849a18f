"""``chaski claims export`` and ``chaski report operations`` (issue #16.6).

Claims come in through ``chaski claims import`` as an administrator would load them; the
export must be safe to open in a spreadsheet, the report's sums must add up per operation
and in total, and the HTML page must stand alone (nothing fetched when it is opened).
"""

from __future__ import annotations

import csv
import io
import json
import re
import stat
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Claim, ClaimStatus, Member, Operation
from bot.domain.oversight import summarize
from bot.root.cli_report import report_html, report_json
from tests.cli.harness import Result
from tests.cli.test_cli import HEADER, create_invite, redeem

FILE_HEADER = HEADER.rstrip("\n") + ",paid_amount\n"
ROWS = (
    # Operation Halcón (2016): one informant approved and long overdue, one paid in full.
    "R-2016-0001,Puma,Operación Halcón,2016-02-10,Ayacucho,1500.50,approved,2016-06-01,"
    "+51 999 111 222,,\n"
    "R-2016-0002,Condor,Operación Halcón,2016-02-10,Ayacucho,1000,paid,2016-06-01,,,1000\n"
    # A second operation in another region: partly paid, no promised date; one rejected.
    'R-2019-0001,Puma,=HYPERLINK("http://x"),2019-05-01,Pichari,800,partially_paid,,,,300\n'
    'R-2019-0002,Condor,=HYPERLINK("http://x"),2019-05-01,Pichari,500,rejected,,,,\n'
)
LIMA = ZoneInfo("America/Lima")


@pytest.fixture
def loaded(chaski: Callable[..., Result], installed: None, tmp_path: Path) -> list[Member]:
    del installed
    for name in ("Ayacucho", "Pichari"):
        assert chaski("region", "add", name).code == 0
    members = [
        redeem(create_invite(chaski, codename)["code"], telegram_id)
        for codename, telegram_id in (("Puma", 7_000_000_011), ("Condor", 7_000_000_012))
    ]
    path = tmp_path / "claims.csv"
    path.write_text(FILE_HEADER + ROWS, encoding="utf-8")
    result = chaski("claims", "import", str(path))
    assert result.code == 0, result.err
    return members


def _overdue_days() -> int:
    return (datetime.now(LIMA).date() - datetime(2016, 6, 1, tzinfo=LIMA).date()).days


def test_the_csv_export_is_safe_in_a_spreadsheet(
    chaski: Callable[..., Result], loaded: list[Member]
) -> None:
    del loaded
    result = chaski("claims", "export")
    assert result.code == 0, result.err
    assert "keep it private" in result.err
    rows = list(csv.DictReader(io.StringIO(result.out)))
    assert [row["reference"] for row in rows] == [
        "R-2016-0001",
        "R-2016-0002",
        "R-2019-0001",
        "R-2019-0002",
    ]
    first, second, third, fourth = rows
    assert first["codename"] == "Puma"
    assert first["promised_amount"] == "1500.50"
    assert first["outstanding_amount"] == "1500.50"
    assert first["days_overdue"] == str(_overdue_days())
    assert first["next_step"] == "'+51 999 111 222"  # would be a formula otherwise
    assert (second["status"], second["paid_amount"], second["outstanding_amount"]) == (
        "paid",
        "1000.00",
        "0.00",
    )
    assert third["operation"] == '\'=HYPERLINK("http://x")'
    assert (third["paid_amount"], third["outstanding_amount"]) == ("300.00", "500.00")
    assert (fourth["status"], fourth["owed_amount"]) == ("rejected", "0.00")
    # No cell of the whole file starts like a formula.
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@")), value


def test_the_json_export_filters_by_region_and_status(
    chaski: Callable[..., Result], loaded: list[Member]
) -> None:
    del loaded
    pichari = json.loads(chaski("claims", "export", "--format", "json", "--region", "pichari").out)
    assert [row["reference"] for row in pichari] == ["R-2019-0001", "R-2019-0002"]
    assert pichari[0]["operation"] == '=HYPERLINK("http://x")'  # exact: JSON is for programs
    assert pichari[0]["paid_cents"] == 30000
    paid = json.loads(chaski("claims", "export", "--format", "json", "--status", "paid").out)
    assert [row["codename"] for row in paid] == ["Condor"]
    bad = chaski("claims", "export", "--status", "pagado")
    assert bad.code == 2
    unknown = chaski("claims", "export", "--region", "Cusco")
    assert (unknown.code, unknown.out) == (2, "")
    assert unknown.err == "chaski: region: unknown (see chaski region list)\n"
    assert chaski("report", "operations", "--region", "Cusco").code == 2


def test_the_report_adds_up_per_operation_and_in_total(
    chaski: Callable[..., Result], loaded: list[Member]
) -> None:
    del loaded
    result = chaski("report", "operations", "--json")
    assert result.code == 0, result.err
    doc = json.loads(result.out)
    halcon, hyperlink = doc["operations"]
    assert halcon == {
        "operation_id": halcon["operation_id"],
        "operation": "Operación Halcón",
        "date": "2016-02-10",
        "region": "Ayacucho",
        "offered_cents": None,  # imported before the offer was recorded
        "pay_by": None,
        "unassigned_cents": None,
        "claims": 2,
        "informants": 2,
        "promised_cents": 250050,
        "approved_cents": 0,
        "paid_cents": 100000,
        "outstanding_cents": 150050,
        "overdue_claims": 1,
        "longest_delay_days": _overdue_days(),
    }
    assert (hyperlink["promised_cents"], hyperlink["paid_cents"]) == (130000, 30000)
    assert (hyperlink["outstanding_cents"], hyperlink["overdue_claims"]) == (50000, 0)
    totals = doc["totals"]
    assert totals["informants"] == 2
    assert totals["promised_cents"] == 380050
    assert totals["paid_cents"] == 130000
    assert totals["outstanding_cents"] == 200050
    assert totals["longest_delay_days"] == _overdue_days()
    region = json.loads(chaski("report", "operations", "--region", "Pichari", "--json").out)
    assert [line["operation"] for line in region["operations"]] == ['=HYPERLINK("http://x")']


def test_the_text_report_shows_soles_for_es_pe(
    chaski: Callable[..., Result], loaded: list[Member]
) -> None:
    del loaded
    result = chaski("report", "operations")
    assert result.code == 0, result.err
    lines = result.out.splitlines()
    assert lines[1].split()[:3] == ["ID", "OPERATION", "DATE"]
    halcon = next(line for line in lines if "Operación Halcón" in line)
    assert "S/\xa02,500.50" in halcon
    assert "10/02/2016" in halcon
    assert "'=HYPERLINK" in result.out  # the table's cells are quoted like members list
    total = lines[-1]
    assert total.split()[0] == "TOTAL"
    assert "S/\xa03,800.50" in total
    assert f"{_overdue_days()} d" in total


def test_the_html_page_stands_alone_and_is_private(
    chaski: Callable[..., Result], loaded: list[Member], tmp_path: Path
) -> None:
    del loaded
    page = tmp_path / "informe.html"
    result = chaski("report", "operations", "--html", str(page))
    assert result.code == 0, result.err
    assert result.out == ""
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    text = page.read_text(encoding="utf-8")
    assert '<meta name="viewport"' in text
    assert "@media print" in text
    assert "Operación Halcón" in text
    assert "S/\xa02,500.50" in text
    # Nothing is loaded from anywhere when the page is opened; values are escaped.
    # (matplotlib's SVG clips with ``url(#id)``: a reference inside the page, never fetched.)
    assert not re.search(
        r"<script|<link|<img|<iframe|src=|url\((?!#)|@import", text, re.IGNORECASE
    )
    assert "=HYPERLINK(&quot;http://x&quot;)" in text
    assert 'HYPERLINK("http' not in text
    # Two charts drawn by matplotlib: promised vs paid per operation, and the waits.
    assert text.count('class="chart"') == 2
    assert "Prometido y pagado por operación" in text
    assert "Cuánto han esperado los informantes" in text
    again = chaski("report", "operations", "--html", str(page))
    assert again.code == 2
    assert "already exists" in again.err
    assert chaski("report", "operations", "--html", str(page), "--force").code == 0


def test_export_and_report_are_audited_without_values(
    chaski: Callable[..., Result], loaded: list[Member]
) -> None:
    del loaded
    chaski("claims", "export")
    chaski("report", "operations", "--json")
    entries = json.loads(chaski("audit", "list", "--json").out)
    tail = [(entry["action"], entry["result"]) for entry in entries[-2:]]
    assert tail == [("claims_export", "rows:4"), ("report_operations", "operations:2")]


def test_an_empty_programme_reports_nothing_owed(
    chaski: Callable[..., Result], installed: None
) -> None:
    del installed
    assert chaski("report", "operations").out.startswith("No claims yet")
    doc = json.loads(chaski("report", "operations", "--json").out)
    assert doc["operations"] == []
    assert doc["totals"]["promised_cents"] == 0
    assert (
        chaski("claims", "export").out
        == ",".join(
            [
                "reference",
                "codename",
                "operation",
                "operation_date",
                "region",
                "status",
                "promised_amount",
                "approved_amount",
                "paid_amount",
                "owed_amount",
                "outstanding_amount",
                "promised_date",
                "operation_pay_by",
                "days_overdue",
                "next_step",
                "next_step_date",
            ]
        )
        + "\r\n"
    )


# --- the operation's record next to its claims (#16.6 reconciled with #16.1) ----------------

TORNADO = (
    # One share with its own promised date, one that relies on the operation's pay-by date.
    "T-2016-0001,Puma,Tornado 2016,2016-05-20,Pichari,1500,approved,2019-12-31,,,\n"
    "T-2016-0002,Condor,Tornado 2016,2016-05-20,Pichari,2000,under_review,,,,\n"
)


def _days_since(year: int, month: int, day: int) -> int:
    return (datetime.now(LIMA).date() - datetime(year, month, day, tzinfo=LIMA).date()).days


@pytest.fixture
def offered(chaski: Callable[..., Result], installed: None, tmp_path: Path) -> None:
    """Two declared operations: Tornado (offer S/ 5,000, two claims) and one not shared out."""
    del installed
    for name in ("Pichari", "Ayacucho"):
        assert chaski("region", "add", name).code == 0
    for codename, telegram_id in (("Puma", 7_000_000_021), ("Condor", 7_000_000_022)):
        redeem(create_invite(chaski, codename)["code"], telegram_id)
    tornado = ("Tornado 2016", "--region", "Pichari", "--total", "5000", "--date", "2016-05-20")
    assert chaski("operations", "add", *tornado, "--pay-by", "2020-01-31").code == 0
    unshared = ("Relámpago 2018", "--region", "Ayacucho", "--total", "800")
    assert chaski("operations", "add", *unshared, "--pay-by", "2019-03-01").code == 0
    path = tmp_path / "claims.csv"
    path.write_text(FILE_HEADER + TORNADO, encoding="utf-8")
    result = chaski("claims", "import", str(path))
    assert result.code == 0, result.err


def test_the_report_shows_the_offer_and_the_share_not_yet_assigned(
    chaski: Callable[..., Result], offered: None, tmp_path: Path
) -> None:
    del offered
    doc = json.loads(chaski("report", "operations", "--json").out)
    tornado, unshared = doc["operations"]
    assert (tornado["operation_id"], tornado["operation"]) == (1, "Tornado 2016")
    assert tornado["offered_cents"] == 500_000
    assert tornado["pay_by"] == "2020-01-31"
    assert tornado["promised_cents"] == 350_000
    assert tornado["unassigned_cents"] == 150_000  # 5,000 offered - 1,500 - 2,000 promised
    # An operation whose offer nobody has a share of yet is reported too, all unassigned.
    assert (unshared["operation_id"], unshared["claims"]) == (2, 0)
    assert (unshared["offered_cents"], unshared["unassigned_cents"]) == (80_000, 80_000)
    totals = doc["totals"]
    assert (totals["offered_cents"], totals["unassigned_cents"]) == (580_000, 230_000)
    assert totals["promised_cents"] == 350_000
    text = chaski("report", "operations").out.splitlines()
    line = next(row for row in text if "Tornado 2016" in row)
    assert line.split()[0] == "1"
    assert "S/\xa05,000" in line
    assert "S/\xa01,500" in line  # the unassigned share
    assert "31/01/2020" in line
    assert "S/\xa02,300" in text[-1]  # unassigned in total
    page = tmp_path / "informe.html"
    assert chaski("report", "operations", "--html", str(page)).code == 0
    html_text = page.read_text(encoding="utf-8")
    assert "Sin asignar" in html_text
    assert "S/\xa05,800" in html_text  # offered in total
    assert '<td class="n">S/\xa05,000</td>' in html_text  # the offer, in the table
    # A region's report lists its operations without claims, and an operation with a claim
    # there keeps the unassigned share of the whole operation (claims of every region).
    ayacucho = json.loads(chaski("report", "operations", "--region", "Ayacucho", "--json").out)
    assert [line["operation_id"] for line in ayacucho["operations"]] == [2]
    more = tmp_path / "more.csv"
    more.write_text(
        FILE_HEADER + "T-2016-0003,Puma,Tornado 2016,2016-05-20,Ayacucho,500,registered,,,,\n",
        encoding="utf-8",
    )
    assert chaski("claims", "import", str(more)).code == 0
    ayacucho = json.loads(chaski("report", "operations", "--region", "Ayacucho", "--json").out)
    tornado = ayacucho["operations"][0]
    assert (tornado["operation_id"], tornado["claims"], tornado["promised_cents"]) == (
        1,
        1,
        50_000,
    )
    assert tornado["unassigned_cents"] == 100_000  # 5,000 - 1,500 - 2,000 - 500


def test_a_claim_without_its_own_date_is_overdue_from_its_operations(
    chaski: Callable[..., Result], offered: None
) -> None:
    del offered
    rows = {
        row["reference"]: row
        for row in json.loads(chaski("claims", "export", "--format", "json").out)
    }
    own, inherited = rows["T-2016-0001"], rows["T-2016-0002"]
    assert (own["promised_date"], own["days_overdue"]) == ("2019-12-31", _days_since(2019, 12, 31))
    assert inherited["promised_date"] is None
    assert inherited["operation_pay_by"] == "2020-01-31"
    assert inherited["days_overdue"] == _days_since(2020, 1, 31)
    csv_rows = list(csv.DictReader(io.StringIO(chaski("claims", "export").out)))
    assert csv_rows[1]["operation_pay_by"] == "2020-01-31"
    tornado = json.loads(chaski("report", "operations", "--json").out)["operations"][0]
    assert tornado["overdue_claims"] == 2
    assert tornado["longest_delay_days"] == _days_since(2019, 12, 31)
    assert tornado["pay_by"] == "2020-01-31"


def test_two_operations_with_one_label_are_told_apart_in_every_output() -> None:
    # The database refuses a second operation with the same label (operations.label_hmac
    # is unique), so this builds the report from claims as the domain would see them.
    today = date(2026, 3, 14)
    twins = [
        Operation(id=4, label="Halcón", date=date(2016, 2, 10), region="Ayacucho",
                  total_cents=300_000),
        Operation(id=9, label="Halcón", date=date(2016, 2, 10), region="Ayacucho",
                  total_cents=100_000),
    ]  # fmt: skip
    claims = [
        Claim(
            id=index, reference=f"R-{index}", member_id=index, operation=operation,
            region="Ayacucho", status=ClaimStatus.UNDER_REVIEW, promised_cents=50_000,
            approved_cents=None, paid_cents=0, promised_date=None, next_step=None,
            next_step_date=None, updated_at=datetime(2026, 1, 1, tzinfo=LIMA), version=1,
        )
        for index, operation in enumerate(twins, start=1)
    ]  # fmt: skip
    report = summarize(claims, today)
    lines = report_json(report)["operations"]
    assert isinstance(lines, list)
    assert [(line["operation_id"], line["unassigned_cents"]) for line in lines] == [
        (4, 250_000),
        (9, 50_000),
    ]
    page = report_html(report, region=None)
    assert "<td>4</td><td>Halcón</td>" in page
    assert "<td>9</td><td>Halcón</td>" in page


def test_the_html_page_reads_in_quechua_with_the_drafts_on(
    chaski: Callable[..., Result],
    loaded: list[Member],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    del loaded
    monkeypatch.setenv("CHASKI_QUECHUA_DRAFTS", "on")
    page = tmp_path / "willakuy.html"
    result = chaski("report", "operations", "--html", str(page), "--lang", "qu")
    assert result.code == 0, result.err
    text = page.read_text(encoding="utf-8")
    assert '<html lang="qu">' in text
    assert "<h1>Sapa operacionpa recompensan</h1>" in text
    assert "<th>Yupay</th>" in text
    assert '<th class="n">Manaraq pagasqa</th>' in text
    assert "Llapanpi</td>" in text
    assert "<h2>Willakuqkuna hayka unaytam suyarqaku</h2>" in text
    assert "<td>2 watamanta aswan</td>" in text
    assert "Operación Halcón" in text  # the operation's own label is data, not translated
    for spanish in ("Recompensas por operación", "Pendiente", "Mayor demora", "Prometido y"):
        assert spanish not in text
    # Spanish stays the default.
    spanish_page = tmp_path / "informe.html"
    assert chaski("report", "operations", "--html", str(spanish_page)).code == 0
    assert "<h1>Recompensas por operación</h1>" in spanish_page.read_text(encoding="utf-8")
