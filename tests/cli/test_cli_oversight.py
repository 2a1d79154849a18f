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
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Member
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
        "operation": "Operación Halcón",
        "date": "2016-02-10",
        "region": "Ayacucho",
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
    assert lines[1].split()[:2] == ["OPERATION", "DATE"]
    halcon = next(line for line in lines if line.startswith("Operación Halcón"))
    assert "S/\xa02,500.50" in halcon
    assert "10/02/2016" in halcon
    assert "'=HYPERLINK" in result.out  # the table's cells are quoted like members list
    total = lines[-1]
    assert total.startswith("TOTAL")
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
    assert not re.search(r"<script|<link|<img|<iframe|src=|url\(|@import", text, re.IGNORECASE)
    assert "=HYPERLINK(&quot;http://x&quot;)" in text
    assert 'HYPERLINK("http' not in text
    assert text.count("<svg") >= 4
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
                "days_overdue",
                "next_step",
                "next_step_date",
            ]
        )
        + "\r\n"
    )
