"""The oversight charts, drawn by matplotlib: promised vs paid per operation, and waits (#16.6).

One small module owns every chart of the operations report, for the HTML page of
``chaski report operations --html`` (inline SVG) and for ``/informe`` in chat (one PNG). It
knows nothing of Telegram or SQL: it takes an ``OperationsReport`` and the texts to write on
the chart, already translated (:func:`chart_text`, with the reader's ``gettext``), and
returns SVG text or PNG bytes.

matplotlib is imported on the first chart only (:func:`_matplotlib`), never at the bot's
start: it and numpy cost tens of MiB of memory (docs/performance.md, Charts), and a
coordinator may never ask for a report. It draws with the Agg renderer and matplotlib's own
DejaVu font (no GUI, no network, nothing fetched). Its configuration and font cache go to a
private temporary directory removed at exit, unless the operator set ``MPLCONFIGDIR``:
matplotlib would otherwise write into ``~/.config`` and ``~/.cache`` of whoever runs the bot,
and read a ``matplotlibrc`` found there. Each chart is drawn with matplotlib's defaults plus
ours, whatever a ``matplotlibrc`` says, under one lock: rcParams are global and the
bot draws in a worker thread so that the event loop keeps sending (R-07).

Operation labels are typed by operators: they are drawn as text, never parsed as
matplotlib's math notation (a ``$`` in a label would otherwise change the drawing or raise).
In SVG every letter is a path (``svg.fonttype: path``), so the page shows the same glyphs
on every phone without a font, and nothing in a label can become markup.
"""

from __future__ import annotations

import atexit
import io
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from gettext import NullTranslations
from html import escape
from typing import TYPE_CHECKING

from bot.domain.oversight import OperationsReport, OperationSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

#: Bar colours: promised, paid, and the waits. Tests look for them in a browser's screenshot.
PROMISED_COLOUR = "#4a6fa5"
PAID_COLOUR = "#2e8b57"
WAIT_COLOUR = "#b5532b"
#: Upper bounds (days overdue) of the waiting chart's buckets; the last one is open.
WAIT_BOUNDS: tuple[int | None, ...] = (30, 90, 365, 730, None)
#: Most operations one chart shows (those with most still owed): a taller image would be
#: refused by Telegram (width + height at most 10 000 px) and unreadable on a phone anyway.
MAX_OPERATIONS = 40
#: Longest operation label on the axis; a longer one is cut with an ellipsis.
MAX_LABEL = 24
#: Inches: a phone shows the page's charts about this wide (390 px), so its letters keep
#: their size; wider screens scale them up.
WIDTH = 5.5
#: Inches: the height of the waiting chart (five buckets).
WAITS_HEIGHT = 3.0
#: Resolution of the chat image: 5.5 in at 180 dpi is 990 px, sharp on a phone.
PNG_DPI = 180

_LOCK = threading.Lock()
_READY: list[bool] = []


@dataclass(frozen=True, slots=True)
class ChartText:
    """Everything written on the charts, in the reader's language."""

    payments_title: str
    promised: str
    paid: str
    waits_title: str
    waits_axis: str
    nothing_overdue: str
    no_operations: str
    #: ``{shown}`` of ``{total}`` operations are charted (``charted_operations``).
    left_out: str
    #: One label per ``WAIT_BOUNDS`` bucket.
    buckets: tuple[str, ...]
    #: Formats integer céntimos as soles (``format_money`` in the reader's language).
    money: Callable[[int], str]


def chart_text(t: NullTranslations, money: Callable[[int], str]) -> ChartText:
    """The charts' texts through ``t`` (the reader's catalog)."""
    return ChartText(
        # Translators: título de un gráfico de barras del informe de operaciones (página HTML
        # y /informe): por operación, cuánto se prometió a los informantes y cuánto se pagó.
        payments_title=t.gettext("Prometido y pagado por operación"),
        # Translators: leyenda de la barra de lo prometido en el gráfico del informe.
        promised=t.pgettext("gráfico del informe", "Prometido"),
        # Translators: leyenda de la barra de lo pagado en el gráfico del informe.
        paid=t.pgettext("gráfico del informe", "Pagado"),
        # Translators: título de un gráfico del informe: cuántos reclamos vencidos llevan
        # cada tiempo de espera desde la fecha de pago prometida.
        waits_title=t.gettext("Cuánto han esperado los informantes"),
        # Translators: eje del gráfico de espera: número de reclamos vencidos sin pagar.
        waits_axis=t.gettext("Reclamos vencidos"),
        # Translators: se lee dentro del gráfico de espera cuando ningún reclamo está vencido.
        nothing_overdue=t.gettext("Ningún reclamo vencido."),
        # Translators: se lee dentro del gráfico de montos cuando no hay operaciones.
        no_operations=t.gettext("No hay operaciones."),
        # Translators: bajo el gráfico del informe cuando hay demasiadas operaciones para
        # dibujarlas todas; {shown} y {total} son números (p. ej. 40 de 61).
        left_out=t.gettext(
            "El gráfico muestra las {shown} operaciones con más por pagar, de {total}."
        ),
        buckets=(
            # Translators: tramo de espera en el gráfico del informe (días de atraso).
            t.gettext("1 a 30 días"),
            # Translators: tramo de espera en el gráfico del informe (días de atraso).
            t.gettext("31 a 90 días"),
            # Translators: tramo de espera en el gráfico del informe (días de atraso).
            t.gettext("91 a 365 días"),
            # Translators: tramo de espera en el gráfico del informe (años de atraso).
            t.gettext("1 a 2 años"),
            # Translators: tramo de espera en el gráfico del informe (años de atraso).
            t.gettext("más de 2 años"),
        ),
        money=money,
    )


def wait_counts(delays: Sequence[int]) -> tuple[int, ...]:
    """How many overdue claims fall in each ``WAIT_BOUNDS`` bucket (0 days is not overdue)."""
    counts: list[int] = []
    lower = 0
    for upper in WAIT_BOUNDS:
        counts.append(sum(1 for d in delays if d > lower and (upper is None or d <= upper)))
        lower = upper or lower
    return tuple(counts)


def charted_operations(report: OperationsReport) -> tuple[OperationSummary, ...]:
    """The operations a chart shows: all, or the ``MAX_OPERATIONS`` with most still owed."""
    if len(report.operations) <= MAX_OPERATIONS:
        return report.operations
    ranked = sorted(
        range(len(report.operations)), key=lambda i: -report.operations[i].outstanding_cents
    )
    kept = sorted(ranked[:MAX_OPERATIONS])  # in the report's order
    return tuple(report.operations[i] for i in kept)


def payments_svg(report: OperationsReport, text: ChartText, *, prefix: str = "pay") -> str:
    """Promised vs paid per operation, as one ``<svg>`` element to put inside a page.

    Without a title: the page's heading above it says it (the element's label too).
    """
    with _drawing():
        figure = _figure(WIDTH, _payments_height(report))
        _draw_payments(figure.add_subplot(), report, text, titled=False)
        return _svg(figure, prefix, text.payments_title)


def waits_svg(report: OperationsReport, text: ChartText, *, prefix: str = "wait") -> str:
    """How long the overdue claims have waited, as one ``<svg>`` element (no title)."""
    with _drawing():
        figure = _figure(WIDTH, WAITS_HEIGHT)
        _draw_waits(figure.add_subplot(), report, text, titled=False)
        return _svg(figure, prefix, text.waits_title)


def report_png(report: OperationsReport, text: ChartText) -> bytes:
    """Both charts in one PNG (payments above, waits below), for ``/informe`` in chat."""
    with _drawing():
        top = _payments_height(report)
        figure = _figure(WIDTH, top + WAITS_HEIGHT)
        payments, waits = figure.subplots(2, 1, height_ratios=[top, WAITS_HEIGHT])
        _draw_payments(payments, report, text)
        _draw_waits(waits, report, text)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
        return buffer.getvalue()


# --- drawing ---------------------------------------------------------------------------------


def _payments_height(report: OperationsReport) -> float:
    """Inches: room for two bars per operation and the title, legend and axis."""
    return 1.6 + 0.4 * max(1, len(charted_operations(report)))


def axis_labels(lines: Sequence[OperationSummary]) -> list[str]:
    """Operation labels, cut to ``MAX_LABEL``; a label shared by two operations gets its id."""
    seen: dict[str, int] = {}
    for line in lines:
        seen[line.label] = seen.get(line.label, 0) + 1
    labels = []
    for line in lines:
        label = line.label if len(line.label) <= MAX_LABEL else line.label[: MAX_LABEL - 1] + "…"
        if seen[line.label] > 1:
            label = f"{label} #{line.operation_id}"
        labels.append(label)
    return labels


def _draw_payments(
    axes: Axes, report: OperationsReport, text: ChartText, *, titled: bool = True
) -> None:
    lines = charted_operations(report)
    if titled:  # above the legend, which sits right on top of the bars
        axes.set_title(text.payments_title, loc="left", fontweight="bold", pad=24)
    if not lines:
        _empty(axes, text.no_operations)
        return
    rows = range(len(lines))
    promised = [line.promised_cents / 100 for line in lines]
    paid = [line.paid_cents / 100 for line in lines]
    axes.barh([row - 0.2 for row in rows], promised, 0.4, color=PROMISED_COLOUR,
              label=text.promised)  # fmt: skip
    axes.barh([row + 0.2 for row in rows], paid, 0.4, color=PAID_COLOUR, label=text.paid)
    axes.set_yticks(list(rows), axis_labels(lines))
    axes.invert_yaxis()  # the report's order, top to bottom
    axes.xaxis.set_major_formatter(lambda value, _: text.money(round(value * 100)))
    axes.tick_params(axis="x", labelrotation=30)
    axes.set_xlim(left=0)
    # Right above the bars, under the title: never over a bar, however long.
    axes.legend(loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=2, frameon=False,
                borderaxespad=0.2)  # fmt: skip
    axes.grid(axis="x", color="#dddddd")
    axes.set_axisbelow(True)


def _draw_waits(
    axes: Axes, report: OperationsReport, text: ChartText, *, titled: bool = True
) -> None:
    counts = wait_counts(report.delays)
    if titled:
        axes.set_title(text.waits_title, loc="left", fontweight="bold")
    rows = range(len(counts))
    axes.barh(list(rows), counts, 0.6, color=WAIT_COLOUR)
    axes.set_yticks(list(rows), list(text.buckets))
    axes.invert_yaxis()
    axes.set_xlabel(text.waits_axis)
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415 - lazy, as everything here

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlim(0, max(max(counts, default=0), 1) * 1.15)
    for row, count in zip(rows, counts, strict=True):
        axes.annotate(str(count), (count, row), xytext=(4, 0), textcoords="offset points",
                      va="center")  # fmt: skip
    if not any(counts):
        _empty(axes, text.nothing_overdue)
    axes.grid(axis="x", color="#dddddd")
    axes.set_axisbelow(True)


def _empty(axes: Axes, message: str) -> None:
    axes.text(0.5, 0.5, message, transform=axes.transAxes, ha="center", va="center",
              color="#555555")  # fmt: skip
    if not axes.has_data():
        axes.set_xticks([])
        axes.set_yticks([])


# --- matplotlib ------------------------------------------------------------------------------


@contextmanager
def _drawing() -> Iterator[None]:
    """Hold the drawing lock under matplotlib's defaults plus ours (undone afterwards)."""
    _prepare()
    import matplotlib  # noqa: PLC0415 - lazy on purpose (memory)

    with _LOCK, matplotlib.rc_context():
        matplotlib.rcdefaults()  # whatever a matplotlibrc said; the backend stays Agg
        params = matplotlib.rcParams
        params["svg.fonttype"] = "path"  # letters as paths: no font needed to show the page
        params["svg.hashsalt"] = "chaski"  # the same report gives the same page
        params["text.parse_math"] = False  # "$" in an operation label is just a dollar sign
        params["font.family"] = "DejaVu Sans"  # shipped inside matplotlib: nothing to fetch
        params["axes.spines.top"] = False
        params["axes.spines.right"] = False
        yield


def _prepare() -> None:
    """Once per process: a private config dir unless the operator chose one, then Agg."""
    with _LOCK:
        if _READY:
            return
        if not os.environ.get("MPLCONFIGDIR"):
            private = tempfile.mkdtemp(prefix="chaski-matplotlib-")  # mode 0700
            atexit.register(shutil.rmtree, private, ignore_errors=True)
            os.environ["MPLCONFIGDIR"] = private
        import matplotlib  # noqa: PLC0415 - lazy on purpose (memory)

        matplotlib.use("Agg")
        _READY.append(True)


def _figure(width: float, height: float) -> Figure:
    """A figure with the Agg canvas, outside pyplot (no global figure list to leak into)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: PLC0415
    from matplotlib.figure import Figure  # noqa: PLC0415

    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


_COMMENT = re.compile(r"<!--.*?-->\n?", re.DOTALL)
_ID = re.compile(r'\bid="([^"]+)"')
_REF = re.compile(r'(url\(#|href="#)([^)"]+)')


def _svg(figure: Figure, prefix: str, title: str) -> str:
    """The figure as an ``<svg>`` element that scales with the page and owns its ids.

    The XML prolog goes (not valid inside HTML); the fixed size in points becomes a
    ``viewBox`` that the page's CSS scales (``class="chart"``); every id and reference gets
    ``prefix`` so that two charts on one page never share an id. No metadata (no date, no
    producer) and no comments: matplotlib repeats each text in one, operators' labels too.
    """
    buffer = io.StringIO()
    figure.savefig(
        buffer,
        format="svg",
        metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
    )
    source = buffer.getvalue()
    body = source[source.index(">", source.index("<svg")) + 1 :]
    body = _COMMENT.sub("", body)  # matplotlib notes each text (escaped) before its glyphs
    body = _ID.sub(lambda m: f'id="{prefix}-{m.group(1)}"', body)
    body = _REF.sub(lambda m: f"{m.group(1)}{prefix}-{m.group(2)}", body)
    width, height = (72 * size for size in figure.get_size_inches())  # SVG points
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink"'
        f' class="chart" viewBox="0 0 {width:g} {height:g}" role="img"'
        f' aria-label="{escape(title)}">' + body.strip()
    )
