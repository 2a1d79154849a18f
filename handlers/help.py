"""``/ayuda``: every command of the member's role, from the same list as their chat menu."""

from __future__ import annotations

from telegram import Update

from bot.domain.models import Member
from handlers.access import ALL_ROLES, requires
from handlers.context import BotContext
from handlers.menus import help_commands, main_keyboard
from handlers.render import render_help
from handlers.transport import send


async def show_help(context: BotContext, member: Member, chat_id: int) -> None:
    """Send the commands, then the safety rules, in their language; the menu buttons last."""
    t = context.catalogs.for_lang(member.lang)
    commands, rules = render_help(t, member.role, help_commands(t, member.role))
    await send.send_text(context, chat_id, commands)
    await send.send_text(context, chat_id, rules, reply_markup=main_keyboard(t, member.role))


@requires(*ALL_ROLES)
async def help_command(update: Update, context: BotContext, member: Member) -> None:
    """``/ayuda``: explain the commands."""
    chat = update.effective_chat
    if chat is not None:
        await show_help(context, member, chat.id)
