"""``chaski claims export`` and ``chaski report operations`` (issue #16.6).

The export is for spreadsheets: every text cell goes through ``cli_output.cell`` (no formula
injection), amounts are plain soles with a dot (``1500.50``, what ``claims import`` reads),
dates ISO. The report shows, per operation (by id), what its record offered and when it
promised to pay, the share of the offer not yet assigned to a claim, and what its claims were
promised, approved and paid, what is outstanding and how late: as text (sums in soles
formatted for es_PE by Babel), as JSON (integer céntimos) and as one self-contained HTML
page (no script, no font, no image from the network; inline CSS and two charts drawn by
matplotlib as inline SVG, ``bot.services.charts``) that reads on a phone and prints on paper.
"""

from __future__ import annotations

import argparse
import csv
import html
import io
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date
from gettext import NullTranslations
from pathlib import Path
from typing import TYPE_CHECKING

from bot.config import Settings
from bot.domain.models import ClaimStatus, Lang
from bot.domain.oversight import OperationsReport, OperationSummary
from bot.i18n import Catalogs, format_date, format_money
from bot.root.cli_output import CliError, cell, err, out, table, to_json, wired
from bot.services import charts

if TYPE_CHECKING:
    from bot.root.cli import Commands
    from bot.services.oversight import ExportRow

EXPORT_COLUMNS = (
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
)
PRIVATE_WARNING = (
    "warning: the output names informants by codename with their claims; keep it private"
    " and delete it when done"
)


def _soles(cents: int | None) -> str:
    """Plain soles with a dot, as ``claims import`` reads them; empty for None."""
    if cents is None:
        return ""
    return f"{cents // 100}.{cents % 100:02d}"


def _day(value: date | None) -> str:
    return value.isoformat() if value else ""


def _export_record(row: ExportRow) -> dict[str, object]:
    return {
        "reference": row.reference,
        "codename": row.codename,
        "operation": row.operation,
        "operation_date": _day(row.operation_date) or None,
        "region": row.region,
        "status": str(row.status),
        "promised_cents": row.promised_cents,
        "approved_cents": row.approved_cents,
        "paid_cents": row.paid_cents,
        "owed_cents": row.owed_cents,
        "outstanding_cents": row.outstanding_cents,
        "promised_date": _day(row.promised_date) or None,
        "operation_pay_by": _day(row.operation_pay_by) or None,
        "days_overdue": row.days_overdue,
        "next_step": row.next_step,
        "next_step_date": _day(row.next_step_date) or None,
    }


def export_csv(rows: Sequence[ExportRow]) -> str:
    """The export as CSV (comma, CRLF as RFC 4180), every text cell spreadsheet-safe."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    for row in rows:
        writer.writerow(
            [
                cell(row.reference),
                cell(row.codename),
                cell(row.operation),
                _day(row.operation_date),
                cell(row.region),
                str(row.status),
                _soles(row.promised_cents),
                _soles(row.approved_cents),
                _soles(row.paid_cents),
                _soles(row.owed_cents),
                _soles(row.outstanding_cents),
                _day(row.promised_date),
                _day(row.operation_pay_by),
                str(row.days_overdue),
                cell(row.next_step or ""),
                _day(row.next_step_date),
            ]
        )
    return buffer.getvalue()


async def _claims_export(args: argparse.Namespace, settings: Settings) -> int:
    status = ClaimStatus(args.status) if args.status else None
    async with wired(settings) as wiring:
        rows = await wiring.services.oversight.export(region=args.region, status=status)
    err(PRIVATE_WARNING)
    if args.format == "json" or args.json:
        out(to_json([_export_record(row) for row in rows]))
    else:
        sys.stdout.write(export_csv(rows))  # the CSV carries its own line ends
    return 0


def add_claims_export(actions: Commands) -> None:
    """Register ``chaski claims export`` in the ``claims`` group."""
    export = actions.add_parser(
        "export",
        help="export claims as CSV or JSON (spreadsheet-safe)",
        description="Print every claim (or those of one region or status) with its"
        " informant's codename, operation, status, amounts promised, approved, paid, owed"
        " and outstanding (soles with a dot), promised date, the operation's promised payment"
        " date, days overdue (from the claim's promised date, else the operation's) and next"
        " step."
        " CSV cells that a spreadsheet would read as a formula get a leading apostrophe."
        " Audited (the row count, never a value).",
    )
    export.add_argument(
        "--format", choices=("csv", "json"), default="csv", help="csv (default) or json"
    )
    # Every other command takes --json; an operator (or a script) who learnt that must not
    # meet "unrecognized arguments" here (#16.3).
    export.add_argument("--json", action="store_true", help="the same as --format json")
    export.add_argument("--region", metavar="NAME", help="only claims of this region")
    export.add_argument(
        "--status",
        choices=[str(status) for status in ClaimStatus],
        help="only claims with this status",
    )
    export.set_defaults(handler=_claims_export)


# --- report operations ----------------------------------------------------------------------


def _money(cents: int) -> str:
    return format_money(cents, Lang.ES)


def _summary_json(line: OperationSummary) -> dict[str, object]:
    return {
        "operation_id": line.operation_id,
        "operation": line.label if line.operation_id is not None else None,
        "date": _day(line.date) or None,
        "region": line.region or None,
        "offered_cents": line.offered_cents,
        "pay_by": _day(line.pay_by) or None,
        "unassigned_cents": line.unassigned_cents,
        "claims": line.claims,
        "informants": line.informants,
        "promised_cents": line.promised_cents,
        "approved_cents": line.approved_cents,
        "paid_cents": line.paid_cents,
        "outstanding_cents": line.outstanding_cents,
        "overdue_claims": line.overdue,
        "longest_delay_days": line.longest_delay_days,
    }


def report_json(report: OperationsReport) -> dict[str, object]:
    """The report as one JSON object (amounts in integer céntimos)."""
    return {
        "as_of": report.today.isoformat(),
        "currency": "PEN",
        "operations": [_summary_json(line) for line in report.operations],
        "totals": _summary_json(report.totals),
    }


_HEADERS = (
    "ID",
    "OPERATION",
    "DATE",
    "REGION",
    "OFFERED",
    "PAY BY",
    "UNASSIGNED",
    "INFORMANTS",
    "PROMISED",
    "APPROVED",
    "PAID",
    "OUTSTANDING",
    "OVERDUE",
    "LONGEST DELAY",
)


def _text_row(line: OperationSummary, to_cell: Callable[[str], str]) -> tuple[str, ...]:
    """One line of the report as text cells (``to_cell``: the table's cell quoting).

    The first four cells name the operation (id, label, date, region); the totals line
    replaces them.
    """
    return (
        str(line.operation_id) if line.operation_id is not None else "-",
        to_cell(line.label),
        format_date(line.date, Lang.ES) if line.date else "-",
        to_cell(line.region) if line.region else "-",
        _money(line.offered_cents) if line.offered_cents is not None else "-",
        format_date(line.pay_by, Lang.ES) if line.pay_by else "-",
        _money(line.unassigned_cents) if line.unassigned_cents is not None else "-",
        str(line.informants),
        _money(line.promised_cents),
        _money(line.approved_cents),
        _money(line.paid_cents),
        _money(line.outstanding_cents),
        str(line.overdue),
        f"{line.longest_delay_days} d" if line.longest_delay_days else "-",
    )


#: The cells that name an operation (id, label, date, region) before its figures.
_NAMED = 4


_CSS = """
body{font-family:system-ui,sans-serif;margin:1rem;color:#111;line-height:1.4}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin-top:1.5rem}
.scroll{overflow-x:auto}table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{border:1px solid #999;padding:.3rem .4rem;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;white-space:nowrap}tfoot td{font-weight:bold}
figure{margin:1rem 0}svg.chart{display:block;width:100%;height:auto;max-width:40rem}
figcaption{font-size:.9rem}
@media print{body{margin:0;font-size:10pt}.scroll{overflow:visible}
tr,figure{break-inside:avoid}svg.chart{max-width:100%;
-webkit-print-color-adjust:exact;print-color-adjust:exact}}
"""


def _page_headers(t: NullTranslations) -> tuple[str, ...]:
    """The table's column titles in the page's language."""
    return (
        # Translators: columnas de la tabla de la página HTML del informe de operaciones
        # (para una defensoría): número de la operación; su nombre; su fecha; su región.
        t.pgettext("columna del informe de operaciones", "N.º"),
        t.pgettext("columna del informe de operaciones", "Operación"),
        t.pgettext("columna del informe de operaciones", "Fecha"),
        t.pgettext("columna del informe de operaciones", "Región"),
        # Translators: columna: la recompensa total ofrecida por la operación.
        t.pgettext("columna del informe de operaciones", "Ofrecido"),
        # Translators: columna: la fecha en que se prometió pagar la recompensa.
        t.pgettext("columna del informe de operaciones", "Pago prometido para"),
        # Translators: columna: lo ofrecido que todavía no se prometió a ningún reclamo.
        t.pgettext("columna del informe de operaciones", "Sin asignar"),
        t.pgettext("columna del informe de operaciones", "Informantes"),
        t.pgettext("columna del informe de operaciones", "Prometido"),
        t.pgettext("columna del informe de operaciones", "Aprobado"),
        t.pgettext("columna del informe de operaciones", "Pagado"),
        # Translators: columna: lo aprobado (o prometido) que falta pagar.
        t.pgettext("columna del informe de operaciones", "Pendiente"),
        t.pgettext("columna del informe de operaciones", "Reclamos vencidos"),
        # Translators: columna: los días del reclamo que más espera su pago.
        t.pgettext("columna del informe de operaciones", "Mayor demora"),
    )


def report_html(
    report: OperationsReport,
    *,
    region: str | None,
    lang: Lang = Lang.ES,
    t: NullTranslations | None = None,
) -> str:
    """One self-contained page: the table, then matplotlib's charts as inline SVG.

    Nothing is fetched when it opens. Every text is in ``lang`` through ``t`` (by default
    the catalog of ``lang`` with only reviewed Quechua, as the bot serves it).
    """
    if t is None:
        t = Catalogs.load().for_lang(lang)
    esc = html.escape
    as_of = format_date(report.today, lang)
    body_rows = []
    for line in report.operations:
        cells = _text_row(line, str)
        body_rows.append(
            "<tr>"
            + "".join(f"<td>{esc(c)}</td>" for c in cells[:_NAMED])
            + "".join(f'<td class="n">{esc(c)}</td>' for c in cells[_NAMED:])
            + "</tr>"
        )
    totals = _text_row(report.totals, str)
    # Translators: primera celda de la fila de totales del informe de operaciones.
    total = t.pgettext("fila del informe de operaciones", "Total")
    foot = (
        f'<tr><td colspan="{_NAMED}">{esc(total)}</td>'
        + "".join(f'<td class="n">{esc(c)}</td>' for c in totals[_NAMED:])
        + "</tr>"
    )
    text = charts.chart_text(t, lambda cents: format_money(cents, lang))
    shown = len(charts.charted_operations(report))
    left_out = (
        f"<p>{esc(text.left_out.format(shown=shown, total=len(report.operations)))}</p>"
        if shown < len(report.operations)
        else ""
    )
    wait_rows = "".join(
        f'<tr><td>{esc(label)}</td><td class="n">{count}</td></tr>'
        for label, count in zip(text.buckets, charts.wait_counts(report.delays), strict=True)
    )
    numeric = ' class="n"'
    head = "".join(
        f"<th{numeric if i >= _NAMED else ''}>{esc(h)}</th>"
        for i, h in enumerate(_page_headers(t))
    )
    # Translators: título de la pestaña del navegador de la página HTML del informe de
    # operaciones; {date} es la fecha del informe, p. ej. 14/03/2026.
    title = t.gettext("Chaski: recompensas por operación al {date}").format(date=as_of)
    if region:
        # Translators: encabezado de la página HTML del informe de operaciones de una sola
        # región; {region} es su nombre, p. ej. Pichari.
        heading = t.gettext("Recompensas por operación, región {region}").format(region=region)
    else:
        # Translators: encabezado de la página HTML del informe de operaciones.
        heading = t.gettext("Recompensas por operación")
    # Translators: explicación bajo el encabezado de la página HTML del informe de
    # operaciones, para una defensoría; {date} es la fecha del informe, p. ej. 14/03/2026.
    explanation = t.gettext(
        "Al {date}. Montos en soles. Pendiente: lo aprobado (o, sin aprobación, lo prometido)"
        " menos lo pagado; un reclamo rechazado no tiene pendiente. Ofrecido: la recompensa"
        " total de la operación; sin asignar: lo ofrecido menos las partes prometidas a sus"
        " reclamos (negativo si suman más). Vencido: sin pagar pasada la fecha prometida del"
        " reclamo o, sin ella, la de la operación."
    ).format(date=as_of)
    return f"""<!DOCTYPE html>
<html lang="{lang.value}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(title)}</title>
<style>{_CSS}</style></head><body>
<h1>{esc(heading)}</h1>
<p>{esc(explanation)}</p>
<div class="scroll"><table><thead><tr>{head}</tr></thead>
<tbody>{"".join(body_rows)}</tbody><tfoot>{foot}</tfoot></table></div>
<h2>{esc(text.payments_title)}</h2>
<figure>{charts.payments_svg(report, text)}</figure>
{left_out}
<h2>{esc(text.waits_title)}</h2>
<figure>{charts.waits_svg(report, text)}
<figcaption><table><tbody>{wait_rows}</tbody></table></figcaption></figure>
</body></html>
"""


def _write_page(path: Path, text: str, *, force: bool) -> None:
    """Write the page owner-only (it names operations); refuse to overwrite without --force."""
    if path.exists() and not force:
        raise CliError(f"{path} already exists; choose a new name or pass --force")
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise CliError(
            f"{path}: cannot be written ({exc.strerror or type(exc).__name__})"
        ) from None
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)


async def _report_operations(args: argparse.Namespace, settings: Settings) -> int:
    async with wired(settings) as wiring:
        report = await wiring.services.oversight.operations_report(region=args.region)
    if args.html is not None:
        lang = Lang(args.lang)
        page = report_html(
            report,
            region=args.region,
            lang=lang,
            t=Catalogs.load(drafts=settings.quechua_drafts).for_lang(lang),
        )
        _write_page(args.html, page, force=args.force)
        err(f"page written to {args.html}; it names operations: keep it private")
    if args.json:
        out(to_json(report_json(report)))
        return 0
    if args.html is not None:
        return 0
    if not report.operations:
        out("No claims yet; import them with: chaski claims import FILE.csv")
        return 0
    out(f"As of {format_date(report.today, Lang.ES)}; amounts in soles.")
    table(
        _HEADERS,
        [_text_row(line, cell) for line in report.operations]
        + [("", "TOTAL", "", "", *_text_row(report.totals, cell)[4:])],
    )
    return 0


def add_report(commands: Commands) -> None:
    """Register ``chaski report operations``."""
    group = commands.add_parser(
        "report",
        help="oversight reports (are promises kept?)",
        description="Reports for administrators and oversight bodies.",
    )
    actions = group.add_subparsers(dest="action", metavar="ACTION", required=True)
    operations = actions.add_parser(
        "operations",
        help="per operation: offered, promised, approved, paid, outstanding, lateness",
        description="Per operation (by id): the total reward offered, its promised payment"
        " date and the share not yet assigned to any claim; informants, amounts promised,"
        " approved, paid and outstanding (soles), how many claims are overdue (from the"
        " claim's promised date, else the operation's) and the longest delay in days;"
        " then the totals. As text, JSON (integer céntimos) or one self-contained HTML page"
        " (tables and bars, nothing fetched from the network, readable on a phone,"
        " printable). Audited.",
    )
    operations.add_argument("--region", metavar="NAME", help="only claims of this region")
    operations.add_argument("--json", action="store_true", help="print one JSON object")
    operations.add_argument(
        "--html", type=Path, metavar="FILE", help="write the report as an HTML page to FILE"
    )
    operations.add_argument(
        "--force", action="store_true", help="overwrite the --html FILE if it exists"
    )
    operations.add_argument(
        "--lang",
        choices=[lang.value for lang in Lang],
        default=Lang.ES.value,
        help="language of the --html page: es (default) or qu (reviewed Quechua only,"
        " unless CHASKI_QUECHUA_DRAFTS is on)",
    )
    operations.set_defaults(handler=_report_operations)
