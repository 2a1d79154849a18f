"""Encrypted online backups and verified restores (R-11, M-07, M-15, T-39, T-48).

``create_backup`` copies the live database with SQLite's backup API (a consistent snapshot
while the bot keeps writing) into a private temporary folder next to the database, checks
it, encrypts it with ``backup.key`` (its own key in ``CHASKI_KEY_DIR``, never the data keys)
and deletes the plaintext copy. Sealed fields inside stay sealed under the data keys, so a
backup is useful only with *both* ``backup.key`` and ``data.keys``/``pepper.key``; none of
the three is ever inside a backup.

File format (version 1)::

    header  = b"CHASKIBK" | version (1 byte) | backup key id (8 ASCII) | chunk size (u32 BE)
              | file salt (16 random bytes)
    record  = final flag (1 byte) | length (u32 BE) | nonce (12) | AES-256-GCM ciphertext

Each chunk's associated data is ``header | chunk index (u64 BE) | final flag``, so a record
moved, dropped, duplicated, spliced in from another backup or flipped to "final" fails
authentication, and a file cut at a record boundary lacks its final record: every such
file is refused with ``BackupError`` before anything is written to the database path.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import secrets
import shutil
import sqlite3
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import aiosqlite
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from storage.crypto import KEY_ID_LEN, KEY_LEN, NONCE_LEN
from storage.database import Database
from storage.keycheck import KeyMismatch, verify
from storage.keys import BACKUP_KEY, KeyFileError, KeyMaterial, check_private, new_key_id
from storage.keys import write_private as _write_key_file
from storage.rotation import check_sealed

_LOGGER = logging.getLogger(__name__)

MAGIC = b"CHASKIBK"
VERSION = 1
CHUNK_SIZE = 1 << 20
_HEADER = struct.Struct(f">{len(MAGIC)}sB{KEY_ID_LEN}sI16s")
_RECORD = struct.Struct(">BI")
_TAG_LEN = 16
_MAX_CHUNK = 64 << 20


class BackupError(Exception):
    """A backup cannot be made or restored; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class BackupInfo:
    """What ``create_backup`` wrote: the file, its size and the backup key id used."""

    path: Path
    size: int
    key_id: str


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What ``restore_backup`` put in place, for the operator's restore drill record."""

    database: Path
    moved_aside: Path | None
    members: int
    claims: int
    sealed_cells: int


# ---------------------------------------------------------------------------- the key


def _load_backup_key(key_dir: Path, *, create: bool) -> tuple[str, bytes]:
    path = key_dir / BACKUP_KEY
    if not path.exists():
        if not create:
            raise KeyFileError(f"key file {path} is missing; restore it from the offline copy")
        key_id = new_key_id()
        doc = {"id": key_id, "key": base64.b64encode(secrets.token_bytes(KEY_LEN)).decode()}
        key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        _write_key_file(path, json.dumps(doc).encode("utf-8"))
        _LOGGER.warning(
            "Created the backup key %s; copy it to the offline key store: without it no "
            "backup can be restored",
            path,
        )
    check_private(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        key_id, key = str(doc["id"]), base64.b64decode(doc["key"], validate=True)
    except (ValueError, KeyError, TypeError) as exc:
        raise KeyFileError(f"key file {path} is malformed") from exc
    if len(key_id) != KEY_ID_LEN or not key_id.isalnum() or len(key) != KEY_LEN:
        raise KeyFileError(f"key file {path} is malformed")
    return key_id, key


# ----------------------------------------------------------------- encrypt / decrypt


def _aad(header: bytes, index: int, final: bool) -> bytes:
    return header + struct.pack(">QB", index, int(final))


def _chunks(source: BinaryIO, size: int) -> Iterator[tuple[bytes, bool]]:
    """Yield ``(chunk, is_last)``; an empty source still yields one (empty, final) chunk."""
    current = source.read(size)
    while True:
        following = source.read(size) if len(current) == size else b""
        yield current, not following
        if not following:
            return
        current = following


def _encrypt_file(plain: Path, dest: Path, key_id: str, key: bytes, chunk_size: int) -> int:
    header = _HEADER.pack(MAGIC, VERSION, key_id.encode("ascii"), chunk_size, os.urandom(16))
    aead = AESGCM(key)
    tmp = dest.with_name(f".{dest.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, plain.open("rb") as source:
            out.write(header)
            for index, (chunk, final) in enumerate(_chunks(source, chunk_size)):
                nonce = os.urandom(NONCE_LEN)
                sealed = aead.encrypt(nonce, chunk, _aad(header, index, final))
                out.write(_RECORD.pack(int(final), len(sealed)) + nonce + sealed)
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest.stat().st_size


def _read_exact(source: BinaryIO, size: int, what: str) -> bytes:
    data = source.read(size)
    if len(data) != size:
        raise BackupError(f"backup is truncated ({what}); refusing it")
    return data


def _decrypt_file(src: Path, plain: Path, key_dir: Path) -> None:
    with src.open("rb") as source:
        header = source.read(_HEADER.size)
        if len(header) != _HEADER.size or not header.startswith(MAGIC):
            raise BackupError(f"{src} is not a chaski backup")
        _, version, raw_id, chunk_size, _ = _HEADER.unpack(header)
        if version != VERSION:
            raise BackupError(f"backup format version {version} is not supported")
        if not 0 < chunk_size <= _MAX_CHUNK:
            raise BackupError("backup header is corrupt")
        key_id, key = _load_backup_key(key_dir, create=False)
        if raw_id != key_id.encode("ascii"):
            raise BackupError(
                f"backup was made with backup key {raw_id.decode('ascii', 'replace')}, "
                f"but {key_dir / BACKUP_KEY} is key {key_id}; restore the matching key file"
            )
        aead = AESGCM(key)
        fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            index = 0
            while True:
                head = source.read(_RECORD.size)
                if not head:
                    raise BackupError("backup is truncated (final chunk missing); refusing it")
                if len(head) != _RECORD.size:
                    raise BackupError("backup is truncated (record header); refusing it")
                final, length = _RECORD.unpack(head)
                if final not in (0, 1) or not _TAG_LEN <= length <= chunk_size + _TAG_LEN:
                    raise BackupError(f"backup chunk {index} is corrupt; refusing it")
                nonce = _read_exact(source, NONCE_LEN, f"chunk {index}")
                sealed = _read_exact(source, length, f"chunk {index}")
                try:
                    out.write(aead.decrypt(nonce, sealed, _aad(header, index, bool(final))))
                except InvalidTag:
                    raise BackupError(
                        f"backup chunk {index} failed authentication (modified, reordered or "
                        "from another backup); refusing it"
                    ) from None
                index += 1
                if final:
                    break
            if source.read(1):
                raise BackupError("backup has data after its final chunk; refusing it")
            out.flush()
            os.fsync(out.fileno())


# ------------------------------------------------------------------------ backup


def _private_tempdir(near: Path) -> Path:
    """A 0700 folder beside ``near`` (same disk as the database, not a shared /tmp)."""
    near.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".chaski-", dir=near))


async def _integrity(path: Path) -> str:
    async with aiosqlite.connect(path) as conn, conn.execute("PRAGMA integrity_check") as cur:
        rows = await cur.fetchall()
    return "; ".join(str(row[0]) for row in rows)


def _check_destination(dest: Path, key_dir: Path) -> None:
    if dest.resolve().parent == key_dir.resolve():
        raise BackupError("write backups outside the key directory")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")


async def create_backup(
    db: Database, dest: Path, key_dir: Path, *, chunk_size: int = CHUNK_SIZE
) -> BackupInfo:
    """Write an encrypted, consistent copy of ``db`` to ``dest`` (mode 0600).

    Safe while the bot runs: the copy is one read snapshot of the reader connection, and
    the bot's writer keeps committing meanwhile (WAL). ``chunk_size`` only matters to tests
    that need several chunks from a small database.

    Raises:
        BackupError: the copy failed its integrity check or ``dest`` is unusable.
        KeyFileError: ``backup.key`` is malformed or readable by others.
    """
    if not 0 < chunk_size <= _MAX_CHUNK:
        raise ValueError("chunk_size")
    _check_destination(dest, key_dir)
    key_id, key = _load_backup_key(key_dir, create=True)
    work = _private_tempdir(db.path.parent)
    try:
        copy = work / "snapshot.sqlite3"
        async with aiosqlite.connect(copy) as target:
            await db.reader.backup(target)  # whole file in one step: one consistent snapshot
            # A self-contained single file: no -wal beside it to forget.
            await target.execute("PRAGMA journal_mode = DELETE")
        result = await _integrity(copy)
        if result != "ok":
            raise BackupError(f"the snapshot failed PRAGMA integrity_check: {result}")
        size = await asyncio.to_thread(_encrypt_file, copy, dest, key_id, key, chunk_size)
    finally:
        shutil.rmtree(work, ignore_errors=True)  # the plaintext copy never outlives the call
    _LOGGER.info("Backup written (%d bytes, backup key %s)", size, key_id)
    return BackupInfo(path=dest, size=size, key_id=key_id)


# ----------------------------------------------------------------------- restore


async def _count(db: Database, table: str) -> int:
    row = await db.fetchone(f"SELECT count(*) FROM {table}")  # noqa: S608 - fixed names
    return int(row[0]) if row else 0


def _companions(path: Path) -> list[Path]:
    """The database file and its WAL/SHM files (a stale WAL must never meet a new file)."""
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def _move_aside(db_path: Path, now: datetime) -> Path:
    aside = db_path.with_name(f"{db_path.name}.before-restore-{now:%Y%m%dT%H%M%SZ}")
    for source, target in zip(_companions(db_path), _companions(aside), strict=True):
        if source.exists():
            source.rename(target)
    return aside


async def restore_backup(
    src: Path, db_path: Path, key_dir: Path, keys: KeyMaterial, *, now: datetime, force: bool
) -> RestoreReport:
    """Decrypt ``src`` and put it in place as ``db_path``, checking it on the way.

    Everything is checked before the live path is touched: authentication of every chunk,
    ``PRAGMA integrity_check``, migrations, and that every sealed cell opens with the
    production keys ``keys`` (T-39). Stop the bot first: its open connections would keep
    writing into the file that is moved aside.

    Raises:
        BackupError: the file is not a valid backup, fails a check, or ``db_path`` exists
            and ``force`` is false.
        KeyFileError: ``backup.key`` is missing or unsafe.
    """
    existing = [p for p in _companions(db_path) if p.exists()]
    if existing and not force:
        raise BackupError(
            f"{db_path} already exists; pass --force to move it aside and restore over it"
        )
    work = _private_tempdir(db_path.parent)
    try:
        plain = work / db_path.name
        await asyncio.to_thread(_decrypt_file, src, plain, key_dir)
        result = await _integrity(plain)
        if result != "ok":
            raise BackupError(f"the restored file failed PRAGMA integrity_check: {result}")
        restored = await Database.open(plain)  # applies newer migrations, quick_check
        try:
            check = await check_sealed(restored, keys)
            if not check.failures:
                # The key check covers the pepper too (#11.4); a backup older than the
                # check gets it at the next start, after the same test.
                try:
                    await verify(restored, keys, key_dir)
                except KeyMismatch:
                    raise BackupError(
                        f"the backup was written with another pepper than {key_dir}:"
                        " restore pepper.key from the offline copy made before the backup"
                    ) from None
            members = await _count(restored, "members")
            claims = await _count(restored, "claims")
            with contextlib.suppress(sqlite3.DatabaseError):
                await restored.fetchone("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            await restored.close()
        if check.failures:
            table, column, _ = check.failures[0]
            raise BackupError(
                f"{len(check.failures)} sealed value(s) do not open with the current keys "
                f"(first: {table}.{column}); restore data.keys from the offline copy made "
                "before the backup"
            )
        moved = _move_aside(db_path, now) if existing else None
        for stale in _companions(plain)[1:]:
            stale.unlink(missing_ok=True)
        plain.replace(db_path)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return RestoreReport(
        database=db_path,
        moved_aside=moved,
        members=members,
        claims=claims,
        sealed_cells=check.cells,
    )
