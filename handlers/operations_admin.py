"""Administrators create operations and correct them in the chat (issue #16.3).

``/miembros`` → *Operaciones* lists the last operations (``handlers.members_admin``); this
module adds its buttons: *Nueva operación* (label typed, region chosen with a button, total
and promised payment date typed, or *Sin fecha*) and, per operation, *Editar …* for its
promised payment date or its total reward. Free text only where nothing else fits; every
step ends in *Confirmar*/*Cancelar* and nothing changes before *Confirmar*. The draft waits
in the database (``operation_edits``, what was typed sealed, M-07), so a restart of the bot
in the middle loses nothing.

The chat face of ``ClaimAdminService``, the service ``chaski operations add|edit`` uses: one
mechanism, two doors; the domain refuses a total below the claims' promised shares. Every
press and every typed value is judged again by the one authorization check (M-04): a
coordinator's press (forged, or an administrator demoted since the list was sent) is refused,
audited and counted (T-11) and gets "menu expired" (T-10), and a draft of theirs is forgotten.
Replies carry labels and amounts, so they go through ``send_sensitive`` (protected and
deleted after a few minutes, M-10, M-11); the administrator's typed value is deleted at once.
"""

from __future__ import annotations

import re
from gettext import NullTranslations
from html import escape

from telegram import InlineKeyboardMarkup, Update

from bot.domain.claims import (
    ClaimRefused,
    DraftProblem,
    DraftRefused,
    OperationDraft,
    OperationStep,
    Rule,
)
from bot.domain.errors import NotAllowed
from bot.domain.models import Member, Operation, Role
from bot.domain.pin import PinPass, PinRule
from bot.domain.registrations import REGION_EDIT_LIFETIME, EditWait
from bot.i18n import format_date, format_money
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.transport import send

_ID = r"([1-9][0-9]{0,17})"
NEW_DATA = "mops:new"
EDIT_DATA = re.compile(rf"mops:e:{_ID}")
FIELD_DATA = re.compile(rf"mops:f:(pay|tot):{_ID}")
REGION_DATA = re.compile(rf"mops:rg:{_ID}")
NO_DATE_DATA = "mops:nodate"
CONFIRM_DATA = "mops:ok"
CANCEL_DATA = "mops:no"
_FIELDS = {"pay": OperationStep.PAY_BY, "tot": OperationStep.TOTAL}
#: A label in a button is cut to this many characters (the message above names it whole).
_BUTTON_LABEL = 24


#: How long a draft waits for its next step, in the minutes the member is told.
_LIFETIME_MINUTES = int(REGION_EDIT_LIFETIME.total_seconds()) // 60


def _short(label: str) -> str:
    return label if len(label) <= _BUTTON_LABEL else label[: _BUTTON_LABEL - 1] + "…"


def operations_keyboard(t: NullTranslations, operations: list[Operation]) -> InlineKeyboardMarkup:
    """The buttons under the list of operations: one *Editar …* per operation, then
    *Nueva operación* (``handlers.members_admin`` sends the list)."""
    # Translators: botón de la lista de operaciones de /miembros; {label} es el nombre de la
    # operación (recortado). ≤ 32 caracteres.
    edit = t.pgettext("botón", "Editar {label}")
    rows = [[(edit.format(label=_short(op.label)), f"mops:e:{op.id}")] for op in operations]
    # Translators: botón de la lista de operaciones de /miembros; ≤ 20 caracteres.
    rows.append([(t.pgettext("botón", "Nueva operación"), NEW_DATA)])
    return send.callback_keyboard(rows)


def _confirm_keyboard(t: NullTranslations) -> InlineKeyboardMarkup:
    return send.callback_keyboard(
        [
            [
                (t.pgettext("botón", "Confirmar"), CONFIRM_DATA),
                (t.pgettext("botón", "Cancelar"), CANCEL_DATA),
            ]
        ]
    )


def _problem_text(t: NullTranslations, problem: DraftProblem) -> str:
    texts = {
        # Translators: /miembros: el nombre de operación escrito no sirve (vacío, largo, raro).
        DraftProblem.BAD_LABEL: t.gettext(
            "Nada cambió: ese nombre no sirve. Escribe una sola línea de como mucho 200"
            " caracteres."
        ),
        # Translators: /miembros: el monto escrito no es un monto en soles.
        DraftProblem.BAD_AMOUNT: t.gettext(
            "Nada cambió: escribe el monto en soles con punto para los céntimos, por ejemplo"
            " 1500 o 1500.50."
        ),
        # Translators: /miembros: la fecha escrita no es una fecha válida.
        DraftProblem.BAD_DATE: t.gettext(
            "Nada cambió: escribe la fecha como día/mes/año, por ejemplo 31/12/2026."
        ),
        # Translators: /miembros: en este paso se elige con los botones, no escribiendo.
        DraftProblem.USE_BUTTONS: t.gettext("Nada cambió: elige con los botones del mensaje."),
        # Translators: /miembros: se pulsó un botón de una operación que ya no espera.
        DraftProblem.NOTHING_PENDING: t.gettext(
            "Nada cambió: no hay ninguna operación esperando. Escribe /miembros."
        ),
        # Translators: /miembros: la operación o la región ya no existe.
        DraftProblem.GONE: t.gettext(
            "Nada cambió: esa operación o esa región ya no existe. Escribe /miembros."
        ),
        # Translators: /miembros: otra operación ya tiene ese nombre.
        DraftProblem.LABEL_TAKEN: t.gettext(
            "Nada cambió: ya existe una operación con ese nombre."
        ),
        # Translators: /miembros: se pulsó un botón de una operación empezada hace más de
        # {minutes} minutos; se canceló.
        DraftProblem.EXPIRED: t.gettext(
            "Nada cambió: lo que empezaste en Operaciones esperó más de {minutes} minutos y se"
            " canceló. Empieza otra vez con /miembros."
        ).format(minutes=_LIFETIME_MINUTES),
    }
    return texts[problem]


def _rule_text(t: NullTranslations, rule: Rule) -> str:
    """Why the domain refused a total: below the claims' shares, else an amount out of range
    (the typed amount is checked before, so this is what a change meanwhile can break)."""
    if rule is Rule.BELOW_SHARES:
        # Translators: /miembros: la nueva recompensa total de una operación es menor que la
        # suma de lo ya prometido a sus reclamos.
        return t.gettext(
            "Nada cambió: la recompensa total no puede ser menor que lo ya prometido a los"
            " reclamos de esta operación."
        )
    return _problem_text(t, DraftProblem.BAD_AMOUNT)


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def on_button(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
    """Every ``mops:`` button; the service re-checks the administrator each time (M-04)."""
    del pin
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    t = context.catalogs.for_lang(member.lang)
    try:
        if not await _dispatch(context, member, chat.id, data):
            await menu_expired(update, context, member, chat.id)
            return
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    except DraftRefused as refused:
        await send.send_sensitive(context, member, chat.id, _problem_text(t, refused.problem))
    except ClaimRefused as refused:
        await send.send_sensitive(context, member, chat.id, _rule_text(t, refused.rule))
    await send.answer_callback(context, query.id)


async def _dispatch(context: BotContext, actor: Member, chat_id: int, data: str) -> bool:
    """Run the button ``data`` names; False for one this module does not know.

    Raises:
        NotAllowed: the service refused ``actor`` (audited). DraftRefused, ClaimRefused.
    """
    service = context.services.claims_admin
    if data == CANCEL_DATA:
        await service.drop_operation_draft(actor.id)
        t = context.catalogs.for_lang(actor.lang)
        await send.send_text(context, chat_id, t.gettext("Cancelado; nada cambió."))
    elif data == NEW_DATA:
        await service.start_operation_by(actor, None)
        await _ask_next(context, actor, chat_id, OperationDraft(None, OperationStep.LABEL))
    elif data == NO_DATE_DATA:
        await _ask_next(context, actor, chat_id, await service.skip_pay_by_by(actor))
    elif data == CONFIRM_DATA:
        await _confirm(context, actor, chat_id)
    elif match := EDIT_DATA.fullmatch(data):
        await _offer_fields(context, actor, chat_id, int(match[1]))
    elif match := FIELD_DATA.fullmatch(data):
        field = _FIELDS[match[1]]
        operation = await service.start_operation_by(actor, int(match[2]), field)
        draft = OperationDraft(int(match[2]), field, field=field)
        await _ask_next(context, actor, chat_id, draft, operation)
    elif match := REGION_DATA.fullmatch(data):
        draft = await service.choose_operation_region_by(actor, int(match[1]))
        await _ask_next(context, actor, chat_id, draft)
    else:
        return False
    return True


async def _offer_fields(context: BotContext, actor: Member, chat_id: int, op_id: int) -> None:
    """*Editar …*: which field to correct (checked now, so a refused actor sees no label)."""
    operation = await context.services.claims_admin.operation_by(actor, op_id)
    t = context.catalogs.for_lang(actor.lang)
    # Translators: /miembros: qué cambiar de una operación; {label} es su nombre.
    text = t.gettext("¿Qué quieres cambiar de la operación {label}?").format(
        label=escape(operation.label)
    )
    keyboard = send.callback_keyboard(
        [
            # Translators: botón: cambiar la fecha de pago prometida; ≤ 30 caracteres.
            [(t.pgettext("botón", "Fecha de pago prometida"), f"mops:f:pay:{op_id}")],
            # Translators: botón: cambiar la recompensa total ofrecida; ≤ 30 caracteres.
            [(t.pgettext("botón", "Recompensa total"), f"mops:f:tot:{op_id}")],
            [(t.pgettext("botón", "Cancelar"), CANCEL_DATA)],
        ]
    )
    await send.send_sensitive(context, actor, chat_id, text, reply_markup=keyboard)


def _no_date_keyboard(t: NullTranslations) -> InlineKeyboardMarkup:
    return send.callback_keyboard(
        [
            [
                # Translators: botón: la operación no tiene fecha de pago prometida.
                (t.pgettext("botón", "Sin fecha"), NO_DATE_DATA),
                (t.pgettext("botón", "Cancelar"), CANCEL_DATA),
            ]
        ]
    )


async def _ask_next(
    context: BotContext,
    actor: Member,
    chat_id: int,
    draft: OperationDraft,
    operation: Operation | None = None,
) -> None:
    """Ask for what ``draft`` waits for next, or for the confirmation."""
    t = context.catalogs.for_lang(actor.lang)
    cancel = send.callback_keyboard([[(t.pgettext("botón", "Cancelar"), CANCEL_DATA)]])
    label = escape(operation.label if operation else draft.label or "")
    markup: InlineKeyboardMarkup | None = cancel
    if draft.step is OperationStep.CONFIRM:
        text, markup = _question(t, actor, draft), _confirm_keyboard(t)
    elif draft.step is OperationStep.LABEL:
        # Translators: /miembros pide escribir el nombre de una operación nueva.
        text = t.gettext(
            "Escribe el nombre de la nueva operación (una línea, como mucho 200 caracteres)."
        )
    elif draft.step is OperationStep.REGION:
        regions = await context.services.registrations.region_counts_by(actor)
        rows = [[(region.name, f"mops:rg:{region.id}")] for region, *_ in regions]
        rows.append([(t.pgettext("botón", "Cancelar"), CANCEL_DATA)])
        markup = send.callback_keyboard(rows)
        # Translators: /miembros: elegir la región de la operación nueva; {label} su nombre.
        text = t.gettext("¿En qué región fue la operación {label}?").format(label=label)
    elif draft.step is OperationStep.TOTAL:
        # Translators: /miembros pide escribir la recompensa total ofrecida por la operación.
        text = t.gettext(
            "Escribe la recompensa total ofrecida por la operación {label}, en soles con punto"
            " para los céntimos (por ejemplo 2000000 o 1500.50)."
        ).format(label=label)
    else:
        # Translators: /miembros pide escribir la fecha de pago prometida de la operación.
        text = t.gettext(
            "Escribe la fecha de pago prometida de la operación {label}, por ejemplo"
            " 31/12/2026, o elige «Sin fecha»."
        ).format(label=label)
        markup = _no_date_keyboard(t)
    await send.send_sensitive(context, actor, chat_id, text, reply_markup=markup)


def _question(t: NullTranslations, actor: Member, draft: OperationDraft) -> str:
    """The confirmation question of a draft at ``CONFIRM``."""
    label = escape(draft.label or "")
    total = format_money(draft.total_cents or 0, actor.lang)
    day = format_date(draft.pay_by, actor.lang) if draft.pay_by else None
    if draft.operation_id is None and day is not None:
        # Translators: confirmación de una operación nueva en /miembros.
        return t.gettext(
            "¿Crear la operación {label} en {region}, con una recompensa total de {total} y"
            " pago prometido para el {date}?"
        ).format(label=label, region=escape(draft.region or ""), total=total, date=day)
    if draft.operation_id is None:
        # Translators: confirmación de una operación nueva, sin fecha de pago prometida.
        return t.gettext(
            "¿Crear la operación {label} en {region}, con una recompensa total de {total} y"
            " sin fecha de pago prometida?"
        ).format(label=label, region=escape(draft.region or ""), total=total)
    if draft.field is OperationStep.TOTAL:
        # Translators: confirmación en /miembros: nueva recompensa total de una operación.
        return t.gettext("¿Cambiar la recompensa total de la operación a {total}?").format(
            total=total
        )
    if day is not None:
        # Translators: confirmación en /miembros: nueva fecha de pago prometida.
        return t.gettext("¿Cambiar la fecha de pago prometida de la operación al {date}?").format(
            date=day
        )
    # Translators: confirmación en /miembros: quitar la fecha de pago prometida.
    return t.gettext("¿Quitar la fecha de pago prometida de la operación?")


async def _confirm(context: BotContext, actor: Member, chat_id: int) -> None:
    draft, operation, changed = await context.services.claims_admin.confirm_operation_by(actor)
    t = context.catalogs.for_lang(actor.lang)
    label = escape(operation.label)
    if draft.operation_id is None:
        # Translators: resultado de /miembros; {label} es la operación nueva.
        text = t.gettext("Operación {label} creada (registrado en la auditoría).")
    elif changed:
        # Translators: resultado de /miembros; {label} es la operación corregida.
        text = t.gettext("Operación {label} corregida (registrado en la auditoría).")
    else:
        # Translators: /miembros: la operación ya tenía ese valor; no se registró nada.
        text = t.gettext("Nada cambió: la operación {label} ya tenía ese valor.")
    await send.send_sensitive(context, actor, chat_id, text.format(label=label))


async def typed_text(update: Update, context: BotContext, member: Member) -> bool:
    """A plain text that is no menu button: what this member was asked for, if an operation
    draft of theirs waits (False: not ours, the caller answers).

    A draft that waited past its lifetime is dropped, the member told that their text was
    not used, and the text goes on to the normal answer, as for a region name.
    """
    state = await context.services.claims_admin.operation_draft_state(member.id)
    if state is EditWait.NONE:
        return False
    message, chat = update.effective_message, update.effective_chat
    if state is EditWait.EXPIRED:
        if chat is not None:
            t = context.catalogs.for_lang(member.lang)
            # Translators: /miembros: un texto llegó después de {minutes} minutos de espera
            # de un dato de una operación; no se usó.
            text = t.gettext(
                "Lo que empezaste en Operaciones esperó más de {minutes} minutos y se canceló:"
                " tu mensaje no se usó."
            ).format(minutes=_LIFETIME_MINUTES)
            await send.send_sensitive(context, member, chat.id, text)
        return False
    if message is not None and chat is not None:
        # Deleted before the PIN gate too (M-10): a total of PIN length passed ``PinText``
        # only because this step waits for it, and must not stay if a PIN is asked first.
        await send.delete_now(context, chat.id, message.message_id)
    await operation_text.run(update, context, member)
    return True


@requires(Role.COORDINATOR, Role.ADMIN, pin=PinRule.ACTION)
async def operation_text(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """The typed label, total or date (deleted already by ``typed_text``, M-10): judged again
    (a demoted administrator's draft is refused and forgotten, M-04, T-11), checked, then
    the next step is asked; nothing changes before *Confirmar*."""
    del pin
    message, chat = update.effective_message, update.effective_chat
    if message is None or chat is None:
        return
    t = context.catalogs.for_lang(member.lang)
    try:
        draft = await context.services.claims_admin.type_operation_by(member, message.text or "")
    except NotAllowed:
        await menu_expired(update, context, member, chat.id)
        return
    except DraftRefused as refused:
        await send.send_sensitive(context, member, chat.id, _problem_text(t, refused.problem))
        return
    except ClaimRefused as refused:
        await send.send_sensitive(context, member, chat.id, _rule_text(t, refused.rule))
        return
    await _ask_next(context, member, chat.id, draft)
