"""A chart's child process: ``python -m bot.root.chart_child`` (issue #16.6).

``bot.services.charts.ChartProcess`` starts it for each ``/informe`` image so that the bot
itself never loads matplotlib and numpy: they go when this process exits. It reads one
request (``bot.services.charts.encode_request``: the charted operations' numbers and labels,
the overdue days, the chart's texts already translated and the reader's language) as JSON
on stdin and writes the PNG to stdout. It opens no database, reads no key and gets none of
the bot's environment but what ``ChartProcess`` passes on.
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from bot.domain.models import Lang
from bot.i18n import format_money
from bot.services.charts import TEXT_FIELDS, ChartBar, ChartData, ChartText, data_png


def decode_request(raw: bytes) -> tuple[ChartData, ChartText]:
    """What ``encode_request`` wrote, back as the drawing functions take it.

    Raises:
        ValueError, KeyError, TypeError: ``raw`` is not such a request.
    """
    request: dict[str, Any] = json.loads(raw)
    lang = Lang(request["lang"])
    words = request["text"]
    text = ChartText(
        **{name: words[name] for name in TEXT_FIELDS if name != "buckets"},
        buckets=tuple(words["buckets"]),
        money=lambda cents: format_money(cents, lang),
    )
    bars = tuple(ChartBar(*bar) for bar in request["bars"])
    return ChartData(bars, tuple(int(days) for days in request["delays"])), text


def main(source: IO[bytes], sink: IO[bytes]) -> int:
    """A request on ``source``, the PNG on ``sink``; exit status 0 if drawn.

    A failure exits 1 and writes nothing: no traceback, which could quote an operation's
    label into the bot's journal; the bot tells the coordinator the chart could not be drawn.
    """
    try:
        data, text = decode_request(source.read())
        png = data_png(data, text)
    except Exception:  # any failure means "no chart", which the bot says
        return 1
    sink.write(png)
    sink.flush()
    return 0


if __name__ == "__main__":  # pragma: no cover - the child process itself
    sys.exit(main(sys.stdin.buffer, sys.stdout.buffer))
