"""``/informe``: the operations report for coordinators (their regions) and administrators.

The same figures as ``chaski report operations`` (issue #16.6), from the same service
(``OversightService.report_for``), which authorizes and scopes them (M-04) and audits the
read. Staff need an open PIN session (M-05). The report names operations and sums of money,
so it goes through ``send_sensitive``: protected from forwarding and deleted after a few
minutes, like the other staff views of claims (M-10). After the text comes the chart, one
PNG drawn by matplotlib (``bot.services.charts``: promised vs paid per operation, and how
long informants have waited), through the same path: protected and deleted with the text.
It is drawn in a short-lived child process (``BotData.charts``): the event loop keeps sending
alerts meanwhile (R-07), and matplotlib's tens of MiB leave with the child instead of staying
in the bot for good. When the child fails or takes too long, the coordinator still has the
text and reads one neutral line instead of the chart.
"""

from __future__ import annotations

from telegram import Update

from bot.domain.errors import NotAllowed
from bot.domain.models import Member, Role
from bot.domain.pin import PinPass, PinRule
from bot.i18n import format_money
from bot.services import charts
from handlers.access import not_available, requires
from handlers.context import BotContext
from handlers.render import render_operations_report
from handlers.transport import send


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def report_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/informe``: one message per part of the report, then its chart, in the member's
    language (no chart when there is nothing to draw)."""
    del pin
    chat = update.effective_chat
    if chat is None:
        return
    try:
        report = await context.services.oversight.report_for(member)
    except NotAllowed:
        await not_available(context, member, chat.id)
        return
    t = context.catalogs.for_lang(member.lang)
    for text in render_operations_report(t, member.lang, report):
        await send.send_sensitive(context, member, chat.id, text)
    if not report.operations:
        return
    words = charts.chart_text(t, lambda cents: format_money(cents, member.lang))
    png = await context.bot_data.charts.report_png(report, words, member.lang)
    if png is None:
        await send.send_sensitive(
            context,
            member,
            chat.id,
            # Translators: tras el texto de /informe cuando su gráfico no se pudo dibujar
            # (falló o tardó demasiado); el texto enviado antes sí está completo.
            t.gettext(
                "No se pudo dibujar el gráfico esta vez. El informe de arriba está completo;"
                " para ver el gráfico, vuelve a escribir /informe más tarde."
            ),
        )
        return
    shown, total = len(charts.charted_operations(report)), len(report.operations)
    caption = words.left_out.format(shown=shown, total=total) if shown < total else None
    await send.send_photo_sensitive(
        context, member, chat.id, png, filename="informe.png", caption=caption
    )
