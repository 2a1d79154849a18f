"""The oversight charts drawn by matplotlib (issue #16.6): what they hold and what they cost.

Pure: a report built from claims as the domain sees them, the real catalogs, no database.
"""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.domain.models import Claim, ClaimStatus, Lang, Operation
from bot.domain.oversight import OperationsReport, summarize
from bot.i18n import Catalogs, format_money
from bot.root import chart_child
from bot.services import charts

ROOT = Path(__file__).resolve().parents[2]
LIMA = ZoneInfo("America/Lima")
TODAY = date(2026, 3, 14)
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _report(
    labels: list[str], *, promised_date: date | None = date(2020, 1, 1)
) -> OperationsReport:
    operations = [
        Operation(id=n, label=label, date=date(2016, 1, 1), region="Pichari", total_cents=None)
        for n, label in enumerate(labels, start=1)
    ]
    claims = [
        Claim(
            id=n, reference=f"R-{n}", member_id=n, operation=operation, region="Pichari",
            status=ClaimStatus.APPROVED, promised_cents=100_000 * n, approved_cents=None,
            paid_cents=10_000, promised_date=promised_date, next_step=None,
            next_step_date=None, updated_at=datetime(2026, 1, 1, tzinfo=LIMA), version=1,
        )
        for n, operation in enumerate(operations, start=1)
    ]  # fmt: skip
    return summarize(claims, TODAY)


def _text(lang: Lang = Lang.ES) -> charts.ChartText:
    catalogs = Catalogs.load(drafts=True)
    return charts.chart_text(catalogs.for_lang(lang), lambda cents: format_money(cents, lang))


def test_operator_labels_are_drawn_as_text_never_as_markup_or_math() -> None:
    hostile = ["Precio $x^2$ y $5", "--><script>alert(1)</script>", 'Halcón "2016" & <b>']
    report = _report(hostile)
    svg = charts.payments_svg(report, _text()) + charts.waits_svg(report, _text())
    for label in hostile:
        assert label not in svg
    assert "<script" not in svg
    assert "<!--" not in svg  # matplotlib's notes of each text are gone
    assert not re.search(r"(src|href)=\"(?!#)", svg)  # only references inside the page
    png = charts.report_png(report, _text())
    assert png.startswith(PNG_SIGNATURE)


def test_two_charts_on_one_page_share_no_id() -> None:
    report = _report(["Halcón", "Tornado"])
    page = charts.payments_svg(report, _text()) + charts.waits_svg(report, _text())
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert ids
    assert len(ids) == len(set(ids))
    referenced = set(re.findall(r'(?:url\(#|href="#)([^)"]+)', page))
    assert referenced <= set(ids)  # every reference still finds its element
    assert page.count('class="chart"') == 2
    assert 'aria-label="Prometido y pagado por operación"' in page


def test_the_chart_texts_come_from_the_catalog_in_quechua() -> None:
    text = _text(Lang.QU)
    spanish = _text(Lang.ES)
    assert text.payments_title != spanish.payments_title
    assert text.waits_title == "Willakuqkuna hayka unaytam suyarqaku"
    assert text.buckets[-1] == "2 watamanta aswan"
    assert spanish.buckets == (
        "1 a 30 días", "31 a 90 días", "91 a 365 días", "1 a 2 años", "más de 2 años"
    )  # fmt: skip
    assert text.money(150_050) == "S/\xa01,500.50"


def test_waits_fall_in_their_buckets_and_on_time_claims_in_none() -> None:
    assert charts.wait_counts([0, 1, 30, 31, 90, 91, 365, 366, 730, 731, 5000]) == (
        2, 2, 2, 2, 2
    )  # fmt: skip
    assert charts.wait_counts([]) == (0, 0, 0, 0, 0)


def test_a_chart_shows_at_most_forty_operations_those_owed_most() -> None:
    report = _report([f"Operación {n:02d}" for n in range(1, 61)])
    shown = charts.charted_operations(report)
    assert len(shown) == charts.MAX_OPERATIONS
    # Operation n was promised n times S/ 1,000: the forty largest are 21-60, in report order.
    assert [line.label for line in shown] == [f"Operación {n:02d}" for n in range(21, 61)]
    assert charts.report_png(report, _text()).startswith(PNG_SIGNATURE)
    few = _report(["Halcón"])
    assert charts.charted_operations(few) == few.operations


def test_an_empty_report_still_draws_both_charts() -> None:
    empty = summarize([], TODAY)
    svg = charts.payments_svg(empty, _text())
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert charts.report_png(empty, _text()).startswith(PNG_SIGNATURE)


DRAW_IN_A_FRESH_PROCESS = """
import os, sys
import bot.root.app, bot.root.cli, handlers  # what the bot and the CLI load to start
assert "matplotlib" not in sys.modules, "matplotlib imported before any chart"
from datetime import date
from bot.domain.oversight import summarize
from bot.root import chart_child
from bot.services import charts
text = charts.ChartText("t", "p", "q", "w", "x", "n", "o", "l", ("a",) * 5, str)
png = charts.report_png(summarize([], date(2026, 3, 14)), text)
assert "matplotlib" in sys.modules
print(os.environ.get("MPLCONFIGDIR", ""))
"""


def test_matplotlib_loads_with_the_first_chart_and_writes_nothing_in_home(
    tmp_path: Path,
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"MPLCONFIGDIR", "XDG_CONFIG_HOME",
                                                           "XDG_CACHE_HOME"}}  # fmt: skip
    result = subprocess.run(  # noqa: S603 - this interpreter, our own code
        [sys.executable, "-c", DRAW_IN_A_FRESH_PROCESS],
        capture_output=True, text=True, check=False, cwd=ROOT, timeout=120,
        env={**env, "HOME": str(home)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    private = Path(result.stdout.strip())
    assert private.name.startswith("chaski-matplotlib-")
    assert not private.is_relative_to(home)
    assert not private.exists()  # removed when the process ended
    assert list(home.iterdir()) == []  # no ~/.config/matplotlib, no ~/.cache/matplotlib


def test_two_operations_with_one_label_are_told_apart_on_the_axis() -> None:
    twins = _report(["Halcón", "Halcón", "Una operación con un nombre muy, muy largo"])
    assert charts.axis_labels(twins.operations) == [
        "Halcón #1",
        "Halcón #2",
        "Una operación con un no…",
    ]


def test_the_child_gets_plain_numbers_and_labels_and_draws_the_same_chart() -> None:
    report = _report(["Halcón", "Tornado"])
    text = _text(Lang.QU)
    request = charts.encode_request(charts.chart_data(report), text, "qu")
    # Only what is drawn crosses: no region, date, claim, reference, path or key.
    assert set(json.loads(request)) == {"lang", "text", "bars", "delays"}
    assert json.loads(request)["bars"] == [[1, "Halcón", 100_000, 10_000],
                                           [2, "Tornado", 200_000, 10_000]]  # fmt: skip
    data, again = chart_child.decode_request(request)
    assert data == charts.chart_data(report)
    assert again.buckets == text.buckets
    assert again.left_out == text.left_out
    assert again.money(150_050) == text.money(150_050) == "S/\xa01,500.50"
    sink = io.BytesIO()
    assert chart_child.main(io.BytesIO(request), sink) == 0
    assert sink.getvalue() == charts.report_png(report, text)  # same drawing, same bytes


def test_a_child_given_no_request_writes_nothing_and_says_so_by_its_exit_code() -> None:
    sink = io.BytesIO()
    assert chart_child.main(io.BytesIO(b"not a request"), sink) == 1
    assert sink.getvalue() == b""


async def test_a_child_process_draws_the_report() -> None:
    png = await charts.ChartProcess().report_png(_report(["Halcón"]), _text(), "es")
    assert png is not None
    assert png.startswith(PNG_SIGNATURE)


async def test_a_child_that_fails_gives_no_chart_and_logs_nothing_of_the_report(
    caplog: pytest.LogCaptureFixture,
) -> None:
    report = _report(["Halcón secreto"])
    # Céntimos beyond any float: drawing it raises, in the child as it would in the bot.
    huge = replace(report.operations[0], promised_cents=10**400)
    report = replace(report, operations=(huge,))
    with pytest.raises(OverflowError):
        charts.report_png(report, _text())
    caplog.set_level(logging.WARNING)
    assert await charts.ChartProcess().report_png(report, _text(), "es") is None
    assert "Chart process failed (exit code 1)" in caplog.text
    assert "Halcón" not in caplog.text
    assert "Traceback" not in caplog.text
