"""Schedules in chat (issue #15): the tick, check-in answers, reminders, coordinators' tools.

The tick is one row of ``handlers.ticks``; everything it acts on is in the database, so a
missed run (downtime, a busy loop) is caught up by the next one. How the rows look is in
``handlers.schedules_render`` (its renderers are rows of ``handlers.notices``).
"""

from __future__ import annotations

import functools
import gettext
import html
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update

from bot.domain.errors import Conflict, NotAllowed, NotFound, ValidationError
from bot.domain.models import Claim, Lang, Member, Role
from bot.domain.pin import PinPass, PinRule
from bot.domain.schedules import (
    CheckinAnswer,
    CheckinState,
    OccurrenceState,
    Schedule,
    ScheduleKind,
    ScheduleState,
)
from bot.i18n import format_date
from handlers import schedules_render
from handlers.access import menu_expired, requires
from handlers.context import BotContext
from handlers.transport import send

_LOGGER = logging.getLogger(__name__)

#: Every role may be asked to check in (an informant most often, a coordinator in the field).
_ANSWERING = (Role.INFORMANT, Role.COORDINATOR, Role.ADMIN)


async def schedules_tick(context: BotContext) -> None:
    """The schedules tick: due occurrences to the outbox, closed check-in windows reported."""
    await context.services.schedules.tick()


def _parse(data: str | None) -> tuple[CheckinAnswer, int] | None:
    """``chk:safe|help:<occurrence>`` → (answer, occurrence id), or None if malformed."""
    parts = (data or "").split(":")
    if len(parts) != 3 or parts[0] != schedules_render.CHECKIN_CALLBACK:
        return None
    try:
        return CheckinAnswer(parts[1]), int(parts[2])
    except ValueError:
        return None


@requires(*_ANSWERING)
async def on_checkin_button(update: Update, context: BotContext, member: Member) -> None:
    """``chk:safe|help:<occurrence>``: the member answers (idempotent, own check-ins only)."""
    query = update.callback_query
    chat = update.effective_chat
    if query is None or chat is None or query.message is None:
        return
    parsed = _parse(query.data)
    t = context.catalogs.for_lang(member.lang)
    if parsed is None:
        await menu_expired(update, context, member, chat.id)
        return
    answer, occurrence_id = parsed
    try:
        changed = await context.services.checkins.answer_checkin(member, occurrence_id, answer)
    except (NotFound, NotAllowed):
        await menu_expired(update, context, member, chat.id)
        return
    if not changed:
        await send.answer_callback(context, query.id)
        return
    if answer is CheckinAnswer.HELP:
        note = t.gettext("Tu coordinador fue avisado.")
        keyboard = None
    else:
        # Translators: [seguridad] respuesta al botón «Estoy bien» de un control de seguridad.
        note = t.gettext("Respondiste: estás bien. Si algo cambia, toca «Necesito ayuda».")
        # After *Estoy bien* only help stays (things change), as with an alert.
        full = schedules_render.checkin_keyboard(t, str(occurrence_id))
        keyboard = InlineKeyboardMarkup([full.inline_keyboard[1]])
    await send.answer_callback(context, query.id, note)
    original = getattr(query.message, "text_html", "") or ""
    send.edit_later(
        context,
        chat.id,
        query.message.message_id,
        f"{original}\n\n<i>{note}</i>",
        reply_markup=keyboard,
    )


# ---------------------------------------------------------------------- shared


def _local(context: BotContext, when: datetime) -> str:
    """A moment in the programme's time zone, numeric (14/03/2026 19:00) in both languages."""
    return when.astimezone(context.services.clock.tz).strftime("%d/%m/%Y %H:%M")


def _topic_label(t: gettext.NullTranslations, topic: str) -> str:
    labels = {
        # Translators: de qué trata un recordatorio, en la lista /recordatorios.
        "appointment": t.pgettext("recordatorio", "Cita"),
        # Translators: de qué trata un recordatorio, en la lista /recordatorios.
        "document": t.pgettext("recordatorio", "Entrega de documentos"),
        # Translators: de qué trata un recordatorio, en la lista /recordatorios.
        "payment": t.pgettext("recordatorio", "Fecha de pago prometida"),
    }
    return labels.get(topic, "?")


#: Words a coordinator types after /recordar for each topic.
_TOPIC_WORDS = {"cita": "appointment", "documento": "document", "pago": "payment"}


# ---------------------------------------------------------------------- informants


@requires(Role.INFORMANT, pin=PinRule.DATA)
async def reminders_command(
    update: Update, context: BotContext, member: Member, pin: PinPass
) -> None:
    """``/recordatorios``: the informant's upcoming reminders (deleted after a few minutes).

    Behind the PIN like ``/estado``; a duress session sees an empty list (M-13b).
    """
    chat = update.effective_chat
    if chat is None:
        return
    upcoming = await context.services.schedules.upcoming_for(member)
    if pin.decoy:
        upcoming = []
    t = context.catalogs.for_lang(member.lang)
    if not upcoming:
        await send.send_sensitive(
            context, member, chat.id, t.gettext("No tienes recordatorios pendientes.")
        )
        return
    # Translators: encabezado de /recordatorios; debajo, una línea por recordatorio.
    lines = [t.gettext("Tus próximos recordatorios:")]
    for when, topic, event in upcoming:
        # Translators: una línea de /recordatorios. {when} y {event} son fechas con hora
        # (14/03/2026 19:00), {topic} es «Cita», «Entrega de documentos»…
        line = t.gettext("{when}: {topic}, el {event}.")
        lines.append(
            line.format(
                when=_local(context, when),
                topic=html.escape(_topic_label(t, topic)),
                event=_local(context, event),
            )
        )
    await send.send_sensitive(context, member, chat.id, "\n".join(lines))


# ---------------------------------------------------------------------- coordinators

StaffCallback = Callable[[Update, BotContext, Member, int], Coroutine[Any, Any, None]]


def _staff(
    callback: StaffCallback,
) -> Callable[[Update, BotContext], Coroutine[Any, Any, None]]:
    """Coordinators and administrators, inside an open PIN session (M-05), with the chat id."""

    @requires(*_STAFF, pin=PinRule.ACTION)
    @functools.wraps(callback)
    async def wrapper(update: Update, context: BotContext, member: Member, pin: PinPass) -> None:
        del pin  # the PIN decision let it through: a real session (M-05)
        chat = update.effective_chat
        if chat is None:
            return
        await callback(update, context, member, chat.id)

    return wrapper


_STAFF = (Role.COORDINATOR, Role.ADMIN)


def _cancel(t: gettext.NullTranslations) -> InlineKeyboardButton:
    return InlineKeyboardButton(t.pgettext("botón", "Cancelar"), callback_data="sch:no")


@_staff
async def remind_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/recordar CODENAME|REFERENCE AAAA-MM-DD HH:MM cita|documento|pago``: preview, then
    confirm; a claim's reminders reach whoever holds the claim when they fire. With the person
    alone, the date, hour and topic are asked with buttons (``_remind_step``)."""
    t = context.catalogs.for_lang(member.lang)
    args = context.args or []
    # Translators: cómo se usa /recordar. Deja /recordar y las palabras cita, documento y
    # pago tal cual (el bot las reconoce así).
    usage = t.gettext(
        "Escribe: /recordar nombre_clave AAAA-MM-DD HH:MM cita|documento|pago\n"
        "O solo /recordar nombre_clave para elegir el día, la hora y el tema con botones.\n"
        "El bot recordará a la persona un día y dos horas antes."
    )
    if len(args) == 1:
        await _ask_date(context, member, t, chat_id, args[0])
        return
    topic = _TOPIC_WORDS.get(args[3].lower()) if len(args) == 4 else None
    try:
        event = (
            datetime.strptime(f"{args[1]} {args[2]}", "%Y-%m-%d %H:%M").replace(
                tzinfo=context.services.clock.tz
            )
            if topic
            else None
        )
    except ValueError:
        event = None
    if topic is None or event is None:
        await send.send_text(context, chat_id, usage)
        return
    target = await _typed_target(context, member, t, chat_id, args[0])
    if target is None:
        return
    text, markup = _preview(context, t, target, event, topic)
    await send.send_text(context, chat_id, text, reply_markup=markup)


async def _typed_target(
    context: BotContext, member: Member, t: gettext.NullTranslations, chat_id: int, typed: str
) -> Member | Claim | None:
    """The member (by codename) or claim (by reference) typed after /recordar, re-checked
    against the coordinator's regions (M-04); None once the refusal is sent."""
    services = context.services.schedules
    try:
        return await services.member_for(member, typed)
    except NotFound:
        pass
    try:
        return await services.claim_for(member, typed)
    except NotFound:
        # Translators: /recordar con un nombre clave o un código de reclamo que no está
        # en las regiones del coordinador.
        text = t.gettext("No encontré ese nombre clave ni ese reclamo en tus regiones.")
        await send.send_text(context, chat_id, text)
        return None


def _preview(
    context: BotContext,
    t: gettext.NullTranslations,
    target: Member | Claim,
    event: datetime,
    topic: str,
) -> tuple[str, InlineKeyboardMarkup]:
    """What /recordar will store, with *Guardar* (``sch:rem``/``sch:remc``) and *Cancelar*."""
    stamp = event.astimezone(UTC).strftime("%Y%m%d%H%M")
    if isinstance(target, Member):
        data = f"sch:rem:{target.id}:{stamp}:{topic}"
        # Translators: vista previa de /recordar. {codename} es un seudónimo, {event} una
        # fecha con hora (14/03/2026 19:00), {topic} «Cita», «Entrega de documentos»…
        text = t.gettext(
            "Recordatorio para {codename}: {topic}, el {event}. El aviso en su teléfono no"
            " dice de qué se trata. ¿Lo guardo?"
        ).format(
            codename=html.escape(target.codename),
            topic=html.escape(_topic_label(t, topic)),
            event=_local(context, event),
        )
    else:
        data = f"sch:remc:{target.id}:{stamp}:{topic}"
        # Translators: vista previa de /recordar con un código de reclamo. {reference} es un
        # código como R-2016-0007, {event} una fecha con hora, {topic} «Cita»…
        text = t.gettext(
            "Recordatorio para quien tiene el reclamo {reference}: {topic}, el {event}. El"
            " aviso en su teléfono no dice de qué se trata. ¿Lo guardo?"
        ).format(
            reference=html.escape(target.reference),
            topic=html.escape(_topic_label(t, topic)),
            event=_local(context, event),
        )
    confirm = InlineKeyboardButton(t.pgettext("botón", "Guardar"), callback_data=data)
    return text, InlineKeyboardMarkup([[confirm], [_cancel(t)]])


#: Days offered by ``/recordar <person>``: tomorrow and the 13 after (a reminder goes a day
#: before, so today is left to the typed form).
REMINDER_DAYS = 14

#: Times of day offered by ``/recordar <person>`` (office hours; others by the typed form).
REMINDER_HOURS = (8, 9, 10, 11, 12, 14, 15, 16, 17)


def _who(target: Member | Claim) -> tuple[str, str]:
    """``(m|c:<id>, name)``: how a button names the target, and how a text shows it."""
    if isinstance(target, Member):
        return f"m:{target.id}", html.escape(target.codename)
    return f"c:{target.id}", html.escape(target.reference)


def _offered_days(context: BotContext) -> list[date]:
    """The dates ``/recordar <person>`` offers, in CHASKI_TIMEZONE (never today or earlier)."""
    today = context.services.clock.now().astimezone(context.services.clock.tz).date()
    return [today + timedelta(days=n) for n in range(1, REMINDER_DAYS + 1)]


def _day_label(t: gettext.NullTranslations, lang: Lang, day: date) -> str:
    """``sábado 14/03/2026``: the weekday from the catalog, the date formatted by Babel."""
    return f"{_weekday(t, WEEKDAYS[day.weekday()])} {format_date(day, lang)}"


async def _ask_date(
    context: BotContext, member: Member, t: gettext.NullTranslations, chat_id: int, typed: str
) -> None:
    """``/recordar <person>``: the first step of the button form, a date button per day."""
    target = await _typed_target(context, member, t, chat_id, typed)
    if target is None:
        return
    ref, name = _who(target)
    days = [
        InlineKeyboardButton(
            _day_label(t, member.lang, day),
            callback_data=f"sch:rd:{ref}:{day.strftime('%Y%m%d')}",
        )
        for day in _offered_days(context)
    ]
    rows = [days[start : start + 2] for start in range(0, len(days), 2)]
    # Translators: primer paso de /recordar con botones. {name} es un seudónimo o un
    # código de reclamo (R-2016-0007); debajo van botones con fechas.
    text = t.gettext("Recordatorio para {name}: ¿qué día es?").format(name=name)
    await send.send_text(
        context, chat_id, text, reply_markup=InlineKeyboardMarkup([*rows, [_cancel(t)]])
    )


async def _remind_step(
    context: BotContext,
    member: Member,
    *,
    t: gettext.NullTranslations,
    step: str,
    args: Sequence[str],
    show: Show,
) -> None:
    """``/recordar <person>``'s steps: date (``rd``), hour (``rh``), topic (``rk``) → the
    typed form's preview. Everything is in the callback data (as ``/control``), re-checked
    here: the target against the coordinator's regions (M-04), the date against the days
    offered today (a stale or forged date, or a past one, is refused), the hour and topic
    against the buttons' lists."""
    services = context.services.schedules
    if len(args) < 3 or args[0] not in {"m", "c"}:
        raise NotFound("step")
    target: Member | Claim = (
        await services.member_by_id(member, int(args[1]))
        if args[0] == "m"
        else await services.claim_by_id(member, int(args[1]))
    )
    ref, name = _who(target)
    day = date.fromisoformat(args[2])  # YYYYMMDD, as the date buttons spell it
    if day not in _offered_days(context):
        raise NotFound("day")
    when = _day_label(t, member.lang, day)
    if step == "rd":
        rows = [
            [
                InlineKeyboardButton(
                    f"{hour:02d}:00", callback_data=f"sch:rh:{ref}:{args[2]}:{hour}"
                )
                for hour in REMINDER_HOURS[start : start + 3]
            ]
            for start in range(0, len(REMINDER_HOURS), 3)
        ]
        # Translators: segundo paso de /recordar con botones. {name} es un seudónimo o un
        # código de reclamo, {date} un día como «sábado 14/03/2026».
        text = t.gettext("Recordatorio para {name}, el {date}: ¿a qué hora?")
        await show(text.format(name=name, date=when), InlineKeyboardMarkup([*rows, [_cancel(t)]]))
        return
    hour = int(args[3]) if len(args) >= 4 else -1
    if hour not in REMINDER_HOURS:
        raise NotFound("hour")
    if step == "rh":
        rows = [
            [
                InlineKeyboardButton(
                    _topic_label(t, topic), callback_data=f"sch:rk:{ref}:{args[2]}:{hour}:{word}"
                )
            ]
            for word, topic in _TOPIC_WORDS.items()
        ]
        # Translators: tercer paso de /recordar con botones. {name} es un seudónimo o un
        # código de reclamo, {date} un día como «sábado 14/03/2026», {time} una hora (10:00).
        text = t.gettext("Recordatorio para {name}, el {date} a las {time}: ¿de qué se trata?")
        await show(
            text.format(name=name, date=when, time=f"{hour:02d}:00"),
            InlineKeyboardMarkup([*rows, [_cancel(t)]]),
        )
        return
    topic = _TOPIC_WORDS.get(args[4]) if len(args) == 5 else None
    if topic is None:
        raise NotFound("topic")
    event = datetime(day.year, day.month, day.day, hour, tzinfo=context.services.clock.tz)
    await show(*_preview(context, t, target, event, topic))


#: Weekdays as cron rules spell them (names: APScheduler numbers them from Monday).
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

#: Times of day offered for a daily check-in (the common cases; others by the CLI).
CHECKIN_HOURS = (7, 12, 18, 19, 20, 21)


@_staff
async def checkin_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/control``: a daily safety check-in for a region: region, hour, confirm."""
    t = context.catalogs.for_lang(member.lang)
    regions = await context.services.schedules.regions_for(member)
    if not regions:
        await send.send_text(context, chat_id, t.gettext("No tienes regiones asignadas."))
        return
    rows = [
        [InlineKeyboardButton(region.name, callback_data=f"sch:cr:{region.id}")]
        for region in regions
    ]
    # Translators: primer paso de /control (control de seguridad diario).
    text = t.gettext("¿Para qué región es el control de seguridad diario?")
    await send.send_text(
        context, chat_id, text, reply_markup=InlineKeyboardMarkup([*rows, [_cancel(t)]])
    )


def _rule_text(t: gettext.NullTranslations, context: BotContext, schedule: Schedule) -> str:
    """``cada día a las 19:00``, ``el 14/03/2026 19:00`` or the cron rule itself."""
    if schedule.run_at is not None:
        # Translators: cuándo sale algo programado una sola vez; {when} es fecha y hora.
        return t.gettext("el {when}").format(when=_local(context, schedule.run_at))
    fields = (schedule.cron or "").split()
    if len(fields) == 5 and fields[2:4] == ["*", "*"] and all(f.isdigit() for f in fields[:2]):
        time = f"{int(fields[1]):02d}:{int(fields[0]):02d}"
        if fields[4] == "*":
            # Translators: algo programado todos los días; {time} es una hora como 19:00.
            return t.gettext("cada día a las {time}").format(time=time)
        if fields[4] in WEEKDAYS:
            # Translators: algo programado una vez por semana; {weekday} es un día como
            # «lunes», {time} una hora como 19:00.
            return t.gettext("cada {weekday} a las {time}").format(
                weekday=_weekday(t, fields[4]), time=time
            )
    # Translators: una regla de repetición escrita en formato cron (p. ej. 0 19 * * 1).
    return t.gettext("regla {rule}").format(rule=html.escape(schedule.cron or ""))


def _kind_label(t: gettext.NullTranslations, schedule: Schedule) -> str:
    if schedule.kind is ScheduleKind.CHECKIN:
        # Translators: tipo de algo programado, en /programados.
        return t.pgettext("programado", "Control de seguridad")
    if schedule.kind is ScheduleKind.DIGEST:
        # Translators: tipo de algo programado, en /programados.
        return t.pgettext("programado", "Resumen diario")
    # Translators: tipo de algo programado, en /programados.
    return t.pgettext("programado", "Recordatorio")


def _summary(t: gettext.NullTranslations, context: BotContext, schedule: Schedule) -> str:
    """One line: number, kind, rule, and whether it is paused."""
    line = f"n.º {schedule.id}: {_kind_label(t, schedule)}, {_rule_text(t, context, schedule)}"
    if schedule.state is ScheduleState.PAUSED:
        # Translators: marca de algo programado que está en pausa, en /programados.
        line += " — " + t.pgettext("programado", "en pausa")
    return line


@_staff
async def scheduled_command(
    update: Update, context: BotContext, member: Member, chat_id: int
) -> None:
    """``/programados``: what is scheduled in the member's regions, a button for each."""
    t = context.catalogs.for_lang(member.lang)
    found = await context.services.schedules.list_for(member)
    if not found:
        await send.send_text(
            context, chat_id, t.gettext("No hay nada programado en tus regiones.")
        )
        return
    shown = found[:MAX_LISTED]
    # Translators: encabezado de /programados; debajo, una línea por cada cosa programada.
    lines = [t.gettext("Programado en tus regiones:")]
    lines += [_summary(t, context, schedule) for schedule in shown]
    rows = [
        [
            InlineKeyboardButton(
                # Translators: botón para ver una cosa programada; {id} es su número.
                t.pgettext("botón", "Ver n.º {id}").format(id=schedule.id),
                callback_data=f"sch:v:{schedule.id}",
            )
        ]
        for schedule in shown
    ]
    await send.send_text(
        context, chat_id, "\n".join(lines), reply_markup=InlineKeyboardMarkup(rows)
    )


#: Schedules listed (with a button each) in one /programados message.
MAX_LISTED = 30


def _state_label(t: gettext.NullTranslations, state: CheckinState) -> str:
    labels = {
        # Translators: estado de una persona en un control de seguridad.
        CheckinState.CONFIRMED: t.pgettext("control", "Están bien"),
        # Translators: estado de una persona en un control de seguridad.
        CheckinState.NEEDS_HELP: t.pgettext("control", "Piden ayuda"),
        # Translators: estado de una persona en un control de seguridad (pasó el plazo).
        CheckinState.NOT_CONFIRMED: t.pgettext("control", "No confirmaron"),
        # Translators: estado: el mensaje no le llegó (bloqueó el bot o falló el envío).
        CheckinState.UNREACHABLE: t.pgettext("control", "No se pudo llegar"),
        # Translators: estado: el plazo para responder sigue abierto.
        CheckinState.WAITING: t.pgettext("control", "Esperando respuesta"),
    }
    return labels[state]


async def _view(
    context: BotContext, member: Member, t: gettext.NullTranslations, schedule_id: int
) -> tuple[str, InlineKeyboardMarkup]:
    """A schedule with its last occurrences (check-ins: each person's state) and its buttons."""
    services = context.services.schedules
    schedule = await services.get(member, schedule_id)
    lines = [f"<b>{_summary(t, context, schedule)}</b>"]
    if schedule.kind is ScheduleKind.CHECKIN:
        for occurrence, people in await services.checkin_states(member, schedule.id):
            lines.append("")
            lines.append(f"<i>{_local(context, occurrence.due_at)}</i>")
            if occurrence.state is OccurrenceState.EXPIRED:
                # Translators: un control que no salió porque el bot estuvo detenido.
                lines.append(t.gettext("No salió: el bot estuvo detenido."))
            elif occurrence.state is OccurrenceState.NO_RECIPIENT:
                # Translators: un control que no tenía a quién enviarse.
                lines.append(t.gettext("No había a quién enviarlo."))
            for state in CheckinState:
                names = sorted(p.codename for p in people if p.state is state)
                if names:
                    lines.append(f"{_state_label(t, state)}: {html.escape(', '.join(names))}")
    buttons = []
    if schedule.state is ScheduleState.ACTIVE:
        buttons.append(
            InlineKeyboardButton(
                t.pgettext("botón", "Pausar"), callback_data=f"sch:p:{schedule.id}"
            )
        )
    else:
        buttons.append(
            InlineKeyboardButton(
                t.pgettext("botón", "Reanudar"), callback_data=f"sch:r:{schedule.id}"
            )
        )
    buttons.append(
        InlineKeyboardButton(t.pgettext("botón", "Detener"), callback_data=f"sch:x:{schedule.id}")
    )
    return "\n".join(lines), InlineKeyboardMarkup([buttons])


async def _press(update: Update, context: BotContext, member: Member, chat_id: int) -> None:
    """Every coordinator button of this feature: ``sch:<step>:<args>``, re-checked inside."""
    query = update.callback_query
    if query is None or query.message is None:
        return
    message_id = query.message.message_id
    parts = (query.data or "").split(":")
    t = context.catalogs.for_lang(member.lang)
    services = context.services.schedules
    step, args = (parts[1] if len(parts) > 1 else ""), parts[2:]

    async def show(text: str, markup: InlineKeyboardMarkup | None = None) -> None:
        """Turn the pressed message into the next step, and stop the button's spinner."""
        await send.edit_text(context, chat_id, message_id, text, reply_markup=markup)
        await send.answer_callback(context, query.id)

    try:
        if step == "no":
            await show(t.gettext("Cancelado."))
        elif step in _FLOWS:
            await _FLOWS[step](context, member, t=t, step=step, args=args, show=show)
        elif step in {"rem", "remc"} and len(args) == 3:
            target: Member | Claim = (
                await services.member_by_id(member, int(args[0]))
                if step == "rem"
                else await services.claim_by_id(member, int(args[0]))
            )
            event = datetime.strptime(args[1], "%Y%m%d%H%M").replace(tzinfo=UTC)
            try:
                created = await services.reminders(member, target, event, args[2])
            except ValidationError:
                await show(t.gettext("Esa fecha ya pasó o está demasiado cerca."))
                return
            # Translators: tras guardar los recordatorios de /recordar; {count} es 1 o 2.
            await show(
                t.ngettext(
                    "Guardado: {count} recordatorio.",
                    "Guardado: {count} recordatorios.",
                    len(created),
                ).format(count=len(created))
            )
        elif step == "ha" and len(args) == 2:
            await _take_help(context, member, t=t, query=query, chat_id=chat_id, args=args)
        elif step == "v" and len(args) == 1:
            await show(*await _view(context, member, t, int(args[0])))
        elif step in {"p", "r"} and len(args) == 1:
            action = services.pause if step == "p" else services.resume
            await action(member, int(args[0]))
            await show(*await _view(context, member, t, int(args[0])))
        elif step == "x" and len(args) == 1:
            sure = InlineKeyboardButton(
                t.pgettext("botón", "Sí, detener"), callback_data=f"sch:xx:{args[0]}"
            )
            # Translators: confirmación antes de detener algo programado; {id} es su número.
            text = t.gettext("¿Detener para siempre el n.º {id}? No se puede deshacer.")
            await show(
                text.format(id=html.escape(args[0])),
                InlineKeyboardMarkup([[sure], [_cancel(t)]]),
            )
        elif step == "xx" and len(args) == 1:
            await services.cancel(member, int(args[0]))
            # Translators: tras detener algo programado; {id} es su número.
            await show(t.gettext("Detenido: n.º {id}.").format(id=html.escape(args[0])))
        else:
            await menu_expired(update, context, member, chat_id)
    except (NotFound, NotAllowed, ValueError, ValidationError):
        await menu_expired(update, context, member, chat_id)


Show = Callable[[str, InlineKeyboardMarkup | None], Awaitable[None]]


async def _take_help(
    context: BotContext,
    member: Member,
    *,
    t: gettext.NullTranslations,
    query: CallbackQuery,
    chat_id: int,
    args: Sequence[str],
) -> None:
    """``sch:ha:<occurrence>:<member>``: take a check-in's help request (as an alert's)."""
    try:
        await context.services.checkins.ack_checkin_help(member, int(args[0]), int(args[1]))
        note = t.gettext("Tú atiendes este pedido de ayuda.")
    except Conflict:
        note = t.gettext("Otra persona ya atiende este pedido de ayuda.")
    # An escalation naming several people keeps the buttons of the others.
    markup = getattr(query.message, "reply_markup", None)
    rest = [
        [b for b in row if b.callback_data != query.data]
        for row in (markup.inline_keyboard if markup else ())
    ]
    rest = [row for row in rest if row]
    original = getattr(query.message, "text_html", "") or ""
    assert query.message is not None  # noqa: S101 - checked by the caller
    await send.edit_text(
        context,
        chat_id,
        query.message.message_id,
        f"{original}\n\n<i>{note}</i>",
        reply_markup=InlineKeyboardMarkup(rest) if rest else None,
    )
    await send.answer_callback(context, query.id)


async def _checkin_step(
    context: BotContext,
    member: Member,
    *,
    t: gettext.NullTranslations,
    step: str,
    args: Sequence[str],
    show: Show,
) -> None:
    """``/control``'s steps: region (``cr``), hour (``ct``), days (``cd``), saved (``cok``)."""
    regions = {r.id: r for r in await context.services.schedules.regions_for(member)}
    region = regions.get(int(args[0])) if args else None
    if region is None:  # not (or no longer) one of the member's regions
        raise NotFound("region")
    if step == "cr":
        rows = [
            [
                InlineKeyboardButton(f"{hour:02d}:00", callback_data=f"sch:ct:{region.id}:{hour}")
                for hour in CHECKIN_HOURS[start : start + 3]
            ]
            for start in range(0, len(CHECKIN_HOURS), 3)
        ]
        # Translators: segundo paso de /control. {region} es el nombre de una región.
        text = t.gettext("Control de seguridad diario en {region}: ¿a qué hora, cada día?")
        await show(
            text.format(region=html.escape(region.name)),
            InlineKeyboardMarkup([*rows, [_cancel(t)]]),
        )
        return
    hour = int(args[1]) if len(args) >= 2 else -1
    if hour not in CHECKIN_HOURS:
        raise NotFound("hour")
    if step == "ct":
        every = InlineKeyboardButton(
            # Translators: botón de /control: el control sale todos los días.
            t.pgettext("botón", "Todos los días"),
            callback_data=f"sch:cd:{region.id}:{hour}:all",
        )
        days = [
            InlineKeyboardButton(
                _weekday(t, day), callback_data=f"sch:cd:{region.id}:{hour}:{day}"
            )
            for day in WEEKDAYS
        ]
        # Translators: tercer paso de /control: todos los días o un día de la semana.
        await show(
            t.gettext("¿Qué días?"),
            InlineKeyboardMarkup([[every], days[:4], days[4:], [_cancel(t)]]),
        )
        return
    day = args[2] if len(args) == 3 else ""
    if day != "all" and day not in WEEKDAYS:
        raise NotFound("day")
    if step == "cd":
        sure = InlineKeyboardButton(
            t.pgettext("botón", "Guardar"), callback_data=f"sch:cok:{region.id}:{hour}:{day}"
        )
        if day == "all":
            # Translators: confirmación de /control. {region} es una región, {time} una hora
            # como 19:00.
            text = t.gettext(
                "Cada día a las {time}, las personas de {region} recibirán «¿estás bien?» con"
                " dos horas para responder. Si alguien no responde, te aviso. ¿Lo guardo?"
            )
        else:
            # Translators: confirmación de /control. {weekday} es un día como «lunes»,
            # {region} una región, {time} una hora como 19:00.
            text = t.gettext(
                "Cada {weekday} a las {time}, las personas de {region} recibirán «¿estás"
                " bien?» con dos horas para responder. Si alguien no responde, te aviso."
                " ¿Lo guardo?"
            )
        await show(
            text.format(
                time=f"{hour:02d}:00",
                region=html.escape(region.name),
                weekday=_weekday(t, day) if day != "all" else "",
            ),
            InlineKeyboardMarkup([[sure], [_cancel(t)]]),
        )
        return
    schedule = await context.services.schedules.daily_checkin(
        member, region.name, hour, weekday=None if day == "all" else day
    )
    # Translators: tras guardar un control de seguridad diario; {id} es su número.
    await show(
        t.gettext("Guardado: control de seguridad n.º {id}. Míralo con /programados.").format(
            id=schedule.id
        ),
        None,
    )


def _weekday(t: gettext.NullTranslations, day: str) -> str:
    """A weekday's name (``mon`` … ``sun``, as cron rules spell them)."""
    names = {
        # Translators: día de la semana, en minúscula (va dentro de una frase y en botones).
        "mon": t.pgettext("día de la semana", "lunes"),
        # Translators: día de la semana, en minúscula.
        "tue": t.pgettext("día de la semana", "martes"),
        # Translators: día de la semana, en minúscula.
        "wed": t.pgettext("día de la semana", "miércoles"),
        # Translators: día de la semana, en minúscula.
        "thu": t.pgettext("día de la semana", "jueves"),
        # Translators: día de la semana, en minúscula.
        "fri": t.pgettext("día de la semana", "viernes"),
        # Translators: día de la semana, en minúscula.
        "sat": t.pgettext("día de la semana", "sábado"),
        # Translators: día de la semana, en minúscula.
        "sun": t.pgettext("día de la semana", "domingo"),
    }
    return names.get(day, day)


#: The multi-step button flows, by step: ``/control`` and ``/recordar <person>``.
_FLOWS: dict[str, Callable[..., Awaitable[None]]] = {
    **dict.fromkeys(("cr", "ct", "cd", "cok"), _checkin_step),
    **dict.fromkeys(("rd", "rh", "rk"), _remind_step),
}

on_schedule_button = _staff(_press)
"""``sch:…``: the coordinators' schedule buttons (PIN session required, M-05)."""
