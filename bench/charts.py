"""Charts (issue #16.6): what matplotlib costs in memory and time (docs/performance.md, Charts).

Usage (from the repository root)::

    .venv/bin/python -m bench.charts                 # 50 operations, 200 claims
    .venv/bin/python -m bench.charts --operations 200

Imports what the bot and the CLI import to start and reads the resident memory. Then, as the
bot does, draws the ``/informe`` image twice in a child process (``ChartProcess``: the first
child also builds matplotlib's font list in the shared private folder) and reads the memory
again; then, as the CLI does (and the bot did before it drew in a child), draws it twice in
this process (the first includes importing matplotlib) and the ``--html`` page once. The
report is built in memory (no database). Reported: resident memory before and after each
way, the peaks (this process's, and the largest child's), and each drawing's wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import time
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import bot.root.app
import bot.root.cli
import handlers
from bot.domain.models import Claim, ClaimStatus, Lang, Operation
from bot.domain.oversight import OperationsReport, summarize
from bot.i18n import Catalogs, format_money
from bot.root.cli_report import report_html
from bot.services import charts

del bot.root.app, bot.root.cli, handlers  # imported for their memory only
LIMA = ZoneInfo("America/Lima")


def _status_kib(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` of this process in MiB (``ru_maxrss`` misleads, see Method)."""
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(field):
            return int(line.split()[1]) / 1024
    return 0.0


def _report(operations: int) -> OperationsReport:
    ops = [
        Operation(id=n, label=f"Operación {n:03d} del valle", date=date(2016, 1, 1),
                  region="Pichari", total_cents=500_000)
        for n in range(1, operations + 1)
    ]  # fmt: skip
    claims = [
        Claim(
            id=n, reference=f"R-{n}", member_id=n, operation=ops[n % operations],
            region="Pichari", status=ClaimStatus.APPROVED, promised_cents=100_000 * (1 + n % 4),
            approved_cents=None, paid_cents=30_000 * (n % 3),
            promised_date=date(2016 + n % 10, 1, 1), next_step=None, next_step_date=None,
            updated_at=datetime(2026, 1, 1, tzinfo=LIMA), version=1,
        )
        for n in range(1, 4 * operations + 1)
    ]  # fmt: skip
    return summarize(claims, date(2026, 3, 14))


async def _in_children(report: OperationsReport, text: charts.ChartText) -> list[float]:
    """Seconds of two ``/informe`` images drawn as the bot draws them, in child processes."""
    process = charts.ChartProcess()
    times = []
    for _ in range(2):
        started = time.perf_counter()
        png = await process.report_png(report, text, Lang.ES)
        times.append(time.perf_counter() - started)
        assert png is not None, "the chart's child process failed"
    return times


def main() -> None:
    """Measure and print one run."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=50)
    args = parser.parse_args()
    report = _report(args.operations)
    spanish = Catalogs.load().for_lang(Lang.ES)
    text = charts.chart_text(spanish, lambda cents: format_money(cents, Lang.ES))
    before = _status_kib("VmRSS")
    child_first, child_again = asyncio.run(_in_children(report, text))
    after_children = _status_kib("VmRSS")
    child_peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux
    started = time.perf_counter()
    png = charts.report_png(report, text)
    first = time.perf_counter() - started
    after = _status_kib("VmRSS")
    started = time.perf_counter()
    png = charts.report_png(report, text)
    again = time.perf_counter() - started
    started = time.perf_counter()
    page = report_html(report, region=None, t=spanish)
    page_time = time.perf_counter() - started
    print(f"{args.operations} operations, {4 * args.operations} claims")
    print(f"RSS with the bot imported: {before:.1f} MiB")
    print(f"Bot (child process): after two /informe images {after_children:.1f} MiB")
    print(f"(+{after_children - before:.1f}); the largest child's peak {child_peak:.1f} MiB")
    print(f"/informe image in a child: first {child_first * 1000:.0f} ms, again")
    print(f"{child_again * 1000:.0f} ms")
    print(f"In this process (the CLI): after the first chart {after:.1f} MiB")
    print(f"(+{after - after_children:.1f}); peak {_status_kib('VmHWM'):.1f} MiB")
    print(f"/informe image in this process: first {first * 1000:.0f} ms (with the import),")
    print(f"again {again * 1000:.0f} ms, {len(png) // 1024} KiB")
    print(f"--html page: {page_time * 1000:.0f} ms, {len(page) // 1024} KiB")


if __name__ == "__main__":
    main()
