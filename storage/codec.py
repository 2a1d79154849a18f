"""Conversions between domain values and SQLite cells (timestamps, dates, sealed fields)."""

from __future__ import annotations

from datetime import UTC, date, datetime

from storage.crypto import FieldCipher


def ts(value: datetime) -> str:
    """Aware datetime → ISO 8601 UTC text (sorts chronologically)."""
    if value.tzinfo is None:
        raise ValueError("naive datetimes are not stored")
    return value.astimezone(UTC).isoformat(timespec="seconds")


def parse_ts(text: str) -> datetime:
    """ISO 8601 text written by ``ts`` → aware UTC datetime."""
    return datetime.fromisoformat(text).astimezone(UTC)


def opt_date(value: date | None) -> str | None:
    """Date → ISO text or NULL."""
    return value.isoformat() if value else None


def parse_opt_date(text: str | None) -> date | None:
    """ISO text or NULL → date."""
    return date.fromisoformat(text) if text else None


class Sealer:
    """Seal/open the cells of one table: keeps call sites short and the AAD consistent."""

    __slots__ = ("_cipher", "_table")

    def __init__(self, cipher: FieldCipher, table: str) -> None:
        """Bind the cipher to ``table``."""
        self._cipher = cipher
        self._table = table

    def seal(self, column: str, row_id: int, value: str) -> bytes:
        """Encrypt one cell."""
        return self._cipher.seal(value, table=self._table, column=column, row_id=row_id)

    def seal_opt(self, column: str, row_id: int, value: str | None) -> bytes | None:
        """Encrypt one cell, NULL stays NULL."""
        return None if value is None else self.seal(column, row_id, value)

    def open(self, column: str, row_id: int, blob: bytes) -> str:
        """Decrypt one cell (raises ``DecryptionError``: fail closed)."""
        return self._cipher.open(blob, table=self._table, column=column, row_id=row_id)

    def open_opt(self, column: str, row_id: int, blob: bytes | None) -> str | None:
        """Decrypt one cell, NULL stays NULL."""
        return None if blob is None else self.open(column, row_id, blob)

    def seal_int(self, column: str, row_id: int, value: int) -> bytes:
        """Encrypt an integer (amounts in céntimos)."""
        return self.seal(column, row_id, str(value))

    def open_int(self, column: str, row_id: int, blob: bytes) -> int:
        """Decrypt an integer."""
        return int(self.open(column, row_id, blob))

    def open_opt_int(self, column: str, row_id: int, blob: bytes | None) -> int | None:
        """Decrypt an optional integer."""
        return None if blob is None else self.open_int(column, row_id, blob)
