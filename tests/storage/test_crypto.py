"""Field encryption and blind index (M-07, M-20): AAD binding, tamper, rotation, fail closed."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TypedDict

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import BlindIndex, DecryptionError, FieldCipher

OLD, NEW = "0ld0ld00", "new0new0"
KEY_OLD, KEY_NEW = os.urandom(32), os.urandom(32)


class Cell(TypedDict):
    """Where a sealed value lives (the AAD)."""

    table: str
    column: str
    row_id: int


CELL: Cell = {"table": "members", "column": "codename", "row_id": 7}


def _cipher(active: str = OLD, **keys: bytes) -> FieldCipher:
    return FieldCipher(keys or {OLD: KEY_OLD}, active)


def test_round_trip_including_unicode_and_empty() -> None:
    cipher = _cipher()
    for value in ("Cóndor-7", "", "Operación Tornado", "ñ" * 5000, "987654321"):
        assert cipher.open(cipher.seal(value, **CELL), **CELL) == value


def test_ciphertext_carries_the_key_id_and_no_plaintext() -> None:
    cipher = _cipher()
    blob = cipher.seal("Cóndor-7", **CELL)
    assert blob.startswith(OLD.encode())
    assert cipher.key_id_of(blob) == OLD
    assert "Cóndor".encode() not in blob


#: Sealed by the code before ``open`` was optimised: key ``bytes(range(32))`` with id OLD,
#: nonce ``bytes(range(100, 112))``, cell ``CELL``. Stored ciphertexts must keep opening.
STORED = bytes.fromhex(
    "306c64306c6430306465666768696a6b6c6d6e6f0bd86d081d8624b3093b848a34d8ae28e923cb4d03e1874b06"
)


def test_a_stored_ciphertext_still_opens_with_the_same_associated_data() -> None:
    """The AAD is ``chaski|key id|table|column|row id`` in UTF-8, byte for byte."""
    key = bytes(range(32))
    assert FieldCipher({OLD: key}, OLD).open(STORED, **CELL) == "Cóndor-7"
    aad = b"chaski|0ld0ld00|members|codename|7"
    assert AESGCM(key).decrypt(STORED[8:20], STORED[20:], aad) == "Cóndor-7".encode()
    sealed = FieldCipher({OLD: key}, OLD).seal("Cóndor-7", **CELL)
    padded = b"\x00" + "Cóndor-7".encode() + b"\x80"
    assert AESGCM(key).decrypt(sealed[8:20], sealed[20:], aad) == padded.ljust(64, b"\x00")


@pytest.mark.parametrize(
    "values",
    [
        ("1500", "200000000", "0", "99999999999999"),  # amounts in céntimos: any magnitude
        ("Ana", "Kuntur-Wamani-Sur-12", "Cóndor-7"),  # codenames: any short name
        ("R-1", "R-2016-0007-BIS"),  # references
    ],
)
def test_values_of_one_kind_seal_to_one_length(values: tuple[str, ...]) -> None:
    """#11.9: a ciphertext's length tells neither an amount's magnitude nor a name's length."""
    cipher = _cipher()
    lengths = {len(cipher.seal(value, **CELL)) for value in values}
    assert len(lengths) == 1
    assert all(cipher.open(cipher.seal(v, **CELL), **CELL) == v for v in values)


def test_long_texts_pad_to_buckets_that_round_trip() -> None:
    cipher = _cipher()
    short, longer = cipher.seal("a" * 100, **CELL), cipher.seal("a" * 120, **CELL)
    assert len(short) == len(longer)
    for size in (62, 63, 64, 1021, 1022, 1023, 3000):
        assert cipher.open(cipher.seal("q" * size, **CELL), **CELL) == "q" * size


def test_a_padded_plaintext_without_its_end_byte_fails_closed() -> None:
    key = bytes(range(32))
    nonce = bytes(12)
    aad = b"chaski|0ld0ld00|members|codename|7"
    blob = OLD.encode() + nonce + AESGCM(key).encrypt(nonce, b"\x00Puma" + bytes(8), aad)
    with pytest.raises(DecryptionError):
        FieldCipher({OLD: key}, OLD).open(blob, **CELL)


def test_two_seals_of_the_same_value_differ() -> None:
    cipher = _cipher()
    first, second = cipher.seal("Cóndor-7", **CELL), cipher.seal("Cóndor-7", **CELL)
    assert first != second
    assert first[8:20] != second[8:20]  # fresh nonce


@pytest.mark.parametrize(
    "moved",
    [
        {"table": "members", "column": "codename", "row_id": 8},  # another row
        {"table": "members", "column": "telegram", "row_id": 7},  # another column
        {"table": "claims", "column": "codename", "row_id": 7},  # another table
        {"table": "members", "column": "codename", "row_id": 70},
        {"table": "member", "column": "scodename", "row_id": 7},  # separator games
    ],
)
def test_ciphertext_moved_elsewhere_fails(moved: Cell) -> None:
    cipher = _cipher()
    blob = cipher.seal("Cóndor-7", **CELL)
    with pytest.raises(DecryptionError):
        cipher.open(blob, **moved)


@pytest.mark.parametrize("position", [8, 15, 20, 25, -1])
def test_any_tampered_byte_fails(position: int) -> None:
    cipher = _cipher()
    blob = bytearray(cipher.seal("Cóndor-7", **CELL))
    blob[position] ^= 0x01
    with pytest.raises(DecryptionError, match="authentication"):
        cipher.open(bytes(blob), **CELL)


def test_swapping_the_key_id_prefix_fails() -> None:
    """Relabelling a ciphertext with another known key id changes the AAD and the key."""
    both = FieldCipher({OLD: KEY_OLD, NEW: KEY_NEW}, OLD)
    blob = both.seal("x", **CELL)
    with pytest.raises(DecryptionError):
        both.open(NEW.encode() + blob[8:], **CELL)


def test_unknown_key_id_fails() -> None:
    sealed_elsewhere = FieldCipher({NEW: KEY_NEW}, NEW).seal("x", **CELL)
    with pytest.raises(DecryptionError, match="unknown key"):
        _cipher().open(sealed_elsewhere, **CELL)


@pytest.mark.parametrize("blob", [b"", b"0ld0ld00", b"0ld0ld00" + b"\x00" * 27, b"\xff" * 40])
def test_truncated_or_garbage_fails_closed(blob: bytes) -> None:
    with pytest.raises(DecryptionError):
        _cipher().open(blob, **CELL)


def test_rotation_opens_old_ciphertexts_and_seals_with_the_new_key() -> None:
    old_blob = _cipher().seal("Cóndor-7", **CELL)
    rotated = FieldCipher({OLD: KEY_OLD, NEW: KEY_NEW}, NEW)
    assert rotated.active_key_id == NEW
    assert rotated.key_ids == frozenset({OLD, NEW})
    assert rotated.open(old_blob, **CELL) == "Cóndor-7"
    new_blob = rotated.seal("Cóndor-7", **CELL)
    assert rotated.key_id_of(new_blob) == NEW
    with pytest.raises(DecryptionError):
        _cipher().open(new_blob, **CELL)  # the old-only cipher cannot read new data


@pytest.mark.parametrize(
    ("keys", "active"),
    [
        ({OLD: KEY_OLD}, NEW),  # active key missing
        ({"short": KEY_OLD}, "short"),  # id not 8 characters
        ({"0ld-ld00": KEY_OLD}, "0ld-ld00"),  # id not alphanumeric
        ({OLD: KEY_OLD[:16]}, OLD),  # AES-128 key: refused, we use AES-256
    ],
)
def test_bad_key_sets_are_refused(keys: Mapping[str, bytes], active: str) -> None:
    with pytest.raises(ValueError, match="key"):
        FieldCipher(keys, active)


class _Rotation:
    """A reloader that reports a new key set once, like the key-file watcher after rotate."""

    def __init__(self, fresh: tuple[dict[str, bytes], str] | None) -> None:
        self.fresh = fresh
        self.calls = 0

    def __call__(self) -> tuple[dict[str, bytes], str] | None:
        self.calls += 1
        fresh, self.fresh = self.fresh, None
        return fresh


def test_reloader_switches_the_active_key_before_sealing() -> None:
    reloader = _Rotation(({OLD: KEY_OLD, NEW: KEY_NEW}, NEW))
    cipher = FieldCipher({OLD: KEY_OLD}, OLD, reloader=reloader)
    blob = cipher.seal("x", **CELL)
    assert cipher.key_id_of(blob) == NEW
    assert cipher.reload_if_changed() is False  # nothing new the second time
    assert reloader.calls == 2


def test_reloader_is_asked_when_a_ciphertext_names_an_unknown_key() -> None:
    from_other_process = FieldCipher({NEW: KEY_NEW}, NEW).seal("x", **CELL)
    reloader = _Rotation(({OLD: KEY_OLD, NEW: KEY_NEW}, NEW))
    cipher = FieldCipher({OLD: KEY_OLD}, OLD, reloader=reloader)
    assert cipher.open(from_other_process, **CELL) == "x"


def test_unknown_key_without_a_rotation_still_fails() -> None:
    from_other_process = FieldCipher({NEW: KEY_NEW}, NEW).seal("x", **CELL)
    cipher = FieldCipher({OLD: KEY_OLD}, OLD, reloader=_Rotation(None))
    with pytest.raises(DecryptionError):
        cipher.open(from_other_process, **CELL)


def test_without_reloader_nothing_reloads() -> None:
    assert _cipher().reload_if_changed() is False


def test_blind_index_is_deterministic_keyed_and_domain_separated() -> None:
    pepper = os.urandom(32)
    index = BlindIndex(pepper)
    digest = index("telegram", "987654321")
    assert digest == BlindIndex(pepper)("telegram", "987654321")
    assert len(digest) == 64
    assert "987654321" not in digest
    assert digest != index("codename", "987654321")  # kind separates domains
    assert digest != index("telegram", "987654322")
    assert digest != BlindIndex(os.urandom(32))("telegram", "987654321")  # pepper matters
    assert index("ab", "c") != index("a", "bc")  # no ambiguity at the boundary


def test_short_pepper_is_refused() -> None:
    with pytest.raises(ValueError, match="pepper"):
        BlindIndex(os.urandom(31))
