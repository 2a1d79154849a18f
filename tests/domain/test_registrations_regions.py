"""Region rules of the chat's region steps (issue #16.3): a typed name of digits only is
never a name (T-54), a region change expires, a removal button names the region it asked
about."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.domain.registrations import (
    REGION_EDIT_LIFETIME,
    RegionEdit,
    RegionUsage,
    digits_only,
    region_fingerprint,
)

T0 = datetime(2026, 3, 14, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "1",
        "12345",
        "12 34",
        "1234-5678-9012-3",
        "(01) 234.567",
        "١٢٣٤٥",
        "\uff11\uff12\uff13",
        " 7 ",
    ],
)
def test_digits_only_is_any_script_and_ignores_separators(text: str) -> None:
    assert digits_only(text)


@pytest.mark.parametrize("text", ["", "  ", "--", "R03", "Zona 3", "3er sector", "Pichari"])
def test_a_name_with_a_letter_or_without_digits_is_not_digits_only(text: str) -> None:
    assert not digits_only(text)


def test_a_region_change_expires_after_its_lifetime_from_its_last_step() -> None:
    edit = RegionEdit(region_id=None, created_at=T0)
    assert not edit.expired(T0 + REGION_EDIT_LIFETIME - timedelta(seconds=1))
    assert edit.expired(T0 + REGION_EDIT_LIFETIME)
    assert not RegionEdit(region_id=None).expired(T0 + timedelta(days=9))  # not stored yet


def test_usage_is_unused_only_when_nothing_uses_the_region() -> None:
    assert RegionUsage().unused
    assert not RegionUsage(alerts=1).unused
    assert not RegionUsage(members=1).unused


def test_the_fingerprint_changes_with_the_name_only() -> None:
    assert region_fingerprint("Pichari") == region_fingerprint("Pichari")
    assert region_fingerprint("Pichari") != region_fingerprint("pichari")
    assert len(region_fingerprint("Pichari")) == 8
