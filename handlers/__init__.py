"""Telegram adapters: ``register`` adds every handler in an explicit, commented order."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.ext import (
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot.domain.pin import Resume
from handlers import (
    alerts,
    claims,
    claims_admin,
    dispatch,
    errors,
    jobs,
    members_admin,
    membership,
    menus,
    operations_admin,
    panic,
    registration,
    report,
    schedules,
    ticks,
)
from handlers import help as help_feature
from handlers import pin as pin_feature
from handlers.access import PRIVATE, Guarded
from handlers.context import BotApplication, BotContext
from handlers.inbound import dedupe, gatekeeper, limits, locations
from handlers.transport import send
from handlers.transport.polling import PollingRequest

#: Rate limits and size caps, in memory: a flood never reaches the database (M-06, M-09).
LIMITS = -4
#: Each ``update_id`` applied once (R-09); keeps incoming message ids for ``/borrar``.
DEDUPE = -3
#: A typed PIN (deleted at once, never seen by the menus) and shared locations (M-05, M-09).
MEMBER_SAFETY = -2
#: Group of the gatekeeper: runs before every feature and may stop the update (T-08, T-09).
GATEKEEPING = -1
#: Group of the features: the first matching handler wins, so order below matters.
FEATURES = 0


def pin_continuations() -> dict[Resume, Guarded]:
    """The commands that run by themselves once the PIN they asked for is given, one per
    ``Resume`` (a command declares its own with ``requires(..., resume=...)``; ``PinText``
    refuses to start when this table and those declarations disagree)."""
    return {
        Resume.CLAIMS: claims.status_command,
        Resume.ALERT_COMPOSE: alerts.alert_command,
        Resume.ALERT_APPROVE: alerts.approve_command,
        Resume.ALERT_LIST: alerts.alerts_command,
        Resume.CLAIMS_ADMIN: claims_admin.claims_command,
        Resume.CLAIMS_REVIEW: claims_admin.review_command,
    }


#: What a command or a button runs (PTB awaits it with the update and the context).
HandlerCallback = Callable[[Update, BotContext], Coroutine[Any, Any, Any]]

#: Every command and what runs it (private, new, non-forwarded messages only).
COMMANDS: tuple[tuple[str, HandlerCallback], ...] = (
    ("start", registration.start_command),
    ("idioma", registration.language_command),
    ("estado", claims.status_command),
    ("menu", menus.menu_command),
    ("ayuda", help_feature.help_command),
    # Safety alerts (coordinators, admins): compose, free text, values, approve, list.
    ("aviso", alerts.alert_command),
    ("aviso_texto", alerts.alert_text_command),
    ("aviso_datos", alerts.alert_values_command),
    ("aprobar", alerts.approve_command),
    ("alertas", alerts.alerts_command),
    # Claims kept true by coordinators (issue #16.2): find/open, then typed parts of an edit.
    ("reclamos", claims_admin.claims_command),
    ("nota", claims_admin.note_command),
    ("pago", claims_admin.payment_command),
    ("paso", claims_admin.step_command),
    ("monto", claims_admin.amount_command),
    ("revisar", claims_admin.review_command),
    # Registrations managed by administrators in the chat (issue #16.3).
    ("miembros", members_admin.members_command),
    # The operations report for staff (issue #16.6): their regions, administrators all.
    ("informe", report.report_command),
    # Schedules (issue #15): the informant's reminders; coordinators' check-ins, reminders, list.
    ("recordatorios", schedules.reminders_command),
    ("recordar", schedules.remind_command),
    ("control", schedules.checkin_command),
    ("programados", schedules.scheduled_command),
    # PIN (M-05, M-13b) and the panic buttons (M-13a, M-13c).
    ("pin", pin_feature.pin_command),
    ("pin_duress", pin_feature.duress_command),
    ("pin_reset", pin_feature.pin_reset_command),
    ("borrar", panic.wipe_command),
    ("desvincular", panic.unlink_command),
)

#: Buttons by callback-data prefix, first match wins (the data is re-checked inside, M-04).
BUTTONS: tuple[tuple[str, HandlerCallback], ...] = (
    (r"^lang:", registration.on_language_button),
    (r"^claim:", claims.on_claim_button),
    (r"^cadm:", claims_admin.on_button),
    (r"^madm:", members_admin.on_button),
    (r"^mops:", operations_admin.on_button),
    # Alert answers first (informants), then the coordinators' compose/approve/help buttons.
    (r"^alert:(safe|help):", alerts.on_answer_button),
    (r"^alert:", alerts.on_alert_compose_button),
    # Check-in answers (issue #15.4).
    (r"^chk:(safe|help):", schedules.on_checkin_button),
    (r"^appr:", alerts.on_approval_button),
    (r"^sch:", schedules.on_schedule_button),
    (r"^help:", alerts.on_help_button),
    (r"^afu:", alerts.on_follow_up_button),
    (r"^wipe:", panic.on_wipe_button),
    (r"^unlink:", panic.on_unlink_button),
)


def register(application: BotApplication) -> None:
    """Add every handler; gatekeeping groups first, then features, then the error handler."""
    add = application.add_handler
    # -4, -3: limits and dedupe for every update (callbacks and block notices included).
    add(TypeHandler(Update, limits.guard), group=LIMITS)
    add(TypeHandler(Update, dedupe.dedupe), group=DEDUPE)
    # -2: the PIN a member types after the bot asked for it, and any member text that looks
    # like a PIN (forwarded, edited or late ones too: deleted, never consumed); locations
    # (even forwarded; live ones' edits deleted silently).
    # After a correct PIN, the command it was asked for runs: the closed table, checked here.
    typed_pin = pin_feature.PinText(pin_continuations())
    add(
        MessageHandler(filters.ChatType.PRIVATE & filters.TEXT & ~filters.COMMAND, typed_pin),
        group=MEMBER_SAFETY,
    )
    add(
        MessageHandler(
            filters.ChatType.PRIVATE & (filters.LOCATION | filters.VENUE),
            locations.on_location,
        ),
        group=MEMBER_SAFETY,
    )
    # -1: leave groups/channels; drop updates without a sender, forwarded and edited ones.
    add(TypeHandler(Update, gatekeeper.gatekeeper), group=GATEKEEPING)

    # 0: commands (private, new, non-forwarded messages only), then buttons by prefix.
    for name, callback in COMMANDS:
        add(CommandHandler(name, callback, filters=PRIVATE), group=FEATURES)
    for pattern, on_press in BUTTONS:
        add(CallbackQueryHandler(on_press, pattern=pattern), group=FEATURES)
    # 0: private block/unblock notices; group ones never get here (the bot left).
    add(
        ChatMemberHandler(membership.on_my_chat_member, ChatMemberHandler.MY_CHAT_MEMBER),
        group=FEATURES,
    )
    # 0: reply-keyboard buttons arrive as plain text.
    add(
        MessageHandler(PRIVATE & filters.TEXT & ~filters.COMMAND, dispatch.on_menu_text),
        group=FEATURES,
    )
    # 0, last: whatever no feature took (strangers' stickers, unknown commands, old buttons).
    add(MessageHandler(PRIVATE, dispatch.on_other_message), group=FEATURES)
    add(CallbackQueryHandler(dispatch.on_unknown_callback), group=FEATURES)

    application.add_error_handler(errors.on_error)


async def on_startup(application: BotApplication, polling: PollingRequest | None = None) -> None:
    """Start the outbox sender and every periodic tick once services exist (R-12).

    ``polling`` is the long poll's transport, whose answers the heartbeat tick reports.
    """
    # The default menu stays empty: members get theirs per chat (telegram-limits.md §2, M-02).
    await send.delete_default_commands(application.bot)
    # Crashed leases back to the queue, then the sender.
    await jobs.start_outbox(application)
    # The coordinators' daily digest is a stored schedule, at CHASKI_DIGEST_HOUR (issue #15.3).
    await application.bot_data.services.schedules.ensure_digest()
    # Housekeeping, retention, tallies, approvals, safety, heartbeat: one table.
    ticks.schedule(application, ticks.table(polling))


async def on_shutdown(application: BotApplication) -> None:
    """Drop follow-up edits still waiting for a slot; stop the sender, letting in-flight
    sends finish."""
    await send.follow_ups_done(application.bot_data, cancel=True)
    await jobs.stop_outbox(application)
