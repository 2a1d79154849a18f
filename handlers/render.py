"""Pure presentation: claims, histories, help and PIN stops as HTML text in the member's
language.

Nothing here talks to Telegram or the database, so every text can be unit-tested with a
translator, a language and plain data (tests/handlers/test_render.py). Every interpolated value
is ``html.escape``-d (T-25) and every amount or date is formatted by Babel before it reaches a
sentence, so translators only ever see ``{amount}`` and ``{date}``.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from gettext import NullTranslations
from html import escape
from types import MappingProxyType
from typing import TypeVar
from zoneinfo import ZoneInfo

from bot.domain.models import Claim, ClaimEvent, ClaimStatus, Lang, Role
from bot.domain.oversight import OperationsReport, OperationSummary
from bot.domain.pin import PinLockedOut, PinMissing, PinStop
from bot.i18n import N_, format_date, format_datetime, format_money

#: The empty claim list; also what the emergency PIN shows, as /ayuda and /pin_duress promise.
# Translators: lista vacía, y lo que muestra el PIN de emergencia: /ayuda y /pin_duress lo
# citan entre «», así que las tres traducciones deben decir exactamente lo mismo.
EMPTY_CLAIMS = N_("Todavía no tienes trámites.")
#: Telegram's text limit after entity parsing; HTML source is never shorter (telegram-limits.md).
MAX_MESSAGE = 4096
#: A single history note is clipped so one entry can never exceed a message on its own.
MAX_NOTE = 600

_T = TypeVar("_T")


#: Claims per message of ``/estado``: one page a message, paged with buttons and edited in
#: place (issue #14.8), so 4,000 claims are not 138 messages in one second to one chat.
CLAIMS_PER_PAGE = 5
#: Room kept under ``MAX_MESSAGE`` for the "Página 2 de 9" line.
_PAGE_LINE_ROOM = 64
#: Below this many days a delay is told in days, from it on in years and months.
_DAYS_BEFORE_MONTHS = 60


@dataclass(frozen=True, slots=True)
class ClaimPage:
    """One message of a claim list and the claims it shows (each gets a history button).

    ``number`` counts from 0 and ``count`` is how many pages the list has.
    """

    text: str
    claims: tuple[Claim, ...]
    number: int = 0
    count: int = 1


#: Catalogs whose fixed claim texts are kept, translated: the two languages in production, a
#: few more in tests. Only catalog strings are kept, never claim or member data.
_CATALOGS_KEPT = 8


@functools.lru_cache(maxsize=_CATALOGS_KEPT)
def _status_labels(t: NullTranslations) -> Mapping[ClaimStatus, str]:
    """Every status label of one catalog, looked up once (catalogs are read-only once loaded)."""
    return MappingProxyType(
        {
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.REGISTERED: t.pgettext("estado de reclamo", "Registrado"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.UNDER_REVIEW: t.pgettext("estado de reclamo", "En revisión"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.APPROVED: t.pgettext("estado de reclamo", "Aprobado"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.PAYMENT_SCHEDULED: t.pgettext("estado de reclamo", "Pago programado"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.PARTIALLY_PAID: t.pgettext("estado de reclamo", "Pagado en parte"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.PAID: t.pgettext("estado de reclamo", "Pagado"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.REJECTED: t.pgettext("estado de reclamo", "Rechazado"),
            # Translators: [seguridad] estado de un reclamo y de su pago; etiqueta corta.
            ClaimStatus.REOPENED: t.pgettext("estado de reclamo", "Reabierto"),
        }
    )


def status_label(t: NullTranslations, status: ClaimStatus) -> str:
    """The short, translated label of a claim status."""
    return _status_labels(t)[status]


@dataclass(frozen=True, slots=True)
class _ClaimTexts:
    """The fixed sentences of a claim block in one catalog, placeholders still to fill."""

    title: str
    status_lines: Mapping[ClaimStatus, str]  # whole "Estado: …" lines, label escaped
    promised: str
    approved: str
    paid: str
    step_and_date: str
    step: str
    step_date: str


@functools.lru_cache(maxsize=_CATALOGS_KEPT)
def _claim_texts(t: NullTranslations) -> _ClaimTexts:
    """Translate a claim block's sentences once per catalog rather than once per claim."""
    status_line = t.gettext("Estado: {status}")
    return _ClaimTexts(
        # Translators: primera línea de un reclamo. {reference} es un código como R-2016-0007;
        # {operation} el nombre de la operación por la que se prometió la recompensa.
        title=t.gettext("Reclamo <b>{reference}</b> · {operation}"),
        status_lines=MappingProxyType(
            {
                status: status_line.format(status=escape(label))
                for status, label in _status_labels(t).items()
            }
        ),
        # Translators: {amount} ya viene con formato, p. ej. "S/ 150" o "S/ 150.50".
        promised=t.gettext("Monto prometido: {amount}"),
        # Translators: {amount} ya viene con formato, p. ej. "S/ 150" o "S/ 150.50".
        approved=t.gettext("Monto aprobado: {amount}"),
        # Translators: {amount} ya viene con formato, p. ej. "S/ 150" o "S/ 150.50".
        paid=t.gettext("Pagado hasta ahora: {amount}"),
        # Translators: {step} es texto libre de un coordinador; {date} una fecha como 14/03/2025.
        step_and_date=t.gettext("Próximo paso: {step} ({date})"),
        # Translators: {step} es texto libre escrito por un coordinador.
        step=t.gettext("Próximo paso: {step}"),
        # Translators: {date} es una fecha como 14/03/2025.
        step_date=t.gettext("Fecha del próximo paso: {date}"),
    )


def render_claim(t: NullTranslations, lang: Lang, claim: Claim, today: date) -> str:
    """One claim as a block of lines: reference, operation, status, amounts, delay, next step."""
    texts = _claim_texts(t)
    lines = [
        texts.title.format(
            reference=escape(claim.reference), operation=escape(claim.operation.label)
        ),
        texts.status_lines[claim.status],
        texts.promised.format(amount=format_money(claim.promised_cents, lang)),
    ]
    if claim.approved_cents is not None:
        lines.append(texts.approved.format(amount=format_money(claim.approved_cents, lang)))
    if claim.paid_cents > 0:
        lines.append(texts.paid.format(amount=format_money(claim.paid_cents, lang)))
    overdue = claim.days_overdue(today)
    if overdue > 0 and claim.due_date is not None:
        lines.append(overdue_line(t, claim.due_date, today, overdue))
    lines.extend(_next_step_lines(texts, lang, claim))
    return "\n".join(lines)


def overdue_line(t: NullTranslations, promised: date, today: date, days: int) -> str:
    """How late a payment is: in days for under two months, else in years and months.

    "Pago atrasado 3597 días" asks the reader to divide by 365; "9 años y 10 meses" is
    what a person says (issue #14.8). Months are whole calendar months since the date.
    """
    if days < _DAYS_BEFORE_MONTHS:
        # Translators: [seguridad] la fecha de pago prometida pasó hace {n} días y sigue sin
        # pagarse.
        return t.ngettext("Pago atrasado {n} día.", "Pago atrasado {n} días.", days).format(n=days)
    months = (today.year - promised.year) * 12 + today.month - promised.month
    if today.day < promised.day:
        months -= 1
    years, months = divmod(months, 12)
    if not years:
        # Translators: [seguridad] la fecha de pago prometida pasó hace {n} meses y sigue sin
        # pagarse.
        return t.ngettext("Pago atrasado {n} mes.", "Pago atrasado {n} meses.", months).format(
            n=months
        )
    if not months:
        # Translators: [seguridad] la fecha de pago prometida pasó hace {n} años y sigue sin
        # pagarse.
        return t.ngettext("Pago atrasado {n} año.", "Pago atrasado {n} años.", years).format(
            n=years
        )
    # Translators: parte de "Pago atrasado {years} y {months}.", p. ej. "9 años".
    year_part = t.ngettext("{n} año", "{n} años", years).format(n=years)
    # Translators: parte de "Pago atrasado {years} y {months}.", p. ej. "10 meses".
    month_part = t.ngettext("{n} mes", "{n} meses", months).format(n=months)
    # Translators: {years} es p. ej. "9 años", {months} p. ej. "10 meses": la fecha de pago
    # prometida pasó hace ese tiempo y sigue sin pagarse. Sin la etiqueta [seguridad]: el
    # español al lado llevaría las partes ya traducidas.
    return t.gettext("Pago atrasado {years} y {months}.").format(
        years=year_part, months=month_part
    )


def _next_step_lines(texts: _ClaimTexts, lang: Lang, claim: Claim) -> list[str]:
    if claim.next_step and claim.next_step_date is not None:
        return [
            texts.step_and_date.format(
                step=escape(claim.next_step), date=format_date(claim.next_step_date, lang)
            )
        ]
    if claim.next_step:
        return [texts.step.format(step=escape(claim.next_step))]
    if claim.next_step_date is not None:
        return [texts.step_date.format(date=format_date(claim.next_step_date, lang))]
    return []


def render_claim_list(
    t: NullTranslations, lang: Lang, codename: str, claims: Sequence[Claim], today: date
) -> list[ClaimPage]:
    """The member's claims, split into messages that each fit Telegram's limit."""
    if not claims:
        return [ClaimPage(t.gettext(EMPTY_CLAIMS), ())]
    # Translators: título de la lista de reclamos; {codename} es el seudónimo del miembro.
    header = t.gettext("<b>{codename}</b>, estos son tus reclamos:").format(
        codename=escape(codename)
    )
    blocks = [(render_claim(t, lang, claim, today), claim) for claim in claims]
    return [ClaimPage(text, tuple(chunk)) for text, chunk in _paginate(header, blocks)]


def render_claim_page(
    t: NullTranslations,
    lang: Lang,
    codename: str,
    claims: Sequence[Claim],
    today: date,
    *,
    number: int,
) -> ClaimPage:
    """Page ``number`` (from 0; past the end: the last) of the member's claims.

    A page holds at most ``CLAIMS_PER_PAGE`` claims and always fits one message; with more
    than one page it ends with "Página 2 de 9" and the handler adds the buttons to move.
    """
    if not claims:
        return render_claim_list(t, lang, codename, claims, today)[0]
    # Translators: título de la lista de trámites; {codename} es el seudónimo del miembro.
    header = t.gettext("<b>{codename}</b>, estos son tus reclamos:").format(
        codename=escape(codename)
    )
    chunks: list[tuple[str, list[Claim]]] = []
    for start in range(0, len(claims), CLAIMS_PER_PAGE):
        group = claims[start : start + CLAIMS_PER_PAGE]
        blocks = [(render_claim(t, lang, claim, today), claim) for claim in group]
        chunks.extend(_paginate(header, blocks, MAX_MESSAGE - _PAGE_LINE_ROOM))
    number = max(0, min(number, len(chunks) - 1))
    text, shown = chunks[number]
    if len(chunks) > 1:
        # Translators: última línea de una página de la lista de trámites, p. ej. "Página 2 de 9".
        footer = t.gettext("Página {page} de {pages}").format(page=number + 1, pages=len(chunks))
        text = f"{text}\n\n{footer}"
    return ClaimPage(text, tuple(shown), number, len(chunks))


def render_history(
    t: NullTranslations,
    lang: Lang,
    tz: ZoneInfo,
    claim: Claim,
    events: Sequence[ClaimEvent],
) -> list[str]:
    """A claim's visible history, oldest first, split into messages within the limit."""
    # Translators: título del historial de un reclamo. {reference} es un código como
    # R-2016-0007; {operation} el nombre de la operación.
    header = t.gettext("Historial de <b>{reference}</b> · {operation}").format(
        reference=escape(claim.reference), operation=escape(claim.operation.label)
    )
    if not events:
        return [header + "\n\n" + t.gettext("Todavía no hay cambios registrados.")]
    blocks = [(_event_line(t, lang, tz, event), event) for event in events]
    return [text for text, _ in _paginate(header, blocks)]


def _event_line(t: NullTranslations, lang: Lang, tz: ZoneInfo, event: ClaimEvent) -> str:
    """The day the status took effect when the import said so; else when it was recorded
    (events recorded before ``status_date`` existed, issue #14.8)."""
    if event.effective is not None:
        when = format_date(event.effective, lang)
    else:
        when = format_datetime(event.at, lang, tz)
    line = f"{when} · {escape(status_label(t, event.status))}"
    if event.note:
        note = event.note if len(event.note) <= MAX_NOTE else event.note[: MAX_NOTE - 1] + "…"
        line += "\n" + escape(note)
    return line


def render_pin_locked(t: NullTranslations, until: datetime | None, now: datetime) -> str:
    """A locked PIN: for how many more minutes, or until a coordinator resets it."""
    if until is None:
        # Translators: [seguridad] el PIN quedó bloqueado hasta que el coordinador lo borre.
        return t.gettext("Tu PIN está bloqueado. Pide a tu coordinador que lo restablezca.")
    minutes = max(1, math.ceil((until - now).total_seconds() / 60))
    # Translators: [seguridad] el PIN está bloqueado por {n} minutos más.
    return t.ngettext(
        "Demasiados intentos fallidos. Inténtalo de nuevo en {n} minuto.",
        "Demasiados intentos fallidos. Inténtalo de nuevo en {n} minutos.",
        minutes,
    ).format(n=minutes)


def render_pin_stop(t: NullTranslations, stop: PinStop, now: datetime) -> str:
    """Why a command declared with a PIN rule did not run (``PinService.admit``)."""
    if isinstance(stop, PinMissing):
        return t.gettext("Primero crea tu PIN con /pin.")
    if isinstance(stop, PinLockedOut):
        return render_pin_locked(t, stop.until, now)
    # Translators: [seguridad] pide el PIN; el mensaje del miembro se borra enseguida.
    return t.gettext("Escribe tu PIN. El bot borrará tu mensaje.")


def render_help(t: NullTranslations, role: Role, commands: Sequence[tuple[str, str]]) -> list[str]:
    """``/ayuda`` as two messages: the commands, then the safety rules.

    One message of both was 650-990 characters, several screens on a small phone; apart,
    the safety rules fit on one screen and are not buried under the command list.
    """
    lines = [t.gettext("Esto es lo que puedes hacer:")]
    lines.extend(f"/{command} · {escape(description)}" for command, description in commands)
    return ["\n".join(lines), render_safety_rules(t, role)]


def render_safety_rules(t: NullTranslations, role: Role) -> str:
    """The safety rules a member must know, short enough to read at a glance.

    Informants are told what the emergency PIN shows (quoting the empty claim list, so the
    decoy matches the promise) and what the bot never asks for (A3, A7): a
    leaked token or a rogue coordinator could send "go to the square" or "send your
    location" as the bot, and this onboarding rule is what makes such a message stand out as
    false. All members are told that ``protect_content`` does not stop a photo of the screen
    (M-11).
    """
    lines: list[str] = []
    if role is Role.INFORMANT:
        lines.append(
            # Translators: [seguridad] regla de /ayuda. «Todavía no tienes trámites.» debe ser
            # exactamente la traducción de esa frase (lo que el bot muestra con ese PIN).
            t.gettext(
                "PIN de emergencia (/pin_duress): si alguien te obliga a abrir el bot, escribe"
                " ese PIN. El bot dirá «Todavía no tienes trámites.» y avisará a tu"
                " coordinador sin que se note."
            )
        )
        lines.append("")
        lines.append(
            # Translators: regla de seguridad para informantes en /ayuda; frases cortas.
            t.gettext(
                "El bot nunca te pedirá ir a un lugar, ni tu ubicación, nombres, fotos o dinero."
                " Si un mensaje lo pide, no lo hagas y avisa a tu coordinador."
            )
        )
        lines.append("")
    lines.append(
        t.gettext(
            "Los mensajes con tus datos se borran solos en unos minutos. No se pueden"
            " reenviar, pero sí fotografiar: cuida tu teléfono."
        )
    )
    return "\n".join(lines)


def render_operations_report(
    t: NullTranslations, lang: Lang, report: OperationsReport
) -> list[str]:
    """``/informe``: per operation, then the totals, in messages that each fit Telegram's limit.

    The same figures as ``chaski report operations`` (issue #16.6): informants, promised,
    paid, still owed, overdue claims and the longest delay. Operations are cut into
    messages between whole operations (``_paginate``), one too long alone between its lines,
    never inside an entity or a tag. Labels and regions are typed by operators: escaped.
    """
    # Translators: título de /informe para coordinadores; {date} es la fecha de hoy,
    # p. ej. 14/03/2026.
    header = t.gettext("<b>Informe de operaciones al {date}</b>").format(
        date=format_date(report.today, lang)
    )
    if not report.operations:
        # Translators: /informe cuando las regiones del coordinador no tienen nada.
        return [f"{header}\n\n" + t.gettext("No hay operaciones ni reclamos en tus regiones.")]
    blocks = [
        (_operation_block(t, lang, line, _operation_title(lang, line)), line)
        for line in report.operations
    ]
    count = len(report.operations)
    # Translators: título de los totales al final de /informe; {count} es el número de
    # operaciones.
    title = t.ngettext(
        "<b>Total: {count} operación</b>", "<b>Total: {count} operaciones</b>", count
    ).format(count=count)
    blocks.append((_operation_block(t, lang, report.totals, title), report.totals))
    return [text for text, _ in _paginate(header, blocks)]


def _operation_title(lang: Lang, line: OperationSummary) -> str:
    """``<b>Tornado 2016</b> · Pichari · 20/05/2016``: data only, nothing to translate."""
    parts = [f"<b>{escape(line.label)}</b>", escape(line.region)]
    if line.date is not None:
        parts.append(format_date(line.date, lang))
    return " · ".join(parts)


def _operation_block(t: NullTranslations, lang: Lang, line: OperationSummary, title: str) -> str:
    """One operation (or the totals) of ``/informe``, under ``title``."""
    lines = [
        title,
        # Translators: línea de /informe; {count} es cuántos informantes tienen reclamos en
        # la operación.
        t.gettext("Informantes: {count}").format(count=line.informants),
        # Translators: línea de /informe; los montos ya vienen con formato, p. ej. "S/ 150".
        # «Falta pagar» es lo aprobado (o prometido) que todavía no se pagó.
        t.gettext("Prometido: {promised}. Pagado: {paid}. Falta pagar: {outstanding}.").format(
            promised=format_money(line.promised_cents, lang),
            paid=format_money(line.paid_cents, lang),
            outstanding=format_money(line.outstanding_cents, lang),
        ),
    ]
    if line.overdue:
        # Translators: línea de /informe; {count} reclamos pasaron su fecha de pago sin
        # pagarse, el que más espera lleva {days} días.
        text = t.ngettext(
            "Reclamos atrasados: {count}. Mayor atraso: {days} día.",
            "Reclamos atrasados: {count}. Mayor atraso: {days} días.",
            line.longest_delay_days,
        )
        lines.append(text.format(count=line.overdue, days=line.longest_delay_days))
    else:
        # Translators: línea de /informe cuando ningún reclamo pasó su fecha de pago.
        lines.append(t.gettext("Sin reclamos atrasados."))
    return "\n".join(lines)


def _paginate(
    header: str, blocks: Sequence[tuple[str, _T]], limit: int = MAX_MESSAGE
) -> list[tuple[str, list[_T]]]:
    """Pack blocks into messages of at most ``limit`` units of HTML source, header on the first.

    A block that fits goes whole onto the current message or else the next. One that cannot
    fit, even alone, is cut between its lines, and a line longer than the room left between
    HTML tokens (``_cut_line``), so a cut never falls inside an entity or a tag and no claim
    text is lost: the old cut at ``limit`` characters could leave ``&am`` or ``<b`` at the end
    of a message, which Telegram shows garbled or refuses (issue #11.10, T-25). The item of a
    cut block is listed on every message that shows part of it, so each keeps its button.
    Sizes are of the escaped text in UTF-16 units: never fewer than the characters Telegram
    counts after entity parsing.
    """
    pages: list[tuple[str, list[_T]]] = []
    text, size, items = header, _units(header), list[_T]()
    for block, item in blocks:
        block_size = _units(block)
        whole = block_size + (size + 2 if text else 0) <= limit or (
            bool(items) and block_size <= limit
        )
        listed = False
        for index, line in enumerate([block] if whole else block.split("\n")):
            separator = "\n" if index else "\n\n"
            line_size = _units(line)
            room = limit - size - len(separator) if text else limit
            if text and line_size > room and (line_size <= limit or room < _MIN_CUT_ROOM):
                pages.append((text, items))
                text, size, items, listed, room = "", 0, [], False, limit
            pieces = [line] if line_size <= room else _cut_line(line, limit, room)
            for number, piece in enumerate(pieces):
                if number:
                    pages.append((text, items))
                    text, size, items, listed = "", 0, [], False
                if text:
                    text += separator
                    size += len(separator)
                text += piece
                size += _units(piece)
                if not listed:
                    items.append(item)
                    listed = True
    pages.append((text, items))
    return pages


#: A line too long for any message starts on the current one only with at least this much room
#: (more than any entity or tag our texts contain, with the end tags a cut adds).
_MIN_CUT_ROOM = 64


#: What a long line is cut between: a tag, an entity, or any one other character.
_HTML_TOKEN = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);|.", re.DOTALL)
#: The name of a start or end tag.
_TAG_NAME = re.compile(r"</?([a-zA-Z][a-zA-Z0-9-]*)")


def _units(text: str) -> int:
    """Length in UTF-16 code units, as Telegram counts; the same as ``len`` for most text."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le")) // 2


def _cut_line(line: str, limit: int, first: int) -> list[str]:
    """Cut one HTML line into pieces, the first of at most ``first`` units and the others of at
    most ``limit``, only between whole tokens.

    A tag still open at a cut is closed at the end of its piece and opened again at the start
    of the next, so every piece is valid HTML on its own.
    """
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    opened: list[tuple[str, str]] = []  # (name, start tag) open after ``current``
    for token in _HTML_TOKEN.findall(line):
        after = _after_tag(opened, token)
        closing = sum(len(name) + 3 for name, _ in after)
        token_size = _units(token)
        if current and size + token_size + closing > (limit if pieces else first):
            pieces.append("".join(current) + "".join(f"</{name}>" for name, _ in reversed(opened)))
            current = [start for _, start in opened]
            size = sum(_units(start) for start in current)
        current.append(token)
        size += token_size
        opened = after
    pieces.append("".join(current))
    return pieces


def _after_tag(opened: list[tuple[str, str]], token: str) -> list[tuple[str, str]]:
    """The open tags once ``token`` is read: a start tag pushes, its end tag pops."""
    if not token.startswith("<") or (name := _TAG_NAME.match(token)) is None:
        return opened
    if token.startswith("</"):
        if opened and opened[-1][0] == name[1]:
            return opened[:-1]
        return opened
    return [*opened, (name[1], token)]
