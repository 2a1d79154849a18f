"""Admin-entered names and texts (M-09, T-24): NFC, no hidden characters, one script.

The Hypothesis properties are the safety net under the examples: whatever an administrator
pastes, ``clean_text``/``clean_name`` either return an NFC string free of every hidden or
control character, or raise ``ValidationError`` (never another exception, T-27).
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.errors import ValidationError
from bot.domain.text import MAX_NAME, MAX_TEXT, clean_name, clean_text

#: Characters that must never survive cleaning (bidi, zero-width, controls, separators).
HIDDEN = (
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",  # RIGHT-TO-LEFT OVERRIDE (Trojan Source)
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
    "\u200b",  # ZWSP
    "\u200c",  # ZWNJ
    "\u200d",  # ZWJ
    "\u2060",  # WORD JOINER
    "\ufeff",  # BOM / ZWNBSP
    "\u00ad",  # SOFT HYPHEN (invisible format character)
    "\u180e",  # MONGOLIAN VOWEL SEPARATOR
    "\u2061",  # FUNCTION APPLICATION (invisible operator)
    "\U000e0041",  # TAG LATIN CAPITAL LETTER A ("ASCII smuggling")
    "\u2028",  # LINE SEPARATOR
    "\u2029",  # PARAGRAPH SEPARATOR
    "\x00",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",  # NEXT LINE (C1)
    "\t",
    "\r",
    "\ud800",  # lone high surrogate
    "\udfff",  # lone low surrogate
)
BANNED_CATEGORIES = {"Cc", "Cf", "Cs", "Zl", "Zp"}


def _is_clean(text: str, *, allow_newline: bool) -> bool:
    return all(
        (char == "\n" and allow_newline)
        or (unicodedata.category(char) not in BANNED_CATEGORIES and char not in HIDDEN)
        for char in text
    )


@pytest.mark.parametrize("char", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
@pytest.mark.parametrize("where", ["start", "middle", "end"])
def test_hidden_characters_are_refused_in_names(char: str, where: str) -> None:
    value = {"start": f"{char}Puma", "middle": f"Pu{char}ma", "end": f"Puma{char}"}[where]
    if char.isspace() and where != "middle":
        # Leading/trailing whitespace (TAB, CR, NEL, U+2028/9) is stripped: just as safe.
        assert clean_name(value, field="codename") == "Puma"
        return
    with pytest.raises(ValidationError, match="codename") as caught:
        clean_name(value, field="codename")
    assert "Puma" not in str(caught.value)  # names the field and code point, never the value


@pytest.mark.parametrize("char", HIDDEN, ids=[f"U+{ord(c):04X}" for c in HIDDEN])
def test_hidden_characters_are_refused_in_multiline_text(char: str) -> None:
    with pytest.raises(ValidationError, match=f"U\\+{ord(char):04X}"):
        clean_text(f"Alerta\n{char}\nfin", field="alert")


def test_error_names_the_code_point_escaped() -> None:
    with pytest.raises(ValidationError) as caught:
        clean_name("Pu\u202ema", field="codename")
    assert str(caught.value) == "codename: contains a hidden or control character U+202E"


def test_newlines_only_in_multiline_text() -> None:
    assert clean_text("línea 1\nlínea 2", field="alert") == "línea 1\nlínea 2"
    with pytest.raises(ValidationError):
        clean_text("línea 1\nlínea 2", field="label", multiline=False)
    with pytest.raises(ValidationError):
        clean_name("Cóndor\n7", field="codename")


def test_crlf_is_refused_in_names_and_text() -> None:
    with pytest.raises(ValidationError):
        clean_name("Cóndor\r\nAdmin", field="codename")
    with pytest.raises(ValidationError):
        clean_text("a\r\nb", field="alert")


def test_nfc_normalisation_composes_combining_accents() -> None:
    assert clean_name("Jose\u0301", field="codename") == "José"
    assert clean_name("e\u0301", field="codename") == "\u00e9"
    assert clean_text("Ayacucho\u0301", field="alert") == unicodedata.normalize(
        "NFC", "Ayacucho\u0301"
    )


def test_surrounding_whitespace_is_stripped() -> None:
    assert clean_name("  Puma-3 ", field="codename") == "Puma-3"


@pytest.mark.parametrize("value", ["", " ", "\n\n", "   \n "])
def test_empty_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="empty"):
        clean_text(value, field="alert")


def test_combining_mark_first_is_refused() -> None:
    with pytest.raises(ValidationError, match="combining mark"):
        clean_name("\u0301Puma", field="codename")
    with pytest.raises(ValidationError, match="combining mark"):
        clean_name(" \u0308x", field="codename")


@pytest.mark.parametrize(
    "value",
    [
        "\u0410na",  # Cyrillic capital A (U+0410) + Latin na: looks like "Ana"
        "P\u0443ma",  # Latin P, Cyrillic small u (U+0443), Latin ma
        "\u0391lpaca",  # Greek Alpha + Latin
        "Cóndor\u03a9",
    ],
)
def test_mixed_script_names_are_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="scripts"):
        clean_name(value, field="codename")


@pytest.mark.parametrize(
    "value", ["Cóndor-7", "Ñusta", "Anna 2", "\u0410\u043d\u043d\u0430", "Wayra_12", "Q'ori"]
)
def test_single_script_names_pass_unchanged(value: str) -> None:
    assert clean_name(value, field="codename") == value


def test_mixed_script_is_allowed_in_free_text() -> None:
    """Broadcast text may quote anything; only names must not impersonate."""
    assert clean_text("\u0410na y Ana", field="alert") == "\u0410na y Ana"


def test_name_length_cap_counts_after_normalisation() -> None:
    assert clean_name("a" * MAX_NAME, field="codename") == "a" * MAX_NAME
    with pytest.raises(ValidationError, match="longer than 64"):
        clean_name("a" * (MAX_NAME + 1), field="codename")
    # 64 decomposed é (128 code points) compose to 64 characters: accepted.
    assert len(clean_name("e\u0301" * MAX_NAME, field="codename")) == MAX_NAME


def test_text_length_cap() -> None:
    assert len(clean_text("x" * MAX_TEXT, field="alert")) == MAX_TEXT
    with pytest.raises(ValidationError, match="longer than 4096"):
        clean_text("x" * (MAX_TEXT + 1), field="alert")
    with pytest.raises(ValidationError, match="longer than 10"):
        clean_text("x" * 11, field="label", max_len=10)


def test_long_value_is_not_echoed() -> None:
    secret = "Operación Tornado " * 300
    with pytest.raises(ValidationError) as caught:
        clean_text(secret, field="label")
    assert "Tornado" not in str(caught.value)


#: Text with a good share of the dangerous characters mixed into arbitrary Unicode,
#: including lone surrogates (Hypothesis' default text excludes category Cs).
DANGEROUS = st.text(
    alphabet=st.one_of(
        st.characters(codec=None, exclude_categories=()),
        st.sampled_from(HIDDEN),
        st.sampled_from(["\u0301", "\u0410", "a", "é", " ", "\n"]),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(value=DANGEROUS, multiline=st.booleans())
def test_clean_text_returns_clean_nfc_or_raises_validation_error(
    value: str, multiline: bool
) -> None:
    try:
        out = clean_text(value, field="f", max_len=60, multiline=multiline)
    except ValidationError:
        return
    assert out
    assert len(out) <= 60
    assert unicodedata.is_normalized("NFC", out)
    assert _is_clean(out, allow_newline=multiline)
    assert out == out.strip()
    assert clean_text(out, field="f", max_len=60, multiline=multiline) == out  # idempotent


@settings(max_examples=300, deadline=None)
@given(value=DANGEROUS)
def test_clean_name_returns_one_line_single_script_nfc_or_raises(value: str) -> None:
    try:
        out = clean_name(value, field="f")
    except ValidationError:
        return
    assert 0 < len(out) <= MAX_NAME
    assert unicodedata.is_normalized("NFC", out)
    assert _is_clean(out, allow_newline=False)
    assert not unicodedata.category(out[0]).startswith("M")
    scripts = {unicodedata.name(char, "?").split(" ", 1)[0] for char in out if char.isalpha()}
    assert len(scripts) <= 1
    assert clean_name(out, field="f") == out
