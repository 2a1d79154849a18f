"""Field encryption (AES-256-GCM bound to table, column and row) and keyed lookup hashes.

Every sensitive column goes through ``FieldCipher`` so encryption at rest has exactly one
path (M-07). Each ciphertext starts with the 8-character id of the key that sealed it, so
several keys can be live during a rotation; the associated data binds it to its table,
column, row id and key id, so a ciphertext copied into another row or column fails to open.
Telegram IDs, codenames, references and invite codes are found through
``HMAC-SHA256(pepper, kind | value)`` ("blind index"), never stored in clear.

AES-GCM hides a value but not its length, and lengths tell a lot here: an amount's number
of digits is its order of magnitude, a codename's length narrows who it is (#11.9). So every
value is padded before sealing to a bucket (``padded_len``): every amount and every short
name seals to the same length. Padded plaintexts start with a NUL byte, which no value
stored here starts with (text with control characters is refused at the edge, T-24), so
values sealed before padding existed still open as they are.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Callable, Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

KEY_ID_LEN = 8
NONCE_LEN = 12
KEY_LEN = 32
TAG_LEN = 16
#: Where the ciphertext starts (after key id and nonce), and the shortest blob that can open.
_HEADER_LEN = KEY_ID_LEN + NONCE_LEN
_MIN_BLOB_LEN = _HEADER_LEN + TAG_LEN
#: First byte of a padded plaintext, and the byte that ends the value before the zeros.
_PADDED = b"\x00"
_END = b"\x80"
#: The smallest bucket: amounts, PIN hashes, codenames and references all fit in it.
_MIN_BUCKET = 64
#: Above this, buckets grow by whole KiB instead of doubling.
_KIB = 1024

#: Returns the current ``(keys, active_key_id)`` when the key file changed since the last
#: call, else None; lets a running process pick up a rotation without a restart.
KeyReloader = Callable[[], tuple[Mapping[str, bytes], str] | None]


class DecryptionError(Exception):
    """A ciphertext failed authentication or names an unknown key: fail closed (M-20)."""


class FieldCipher:
    """Seal and open column values with the active key; open with any known key."""

    __slots__ = ("_active", "_aeads", "_reloader")

    def __init__(
        self,
        keys: Mapping[str, bytes],
        active_key_id: str,
        *,
        reloader: KeyReloader | None = None,
    ) -> None:
        """Keep one AESGCM per key id; ``active_key_id`` seals new values.

        ``reloader`` (set by ``storage.keys.load_keys``) is asked before every seal and when
        a ciphertext names an unknown key, so a key rotation done by another process
        (``chaski keys rotate``) takes effect here without a restart.
        """
        self._aeads: dict[str, AESGCM] = {}
        self._active = ""
        self._install(keys, active_key_id)
        self._reloader = reloader

    def _install(self, keys: Mapping[str, bytes], active_key_id: str) -> None:
        if active_key_id not in keys:
            raise ValueError("the active key id is not among the keys")
        for key_id, key in keys.items():
            if len(key_id) != KEY_ID_LEN or not key_id.isalnum() or len(key) != KEY_LEN:
                raise ValueError("key ids are 8 alphanumerics and keys 32 bytes")
        self._aeads = {key_id: AESGCM(key) for key_id, key in keys.items()}
        self._active = active_key_id

    @property
    def active_key_id(self) -> str:
        """Id of the key used for new ciphertexts."""
        return self._active

    @property
    def key_ids(self) -> frozenset[str]:
        """Ids of every key this cipher can open with."""
        return frozenset(self._aeads)

    def reload_if_changed(self) -> bool:
        """Adopt the key file's current key set if it changed; True if it did.

        Cheap when nothing changed (one ``stat``), which is why ``seal`` can call it every
        time: after a rotation made a new key active, the next value sealed here uses it.
        """
        if self._reloader is None:
            return False
        fresh = self._reloader()
        if fresh is None:
            return False
        self._install(*fresh)
        return True

    def seal(self, value: str, *, table: str, column: str, row_id: int) -> bytes:
        """Encrypt ``value`` for one cell with the active key; a fresh random nonce every time."""
        self.reload_if_changed()
        nonce = os.urandom(NONCE_LEN)
        aad = _aad(self._active, table, column, row_id)
        sealed = self._aeads[self._active].encrypt(nonce, _pad(value.encode("utf-8")), aad)
        return self._active.encode("ascii") + nonce + sealed

    def open(self, blob: bytes, *, table: str, column: str, row_id: int) -> str:
        """Decrypt one cell.

        Raises:
            DecryptionError: unknown key, tampered or moved ciphertext.
        """
        key_id = blob[:KEY_ID_LEN].decode("ascii", "replace")
        aead = self._aeads.get(key_id)
        if aead is None and self.reload_if_changed():
            aead = self._aeads.get(key_id)  # sealed by a key a rotation added meanwhile
        if aead is None or len(blob) < _MIN_BLOB_LEN:
            raise DecryptionError("unknown key or truncated ciphertext")
        nonce = blob[KEY_ID_LEN:_HEADER_LEN]
        try:
            plain = aead.decrypt(nonce, blob[_HEADER_LEN:], _aad(key_id, table, column, row_id))
        except InvalidTag:
            raise DecryptionError("ciphertext failed authentication") from None
        return _unpad(plain).decode("utf-8")

    def key_id_of(self, blob: bytes) -> str:
        """The key id a ciphertext was sealed with (for rotation progress)."""
        return blob[:KEY_ID_LEN].decode("ascii", errors="replace")


def padded_len(size: int) -> int:
    """The bucket a value of ``size`` bytes is padded to (marker and end byte included).

    At least ``_MIN_BUCKET`` bytes, then the next power of two up to 1 KiB (free-text
    alerts), then whole KiB: a ciphertext's length says at most which bucket its value was in.
    """
    needed = size + len(_PADDED) + len(_END)
    bucket = _MIN_BUCKET
    while bucket < needed and bucket < _KIB:
        bucket *= 2
    if bucket >= needed:
        return bucket
    return -(-needed // _KIB) * _KIB


def _pad(plain: bytes) -> bytes:
    """``NUL + plain + 0x80`` and zeros up to the bucket (ISO/IEC 7816-4 style)."""
    body = _PADDED + plain + _END
    return body + bytes(padded_len(len(plain)) - len(body))


def _unpad(plain: bytes) -> bytes:
    """The value inside a padded plaintext; a value sealed before padding as it is."""
    if not plain.startswith(_PADDED):
        return plain
    end = plain.rstrip(b"\x00")
    if not end.endswith(_END):
        raise DecryptionError("malformed padding")
    return end[len(_PADDED) : -len(_END)]


def _aad(key_id: str, table: str, column: str, row_id: int) -> bytes:
    """The associated data binding a ciphertext to its key and cell (table, column, row).

    A module function rather than a method: ``open`` runs it for every cell it decrypts.
    """
    return f"chaski|{key_id}|{table}|{column}|{row_id}".encode()


class BlindIndex:
    """Keyed hashes for equality lookups on encrypted values."""

    __slots__ = ("_pepper",)

    def __init__(self, pepper: bytes) -> None:
        """``pepper`` is a secret of at least 32 bytes kept outside the database."""
        if len(pepper) < KEY_LEN:
            raise ValueError("pepper must be at least 32 bytes")
        self._pepper = pepper

    def __call__(self, kind: str, value: str) -> str:
        """Hex HMAC of ``value`` under a domain-separating ``kind``."""
        message = f"{kind}\x00{value}".encode()
        return hmac.digest(self._pepper, message, "sha256").hex()  # one-shot, in C
