"""Key files: created owner-only with a new database, refused when exposed (M-07, M-17).

Refused too: a key folder others may write, and a folder or file of another user (a
command run as root over the service's keys, #14.3).

The key directory holds ``data.keys`` (AES keys by id plus which one is active) and
``pepper.key`` (HMAC pepper for lookups). It must not be the database's folder, so copying the
database (or its backups) never copies the keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path

from storage.crypto import KEY_ID_LEN, KEY_LEN, BlindIndex, FieldCipher
from storage.ownership import foreign_owner

_LOGGER = logging.getLogger(__name__)

DATA_KEYS = "data.keys"
PEPPER = "pepper.key"
#: Key of the encrypted backups (``storage.backup``); never inside a backup itself.
BACKUP_KEY = "backup.key"
#: HMAC keys of the audit chain by id plus the active one (``storage.audit``, M-16).
AUDIT_KEYS = "audit.keys"


class KeyFileError(Exception):
    """A key file is missing, malformed or readable by others: refuse to start (T-49)."""


@dataclass(frozen=True, slots=True)
class KeyMaterial:
    """What storage needs to protect fields: the cipher and the blind index."""

    cipher: FieldCipher
    index: BlindIndex

    def reload_if_changed(self) -> bool:
        """Pick up a key rotation made by another process; True if the key set changed."""
        return self.cipher.reload_if_changed()


def new_key_id() -> str:
    """A random 8-character key id."""
    return secrets.token_hex(KEY_ID_LEN // 2)


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` atomically with mode 0600 from the first byte."""
    tmp = path.with_name(path.name + ".tmp")
    # A leftover .tmp (crash mid-write) may have looser permissions: O_CREAT would keep
    # them, so remove it and create afresh; O_EXCL also refuses a planted symlink.
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)


def write_private(path: Path, data: bytes) -> None:
    """Write a key file atomically and owner-only (rotation, backup key)."""
    _write_private(path, data)


def check_private(path: Path) -> None:
    """Refuse a key file that other users can read or write (``KeyFileError``)."""
    _check_private(path)


def _check_private(path: Path, *, check_owner: bool = True) -> None:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            f"key file {path} is readable or writable by other users "
            f"(mode {stat.S_IMODE(mode):o}); run: chmod 600 {path}"
        )
    if check_owner and (foreign := foreign_owner(path)) is not None:
        raise KeyFileError(f"key file {foreign}")


def check_key_dir(key_dir: Path, *, check_owner: bool = True) -> None:
    """Refuse a key folder others may write to, or that belongs to another user (#11.8).

    Whoever can write the folder can replace a key file (a rename needs only the folder's
    write permission), and a folder of another user is a command run as the wrong user.
    A missing folder passes: the caller says what is missing.

    Raises:
        KeyFileError: naming the folder and the fix.
    """
    try:
        mode = key_dir.stat().st_mode
    except FileNotFoundError:
        return
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise KeyFileError(
            f"key folder {key_dir} is writable by other users (mode {stat.S_IMODE(mode):o});"
            f" run: chmod 700 {key_dir}"
        )
    if check_owner and (foreign := foreign_owner(key_dir, root_may_own=True)) is not None:
        raise KeyFileError(f"key folder {foreign}")


def _read_data_keys(path: Path) -> tuple[dict[str, bytes], str]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in doc["keys"].items()}
        active = str(doc["active"])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        # AttributeError: "keys" is not an object (e.g. a string or a list).
        raise KeyFileError(f"key file {path} is malformed") from exc
    if (
        active not in keys
        or any(len(key) != KEY_LEN for key in keys.values())
        # FieldCipher would raise a bare ValueError on these; fail closed with the file name.
        or any(len(key_id) != KEY_ID_LEN or not key_id.isalnum() for key_id in keys)
    ):
        raise KeyFileError(f"key file {path} is malformed")
    return keys, active


def read_data_keys(key_dir: Path) -> tuple[dict[str, bytes], str]:
    """The data keys by id and the active id, checked like ``load_keys`` does.

    Raises:
        KeyFileError: the file is missing, malformed or not owner-only.
    """
    path = key_dir / DATA_KEYS
    if not path.is_file():
        raise KeyFileError(f"key file {path} is missing")
    _check_private(path)
    return _read_data_keys(path)


class _DataKeysWatcher:
    """Re-reads ``data.keys`` when its inode, size or mtime changed (key rotation)."""

    __slots__ = ("_path", "_seen")

    def __init__(self, path: Path, seen: tuple[int, int, int]) -> None:
        self._path = path
        self._seen = seen

    @staticmethod
    def signature(path: Path) -> tuple[int, int, int]:
        st = path.stat()
        return (st.st_ino, st.st_size, st.st_mtime_ns)

    def __call__(self) -> tuple[dict[str, bytes], str] | None:
        try:
            seen = self.signature(self._path)
            if seen == self._seen:
                return None
            _check_private(self._path)
            fresh = _read_data_keys(self._path)
        except (OSError, KeyFileError) as exc:
            # Keep the verified key set loaded at start; a bad file stops the next start.
            _LOGGER.error(  # noqa: TRY400 - the error type is enough, no traceback noise
                "Cannot reload %s: %s", self._path, type(exc).__name__
            )
            return None
        self._seen = seen
        _LOGGER.info("Reloaded the data keys (active key %s)", fresh[1])
        return fresh


def write_data_keys(key_dir: Path, keys: dict[str, bytes], active: str) -> None:
    """Replace ``data.keys`` (used by first run and by rotation)."""
    doc = {
        "active": active,
        "keys": {key_id: base64.b64encode(key).decode("ascii") for key_id, key in keys.items()},
    }
    _write_private(key_dir / DATA_KEYS, json.dumps(doc, indent=1).encode("utf-8"))


def _refuse_database_folder(key_dir: Path, database_path: Path) -> Path:
    key_dir = key_dir.resolve()
    if key_dir == database_path.resolve().parent:
        raise KeyFileError(
            f"key directory {key_dir} is the database's folder; keep keys apart from data "
            "and its backups (set CHASKI_KEY_DIR)"
        )
    return key_dir


def ensure_keys(key_dir: Path, database_path: Path) -> bool:
    """Create the key directory and files if absent; return whether anything was created.

    Only for a brand-new database (``bot.root.wiring``): keys made for an existing database
    would turn its members into strangers (#11.4); ``require_keys`` is for that case.

    Raises:
        KeyFileError: the key directory is the database's directory, or only one of the two
            files exists (a half-restored key set must never silently get a new key).
    """
    key_dir = _refuse_database_folder(key_dir, database_path)
    check_key_dir(key_dir)  # before anything is created in it
    data, pepper = key_dir / DATA_KEYS, key_dir / PEPPER
    if data.exists() and pepper.exists():
        return False
    if data.exists() or pepper.exists():
        missing = pepper if data.exists() else data
        raise KeyFileError(f"key file {missing} is missing; restore it from the offline copy")
    key_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_id = new_key_id()
    write_data_keys(key_dir, {key_id: secrets.token_bytes(KEY_LEN)}, key_id)
    _write_private(pepper, secrets.token_bytes(KEY_LEN))
    return True


def any_keys(key_dir: Path) -> bool:
    """Whether ``data.keys`` or ``pepper.key`` is in ``key_dir`` (keys of a database)."""
    return (key_dir / DATA_KEYS).exists() or (key_dir / PEPPER).exists()


def require_keys(key_dir: Path, database_path: Path) -> None:
    """Refuse to go on without keys when the database exists: never make new ones for it.

    A missing or unmounted key folder, or ``CHASKI_KEY_DIR`` pointing elsewhere, must stop
    the bot with one line (#11.4), not start it with fresh keys.

    Raises:
        KeyFileError: the key directory is the database's folder, or ``data.keys`` and
            ``pepper.key`` are both missing (one missing: ``load_keys`` names it).
    """
    key_dir = _refuse_database_folder(key_dir, database_path)
    check_key_dir(key_dir)
    if not (key_dir / DATA_KEYS).exists() and not (key_dir / PEPPER).exists():
        raise KeyFileError(
            f"no keys in {key_dir}, but database {database_path} exists: restore"
            f" {DATA_KEYS} and {PEPPER} from the offline copy, or check CHASKI_KEY_DIR"
            " (new keys are made only with a new database)"
        )


def load_keys(key_dir: Path, *, check_owner: bool = True) -> KeyMaterial:
    """Load the keys, failing closed on anything unexpected.

    ``check_owner=False`` only for reading without changing anything (``chaski status``,
    which root may run): a command that writes must run as the keys' owner (#14.3).

    Raises:
        KeyFileError: a file is missing, malformed, not owner-only or another user's; the
            folder is writable by others or another user's.
    """
    check_key_dir(key_dir, check_owner=check_owner)
    data, pepper = key_dir / DATA_KEYS, key_dir / PEPPER
    for path in (data, pepper):
        if not path.is_file():
            raise KeyFileError(f"key file {path} is missing")
        _check_private(path, check_owner=check_owner)
    seen = _DataKeysWatcher.signature(data)  # before reading: a change in between reloads
    keys, active = _read_data_keys(data)
    pepper_bytes = pepper.read_bytes()
    if len(pepper_bytes) < KEY_LEN:
        raise KeyFileError(f"key file {pepper} is malformed")
    cipher = FieldCipher(keys, active, reloader=_DataKeysWatcher(data, seen))
    return KeyMaterial(cipher=cipher, index=BlindIndex(pepper_bytes))


class AuditKeys:
    """The audit chain's HMAC keys (``audit.keys``), re-read when another process rotates.

    Kept apart from the database like every key (M-07): whoever can write the database file
    but not read this one cannot compute the hash of a forged or edited audit entry. Old keys
    stay in the file, since verifying an entry needs the key that made it.
    """

    __slots__ = ("_active", "_keys", "_path", "_seen")

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen = _DataKeysWatcher.signature(path)
        self._keys, self._active = _read_data_keys(path)

    @property
    def path(self) -> Path:
        """Where the keys are (for messages)."""
        return self._path

    def _reload(self) -> None:
        try:
            seen = _DataKeysWatcher.signature(self._path)
            if seen == self._seen:
                return
            _check_private(self._path)
            self._keys, self._active = _read_data_keys(self._path)
        except (OSError, KeyFileError) as exc:
            _LOGGER.error(  # noqa: TRY400 - the error type is enough, no traceback noise
                "Cannot reload %s: %s", self._path, type(exc).__name__
            )
            return
        self._seen = seen

    @property
    def active_id(self) -> str:
        """The id of the key new entries are made with (after a rotation: the new one)."""
        self._reload()
        return self._active

    def mac(self, key_id: str, message: bytes) -> str | None:
        """HMAC-SHA-256 of ``message`` under key ``key_id`` as hex; None for an unknown id."""
        key = self._keys.get(key_id)
        if key is None:
            self._reload()
            key = self._keys.get(key_id)
        return None if key is None else hmac.new(key, message, hashlib.sha256).hexdigest()


def create_audit_keys(key_dir: Path) -> AuditKeys:
    """Write a fresh ``audit.keys`` (one key, active); only when there is none."""
    path = key_dir / AUDIT_KEYS
    key_id = new_key_id()
    _write_private(
        path,
        json.dumps(
            {
                "active": key_id,
                "keys": {key_id: base64.b64encode(secrets.token_bytes(KEY_LEN)).decode()},
            },
            indent=1,
        ).encode("utf-8"),
    )
    return AuditKeys(path)


def load_audit_keys(key_dir: Path, *, check_owner: bool = True) -> AuditKeys | None:
    """The audit keys, or None when ``audit.keys`` does not exist yet.

    Raises:
        KeyFileError: the file is malformed, not owner-only or another user's.
    """
    path = key_dir / AUDIT_KEYS
    if not path.exists():
        return None
    _check_private(path, check_owner=check_owner)
    return AuditKeys(path)


def rotate_audit_keys(key_dir: Path) -> str:
    """Add a new audit key and make it active; returns its id (old keys stay).

    Raises:
        KeyFileError: ``audit.keys`` is missing, malformed or not owner-only.
    """
    path = key_dir / AUDIT_KEYS
    if not path.is_file():
        raise KeyFileError(f"key file {path} is missing")
    _check_private(path)
    keys, _ = _read_data_keys(path)
    key_id = new_key_id()
    while key_id in keys:
        key_id = new_key_id()
    keys[key_id] = secrets.token_bytes(KEY_LEN)
    doc = {
        "active": key_id,
        "keys": {kid: base64.b64encode(key).decode("ascii") for kid, key in keys.items()},
    }
    _write_private(path, json.dumps(doc, indent=1).encode("utf-8"))
    return key_id
