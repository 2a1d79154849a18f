"""``handlers.transport.send.CallbackKeyboard``: the hand-built JSON is exactly PTB's own."""

from __future__ import annotations

import json

from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from handlers.transport.send import CallbackKeyboard

ROWS = [
    [("Ver R-2016-0007", "claim:history:7")],
    [("Sí, borrar", "wipe:yes"), ("Cancelar <b>&", "wipe:no")],
]


def ptb_markup() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(text, callback_data=data) for text, data in row] for row in ROWS]
    )


def test_wire_form_equals_ptbs() -> None:
    fast = CallbackKeyboard(ROWS)
    assert fast.to_dict() == ptb_markup().to_dict()
    assert json.dumps(fast.to_dict()) == ptb_markup().to_json()


def test_gives_ptbs_own_markup_to_whoever_needs_one() -> None:
    fast = CallbackKeyboard(ROWS)
    assert fast.markup() == ptb_markup()  # PTB compares keyboards by their buttons
    assert fast.markup().inline_keyboard[1][0].callback_data == "wipe:yes"
    assert InlineKeyboardMarkup.de_json(fast.to_dict(), None) == ptb_markup()


def test_request_body_is_the_same_as_with_ptbs_markup() -> None:
    def body(markup: object) -> object:
        data = RequestData([RequestParameter.from_input("reply_markup", markup)])
        return json.loads(data.json_payload)

    assert body(CallbackKeyboard(ROWS).to_dict()) == body(ptb_markup())
