"""``/estado`` and the *Mis trámites* button: the member's claims and their histories.

Both replies carry claim data, so they go through ``send_sensitive`` (persisted deletion after
``delete_after``, M-10). History buttons carry only an opaque claim id that is re-authorized on
every press (M-04, T-10): another member's id, garbage or a stale button gets "menu expired".

The list is one message, a page of a few claims, with *previous* / *next* buttons that edit
that message in place (issue #14.8): an informant with thousands of claims gets one message,
not one per 4096 characters (Telegram allows about one message a second to one chat). The
page message keeps the deletion scheduled when it was sent.

The PIN is declared with the roles (``PinRule.DATA``): nothing here runs before the PIN service
let the update through, and the use cases take its pass, so claim data is read only then and
the duress PIN's decoy is decided by the claim service, not here (M-05, M-13b).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from gettext import NullTranslations

from telegram import InlineKeyboardMarkup, Update

from bot.domain.errors import NotAllowed, NotFound
from bot.domain.models import Claim, Lang, Member, Role
from bot.domain.notices import ClaimUpdated
from bot.domain.pin import PinPass, PinRule, Resume
from handlers.access import ALL_ROLES, menu_expired, not_available, requires
from handlers.context import BotContext
from handlers.notifier import Rendered
from handlers.render import ClaimPage, render_claim_page, render_history
from handlers.transport import send

#: ``claim:history:<id>``: a positive integer of at most 18 digits (fits SQLite's INTEGER).
HISTORY_DATA = re.compile(r"claim:history:([1-9][0-9]{0,17})")
#: ``claim:page:<n>``: a page of the claim list, from 0 (at most 6 digits).
PAGE_DATA = re.compile(r"claim:page:(0|[1-9][0-9]{0,5})")


def history_keyboard(
    t: NullTranslations, claims: Sequence[Claim], page: ClaimPage | None = None
) -> InlineKeyboardMarkup:
    """One history button per claim shown in a message (the label translated once), then
    *previous* / *next* when the list has more than one page."""
    # Translators: botón bajo un reclamo que abre su historial; {reference} es un código
    # como R-2016-0007. ≤ 20 caracteres.
    label = t.pgettext("botón", "Ver {reference}")
    rows = [
        [(label.format(reference=claim.reference), f"claim:history:{claim.id}")]
        for claim in claims
    ]
    if page is not None and page.count > 1:
        moves: list[tuple[str, str]] = []
        if page.number > 0:
            # Translators: botón a la página anterior de la lista de trámites; ≤ 20 caracteres.
            moves.append((t.pgettext("botón", "◀ Anterior"), f"claim:page:{page.number - 1}"))
        if page.number < page.count - 1:
            # Translators: botón a la página siguiente de la lista de trámites; ≤ 20 caracteres.
            moves.append((t.pgettext("botón", "Siguiente ▶"), f"claim:page:{page.number + 1}"))
        rows.append(moves)
    return send.callback_keyboard(rows)


@requires(Role.INFORMANT, pin=PinRule.DATA, resume=Resume.CLAIMS)
async def status_command(
    update: Update, context: BotContext, member: Member, pin_pass: PinPass
) -> None:
    """``/estado`` and *Mis trámites*: the member's own claims, one page (informants only;
    the service re-checks with ``authorize``, M-04; other roles get "not available", T-13)."""
    chat = update.effective_chat
    if chat is None:
        return
    services = context.services
    try:
        claims = await services.claims.list_for(member, pin_pass)
    except NotAllowed:
        await not_available(context, member, chat.id)
        return
    # A decoy list is the real empty state: same render, same send path (M-13b, T-17).
    t = context.catalogs.for_lang(member.lang)
    page = render_claim_page(
        t, member.lang, member.codename, claims, services.clock.today(), number=0
    )
    # A page can hold only the rest of a claim cut across messages (#11.10): it still moves.
    markup = history_keyboard(t, page.claims, page) if page.claims or page.count > 1 else None
    await send.send_sensitive(context, member, chat.id, page.text, reply_markup=markup)


async def _turn_page(
    update: Update, context: BotContext, member: Member, pin_pass: PinPass, number: int
) -> None:
    """``claim:page:<n>``: show page ``n`` in the message whose button was pressed."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None or query.message is None:
        return
    services = context.services
    try:
        claims = await services.claims.page_of(member, pin_pass)
    except (NotAllowed, NotFound):
        await menu_expired(update, context, member, chat.id)
        return
    await send.answer_callback(context, query.id)
    t = context.catalogs.for_lang(member.lang)
    page = render_claim_page(
        t, member.lang, member.codename, claims, services.clock.today(), number=number
    )
    keyboard = history_keyboard(t, page.claims, page) if page.claims or page.count > 1 else None
    await send.edit_text(
        context, chat.id, query.message.message_id, page.text, reply_markup=keyboard
    )


@requires(*ALL_ROLES, pin=PinRule.DATA)
async def on_claim_button(
    update: Update, context: BotContext, member: Member, pin_pass: PinPass
) -> None:
    """``claim:history:<id>``: the claim's visible history, if it is the member's to see;
    ``claim:page:<n>``: another page of the member's list."""
    query, chat = update.callback_query, update.effective_chat
    if query is None or chat is None:
        return
    data = query.data if isinstance(query.data, str) else ""
    if (turn := PAGE_DATA.fullmatch(data)) is not None:
        await _turn_page(update, context, member, pin_pass, int(turn[1]))
        return
    match = HISTORY_DATA.fullmatch(data)
    if match is None:
        await menu_expired(update, context, member, chat.id)
        return
    services = context.services
    # Read (and, for staff, audited as seen) only now that it will be shown (#11.10).
    try:
        claim, events = await services.claims.history(member, int(match[1]), pin_pass)
    except NotFound:
        await menu_expired(update, context, member, chat.id)
        return
    await send.answer_callback(context, query.id)
    t = context.catalogs.for_lang(member.lang)
    for text in render_history(t, member.lang, services.clock.tz, claim, events):
        await send.send_sensitive(context, member, chat.id, text)


def render_claim_news(t: NullTranslations, lang: Lang, notice: ClaimUpdated) -> Rendered:
    """The push after a coordinator changed one of the informant's claims (issue #16.4).

    Nothing on a lock screen or in a seized phone's chat tells of rewards or amounts (M-02,
    T-22): the details are shown only when the informant opens *Mis trámites* (after the
    PIN if they set one). One push stands for every change of a short while (the outbox
    merges them), hence the plural.
    """
    del lang, notice
    # Translators: aviso en la pantalla bloqueada tras un cambio en un trámite: nada que
    # delate recompensas, policía ni montos. «El menú» es el botón «Mis trámites».
    return Rendered(t.gettext("Tienes novedades. Abre el menú."))
