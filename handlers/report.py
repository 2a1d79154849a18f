"""``/informe``: the operations report for coordinators (their regions) and administrators.

The same figures as ``chaski report operations`` (issue #16.6), from the same service
(``OversightService.report_for``), which authorizes and scopes them (M-04) and audits the
read. Staff need an open PIN session (M-05). The report names operations and sums of money,
so it goes through ``send_sensitive``: protected from forwarding and deleted after a few
minutes, like the other staff views of claims (M-10). The chart the issue asks for is left
out: it needs a plotting library the bot does not carry (docs/commands.md).
"""

from __future__ import annotations

from telegram import Update

from bot.domain.errors import NotAllowed
from bot.domain.models import Member, Role
from bot.domain.pin import PinPass, PinRule
from handlers.access import not_available, requires
from handlers.context import BotContext
from handlers.render import render_operations_report
from handlers.transport import send


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def report_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/informe``: one message per part of the report, in the member's language."""
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
