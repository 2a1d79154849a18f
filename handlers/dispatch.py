"""Routing of menu-button texts to features, and the fallbacks for whatever no feature took.

Kept apart from ``handlers.menus`` because it imports the features, which themselves import
``handlers.menus`` for keyboards and command lists.
"""

from __future__ import annotations

from telegram import Update

from bot.domain.models import Member
from handlers import alerts, claims, claims_admin, members_admin, operations_admin, registration
from handlers import help as help_feature
from handlers.access import ALL_ROLES, menu_expired, not_available, requires
from handlers.context import BotContext
from handlers.menus import MenuAction, action_for_text

#: The coordinators' menu buttons run the same handlers as their commands (issue #12.6).
_STAFF_BUTTONS = {
    MenuAction.ALERT: alerts.alert_command,
    MenuAction.ALERTS: alerts.alerts_command,
    MenuAction.APPROVE: alerts.approve_command,
}


@requires(*ALL_ROLES)
async def on_menu_text(update: Update, context: BotContext, member: Member) -> None:
    """A text that is not a command: a menu button press, a region name or an operation's
    label, total or date an administrator was asked for in ``/miembros``, or else "not
    available" (T-13)."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None or message.text is None:
        return
    action = action_for_text(context.catalogs, message.text)
    if action is MenuAction.STATUS:
        await claims.status_command.run(update, context, member)
    elif action is MenuAction.HELP:
        await help_feature.show_help(context, member, chat.id)
    elif action is MenuAction.LANGUAGE:
        await registration.ask_language(context, chat.id)
    elif action in _STAFF_BUTTONS and member.role in alerts.SENDERS:
        await _STAFF_BUTTONS[action].run(update, context, member)
    elif not (
        await members_admin.typed_text(update, context, member)
        or await operations_admin.typed_text(update, context, member)
        or await claims_admin.typed_text(update, context, member)
    ):
        await not_available(context, member, chat.id)


@requires(*ALL_ROLES)
async def on_other_message(update: Update, context: BotContext, member: Member) -> None:
    """Anything no feature took: unknown commands get "not available", the rest is ignored.

    Non-text messages (photos, stickers, voice …) are never downloaded or answered (M-09).
    """
    message = update.effective_message
    chat = update.effective_chat
    if message is None or chat is None:
        return
    if message.text is not None:
        await not_available(context, member, chat.id)


@requires(*ALL_ROLES)
async def on_unknown_callback(update: Update, context: BotContext, member: Member) -> None:
    """A button this version does not know (old keyboard, forged data): "menu expired"."""
    chat = update.effective_chat
    if chat is not None:
        await menu_expired(update, context, member, chat.id)
