"""Validation of admin-entered names and free text (M-09, T-24): NFC, no hidden characters.

Codenames, region names and alert texts are typed by people and shown to others; bidi
controls, zero-width and control characters could disguise them (Trojan Source), and a
codename mixing Latin and Cyrillic letters could impersonate another member.
"""

from __future__ import annotations

import unicodedata

from bot.domain.errors import ValidationError

#: Bidi controls (U+202A-202E, U+2066-2069, U+200E/200F, U+061C) and zero-width characters.
_HIDDEN = frozenset(
    (
        *map(chr, range(0x202A, 0x202F)),
        *map(chr, range(0x2066, 0x206A)),
        *("\u200e", "\u200f", "\u061c", "\u200b", "\u200c", "\u200d", "\u2060", "\ufeff"),
    )
)

#: Categories refused everywhere: controls (C0/C1, incl. CR and U+0085), lone surrogates,
#: invisible format characters (soft hyphen, tag characters U+E0000-E007F, U+180E, U+2061-2064,
#: which _HIDDEN does not list one by one) and the line/paragraph separators U+2028/U+2029
#: (a line break inside a "one-line" name, or in a log line).
_REJECTED = frozenset({"Cc", "Cs", "Cf", "Zl", "Zp"})

MAX_NAME = 64
MAX_TEXT = 4096


def _script(char: str) -> str | None:
    """Coarse script of a letter, from its Unicode name ("LATIN …", "CYRILLIC …")."""
    if not char.isalpha():
        return None
    # A letter without a name in this Python's Unicode database (e.g. Tangut U+17000 on 3.11)
    # still counts: as a script of its own, so it cannot hide among Latin letters.
    name = unicodedata.name(char, "?")
    return name.split(" ", 1)[0]


def clean_text(value: str, *, field: str, max_len: int = MAX_TEXT, multiline: bool = True) -> str:
    """NFC-normalise and reject hidden or control characters.

    Raises:
        ValidationError: empty, too long, or containing a control/bidi/zero-width character.
    """
    text = unicodedata.normalize("NFC", value).strip()
    if not text:
        raise ValidationError(f"{field}: empty")
    if len(text) > max_len:
        raise ValidationError(f"{field}: longer than {max_len} characters")
    for char in text:
        allowed_break = multiline and char == "\n"
        if char in _HIDDEN or (unicodedata.category(char) in _REJECTED and not allowed_break):
            raise ValidationError(
                f"{field}: contains a hidden or control character U+{ord(char):04X}"
            )
    return text


def clean_name(value: str, *, field: str) -> str:
    """A one-line name (codename, region): ``clean_text`` plus one script for all letters.

    Every run of spaces (a no-break space from a spreadsheet too) becomes one plain space:
    ``Atoq  Rojo`` and ``Atoq Rojo`` look alike in a chat and in a list, and were two
    members (#16.3).

    Raises:
        ValidationError: as ``clean_text``, or letters from more than one script.
    """
    text = " ".join(clean_text(value, field=field, max_len=MAX_NAME, multiline=False).split())
    scripts = {script for char in text if (script := _script(char))}
    if len(scripts) > 1:
        raise ValidationError(f"{field}: mixes letters of {len(scripts)} scripts")
    if unicodedata.category(text[0]).startswith("M"):
        raise ValidationError(f"{field}: starts with a combining mark")
    return text
