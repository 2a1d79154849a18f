"""PIN normalisation and lockout schedule (M-05, T-15, T-16)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.domain.pin import (
    FIRST_LOCK,
    PinRecord,
    is_weak,
    lock_after_failure,
    needs_reset,
    normalise_pin,
)

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("482916", "482916"),
        ("004829", "004829"),  # leading zeros kept
        ("\uff14\uff18\uff12\uff19\uff11\uff16", "482916"),  # full-width: NFKC
        ("٤٨٢٩١٦", "482916"),  # Arabic-Indic: any decimal digit
        ("۴۸۲۹۱۶", "482916"),  # Extended Arabic-Indic (Persian)
        ("४८२९१६", "482916"),  # Devanagari
        (" 48 29 16\n", "482916"),  # whitespace removed
        ("123456789012", "123456789012"),  # 12 digits
        ("12345", None),
        ("1234567890123", None),
        ("1" * 100, None),
        ("", None),
        ("      ", None),
        ("48291a", None),
        ("-482916", None),
        ("🙂🙂🙂🙂🙂🙂", None),
        ("4️⃣8️⃣2️⃣9️⃣1️⃣6️⃣", None),  # keycap emoji are not digits
        ("48.29.16", None),
    ],
)
def test_pin_normalisation_rule(text: str, expected: str | None) -> None:
    assert normalise_pin(text) == expected


@settings(max_examples=300)
@given(st.text(max_size=80))
def test_normalisation_never_crashes_and_yields_ascii_digits_or_none(text: str) -> None:
    result = normalise_pin(text)
    assert result is None or (result.isascii() and result.isdigit() and 6 <= len(result) <= 12)


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789", min_size=6, max_size=12),
    st.sampled_from(["", " ", "\t", "\u00a0", "\u3000"]),
    st.sampled_from(["0", "\u0660", "\u06f0", "\u0966", "\uff10"]),
)
def test_any_script_and_spacing_gives_the_same_pin(digits: str, gap: str, zero: str) -> None:
    """Digits of one script (zero = its ``0``), spaced anyhow: the same ASCII PIN."""
    typed = gap.join(chr(ord(zero) + int(d)) for d in digits)
    assert unicodedata.decimal(zero) == 0
    assert normalise_pin(typed) == digits


@pytest.mark.parametrize(
    ("pin", "weak"),
    [
        ("111111", True),
        ("123456", True),
        ("890123", True),
        ("654321", True),
        ("482916", False),
        ("774411", False),
        # Dates (issue #14.8): the prompt promises "sin fechas".
        ("150319", True),  # DDMMYY
        ("031519", True),  # MMDDYY
        ("190315", True),  # YYMMDD
        ("290200", True),  # 29 Feb 2000 (a leap year; 1900 was not)
        ("19900315", True),  # YYYYMMDD
        ("15031990", True),  # DDMMYYYY
        ("03151990", True),  # MMDDYYYY
        ("310299", False),  # no 31 February, no month 31
        ("18991231", False),  # outside 1900-2099
        ("1503199", False),  # seven digits: no date form
    ],
)
def test_weak_pins(pin: str, weak: bool) -> None:
    assert is_weak(pin) is weak


def test_lock_schedule_doubles_from_five_and_ten_needs_a_reset() -> None:
    ends = [lock_after_failure(n, NOW) for n in range(11)]
    assert ends[:5] == [None] * 5
    assert [end - NOW for end in ends[5:10] if end] == [FIRST_LOCK * 2**k for k in range(5)]
    assert ends[10] is None
    assert [needs_reset(n) for n in (9, 10, 11)] == [False, True, True]


def test_a_record_reports_the_lock_in_force() -> None:
    record = PinRecord(1, "h", None, 5, NOW + timedelta(minutes=15), False, None, False, None)
    lock = record.locked(NOW)
    assert lock is not None
    assert lock.until == NOW + timedelta(minutes=15)
    assert record.locked(NOW + timedelta(minutes=15)) is None
    reset = PinRecord(1, "h", None, 10, None, True, None, False, None)
    lock = reset.locked(NOW)
    assert lock is not None
    assert lock.until is None
