"""The oversight charts, drawn by matplotlib: promised vs paid per operation, and waits (#16.6).

One small module owns every chart of the operations report, for the HTML page of
``chaski report operations --html`` (inline SVG) and for ``/informe`` in chat (one PNG). It
knows nothing of Telegram or SQL: it takes an ``OperationsReport`` and the texts to write on
the chart, already translated (:func:`chart_text`, with the reader's ``gettext``), and
returns SVG text or PNG bytes.

matplotlib is imported on the first chart only (:func:`_drawing`), never at the bot's
start: it and numpy cost tens of MiB of memory (docs/performance.md, Charts), and a
coordinator may never ask for a report. The bot itself never imports it: ``/informe``'s image
is drawn by :class:`ChartProcess` in a short-lived child process (``bot.root.chart_child``,
which calls :func:`data_png`) that hands the memory back when it exits; only the CLI, which
ends anyway, draws in its own process. It draws with the Agg renderer and matplotlib's own
DejaVu font (no GUI, no network, nothing fetched). Its configuration and font cache go to a private
temporary directory removed at exit (:func:`config_dir`; the bot's children share the bot's),
unless the operator set ``MPLCONFIGDIR``: matplotlib would otherwise write into ``~/.config``
and ``~/.cache`` of whoever runs the bot, and read a ``matplotlibrc`` found there. Each chart
is drawn with matplotlib's defaults plus ours, whatever a ``matplotlibrc`` says, under one
lock: rcParams are global.

Operation labels are typed by operators: they are drawn as text, never parsed as
matplotlib's math notation (a ``$`` in a label would otherwise change the drawing or raise).
In SVG every letter is a path (``svg.fonttype: path``), so the page shows the same glyphs
on every phone without a font, and nothing in a label can become markup.
"""

from __future__ import annotations

import asyncio
import atexit
import io
import json
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from gettext import NullTranslations
from html import escape
from typing import TYPE_CHECKING, Protocol

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

#: Seconds a chart's child process may run before it is killed, unless the operator sets
#: ``CHASKI_CHART_TIMEOUT``: a first chart on a busy small server takes a few seconds
#: (docs/performance.md, Charts); a stuck one must not keep the coordinator waiting for ever.
CHILD_TIMEOUT = 30.0
#: The only variables of the bot's environment a chart's child sees: the bot's holds the
#: token (``TELEGRAM_BOT_TOKEN``), which a process that draws bars has no use for (M-17).
CHILD_ENVIRONMENT = ("PATH", "PYTHONPATH", "LANG", "LC_ALL", "TMPDIR", "TZ")
#: What a chart's child runs (``python -m``): the composition root's small entry point, which
#: reads the request (money in the reader's language needs ``bot.i18n``) and calls
#: :func:`data_png`. Named, never imported: nothing here depends on the root.
CHILD_MODULE = "bot.root.chart_child"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

_LOCK = threading.Lock()
_DIR_LOCK = threading.Lock()
_READY: list[bool] = []
_LOGGER = logging.getLogger(__name__)


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


@dataclass(frozen=True, slots=True)
class ChartBar:
    """One operation's two bars: all the chart needs of it."""

    operation_id: int | None
    label: str
    promised_cents: int
    paid_cents: int


@dataclass(frozen=True, slots=True)
class ChartData:
    """What the charts draw, and all that crosses to a chart's child process: plain numbers
    and labels, no claim, no reference, no database path, no key."""

    bars: tuple[ChartBar, ...]
    #: Days overdue of every overdue claim (``OperationsReport.delays``).
    delays: tuple[int, ...]


def chart_data(report: OperationsReport) -> ChartData:
    """The report's charted operations (:func:`charted_operations`) and its delays."""
    bars = tuple(
        ChartBar(line.operation_id, line.label, line.promised_cents, line.paid_cents)
        for line in charted_operations(report)
    )
    return ChartData(bars, report.delays)


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
    data = chart_data(report)
    with _drawing():
        figure = _figure(WIDTH, _payments_height(data))
        _draw_payments(figure.add_subplot(), data, text, titled=False)
        return _svg(figure, prefix, text.payments_title)


def waits_svg(report: OperationsReport, text: ChartText, *, prefix: str = "wait") -> str:
    """How long the overdue claims have waited, as one ``<svg>`` element (no title)."""
    with _drawing():
        figure = _figure(WIDTH, WAITS_HEIGHT)
        _draw_waits(figure.add_subplot(), report.delays, text, titled=False)
        return _svg(figure, prefix, text.waits_title)


def report_png(report: OperationsReport, text: ChartText) -> bytes:
    """Both charts in one PNG (payments above, waits below), for ``/informe`` in chat.

    In this process: the CLI and tests. The bot draws it in a child (:class:`ChartProcess`).
    """
    return data_png(chart_data(report), text)


def data_png(data: ChartData, text: ChartText) -> bytes:
    """:func:`report_png` from the plain data (what a chart's child process receives)."""
    with _drawing():
        top = _payments_height(data)
        figure = _figure(WIDTH, top + WAITS_HEIGHT)
        payments, waits = figure.subplots(2, 1, height_ratios=[top, WAITS_HEIGHT])
        _draw_payments(payments, data, text)
        _draw_waits(waits, data.delays, text)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=PNG_DPI, metadata={"Software": None})
        return buffer.getvalue()


# --- drawing ---------------------------------------------------------------------------------


def _payments_height(data: ChartData) -> float:
    """Inches: room for two bars per operation and the title, legend and axis."""
    return 1.6 + 0.4 * max(1, len(data.bars))


class _Labelled(Protocol):
    """An operation as the axis names it (a report's line or a chart's bar)."""

    @property
    def operation_id(self) -> int | None: ...

    @property
    def label(self) -> str: ...


def axis_labels(lines: Sequence[_Labelled]) -> list[str]:
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


def _draw_payments(axes: Axes, data: ChartData, text: ChartText, *, titled: bool = True) -> None:
    lines = data.bars
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
    axes: Axes, delays: Sequence[int], text: ChartText, *, titled: bool = True
) -> None:
    counts = wait_counts(delays)
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


def config_dir() -> str:
    """matplotlib's folder: ``MPLCONFIGDIR`` if the operator set it, else a private one.

    The private one is made once per process (mode 0700), removed at exit, and set in
    ``MPLCONFIGDIR``, so that a chart's child process gets it too: its font cache then
    outlives one chart without ever being written into a home folder.
    """
    with _DIR_LOCK:
        if not os.environ.get("MPLCONFIGDIR"):
            private = tempfile.mkdtemp(prefix="chaski-matplotlib-")  # mode 0700
            atexit.register(shutil.rmtree, private, ignore_errors=True)
            os.environ["MPLCONFIGDIR"] = private
        return os.environ["MPLCONFIGDIR"]


def _prepare() -> None:
    """Once per process: a private config dir unless the operator chose one, then Agg."""
    with _LOCK:
        if _READY:
            return
        config_dir()
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


# --- the bot's charts, drawn in a child process ----------------------------------------------

#: The texts of ``ChartText`` sent to the child (all but ``money``, which it rebuilds).
TEXT_FIELDS = tuple(field.name for field in fields(ChartText) if field.name != "money")


def encode_request(data: ChartData, text: ChartText, lang: str) -> bytes:
    """The child's stdin: the chart's numbers and labels, its texts and the reader's language
    (for the money on the axis), as JSON."""
    request = {
        "lang": lang,
        "text": {name: getattr(text, name) for name in TEXT_FIELDS},
        "bars": [[b.operation_id, b.label, b.promised_cents, b.paid_cents] for b in data.bars],
        "delays": list(data.delays),
    }
    return json.dumps(request, ensure_ascii=False).encode("utf-8")


class ChartProcess:
    """Draws ``/informe``'s image in a short-lived child process, one chart at a time.

    The child imports matplotlib and numpy (about 65 MiB, docs/performance.md, Charts) and
    gives them back when it exits, so the bot stays small however many reports are asked
    for. One child at a time: two at once would double the peak on a small server. It runs
    ``python -m bot.root.chart_child`` with this interpreter, receives only the chart's plain
    data on stdin (:func:`encode_request`), sees none of the bot's environment but
    ``CHILD_ENVIRONMENT`` and ``MPLCONFIGDIR`` (:func:`config_dir`), and is killed when it
    takes longer than ``timeout`` seconds.
    """

    def __init__(self, timeout: float = CHILD_TIMEOUT, python: str = sys.executable) -> None:
        """``timeout``: seconds a child may take (``CHASKI_CHART_TIMEOUT`` in the bot);
        ``python``: the interpreter that runs it (the bot's own)."""
        self.timeout = timeout
        self.python = python
        self._one_at_a_time = asyncio.Lock()

    async def report_png(
        self, report: OperationsReport, text: ChartText, lang: str
    ) -> bytes | None:
        """The PNG of :func:`report_png`, drawn by a child; None if it failed or timed out.

        A failure is logged without any of the report's content.
        """
        request = encode_request(chart_data(report), text, lang)
        async with self._one_at_a_time:
            return await self._draw(request)

    async def _draw(self, request: bytes) -> bytes | None:
        environment = {name: os.environ[name] for name in CHILD_ENVIRONMENT if name in os.environ}
        environment["MPLCONFIGDIR"] = config_dir()
        try:
            child = await asyncio.create_subprocess_exec(
                self.python, "-m", CHILD_MODULE,
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL, env=environment,
            )  # fmt: skip
        except OSError as error:  # no memory or no process slot left to start it
            _LOGGER.warning(
                "Chart process could not start (%s): report sent without chart", error.strerror
            )
            return None
        try:
            png, _ = await asyncio.wait_for(child.communicate(request), self.timeout)
        except TimeoutError:
            _LOGGER.warning(
                "Chart process killed after %g s: report sent without chart", self.timeout
            )
            return None
        finally:
            if child.returncode is None:  # timed out, or the update's task was cancelled
                child.kill()
                await child.wait()
        if child.returncode != 0 or not png.startswith(PNG_SIGNATURE):
            _LOGGER.warning(
                "Chart process failed (exit code %s): report sent without chart", child.returncode
            )
            return None
        return png
