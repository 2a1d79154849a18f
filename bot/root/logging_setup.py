"""Production logging: stderr, quiet HTTP libraries, and a redacting filter (M-17, M-20).

Logs end up in journald, support tickets and screenshots, so nothing that identifies an
informant or opens the bot may reach them. Levels do most of the work (``httpx`` logs URLs
containing the token at INFO; PTB logs whole updates, message text and PINs included, at
DEBUG), and ``RedactingFilter`` catches what slips through, on every root handler:

- any ``telegram`` object passed as an argument (``Update``, ``Message``, …, also inside a
  list/tuple/dict) becomes ``<redacted Update>``; DEBUG records of ``telegram``/``httpx``/
  ``httpcore`` are dropped outright, whatever those loggers' levels were set to;
- any container argument of a ``telegram``/``httpx``/``httpcore`` record becomes
  ``<redacted data>``: those are raw Bot API answers (PTB's CRITICAL "Error while parsing
  updates! Received data was [...]" carries a whole batch of other people's updates, names
  and message texts included, #11.5);
- bot tokens (``123:AA…``), ``/bot<anything>/`` URL segments and registered secrets become
  ``<token>``; long base64url/hex runs with a digit (invite codes: 43 characters, webhook
  secrets, keyed hashes) become ``<secret>``;
- runs of six or more digits (PINs, Telegram user/chat IDs, amounts in céntimos) become
  ``<number>``. Exception: ``update_id=<n>`` stays, so our own code can log update ids
  usefully by writing exactly ``"update_id=%d"``; any other long number is lost, which we
  accept (key ids or counts that happen to be long numbers are redacted too);
- CR, LF and other control, bidi and zero-width characters are escaped (``\\n``,
  ``\\u202e``), so a value cannot forge a log line (ASVS 7.3.1, T-24). Tracebacks keep
  their line breaks but are redacted the same way.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping
from typing import Any, TextIO

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{30,}")
_BOT_URL = re.compile(r"/bot[^/\s]+/")
_SECRET_RUN = re.compile(
    r"(?<![A-Za-z0-9_-])(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])"
)
#: Exactly an invite code's shape (32 random bytes, base64url), digits or not.
_INVITE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])")
_LONG_NUMBER = re.compile(r"(?<![0-9A-Za-z])(?<!update_id=)-?\d{6,}(?![0-9A-Za-z])")
_NOISY = ("telegram", "httpx", "httpcore")
_MAX_DEPTH = 3


def _escape_table(keep_newlines: bool) -> dict[int, str]:
    table: dict[int, str] = {}
    controls = [*range(0x00, 0x20), 0x7F, *range(0x80, 0xA0)]
    invisible = [0x061C, 0x200B, 0x200C, 0x200D, 0x200E, 0x200F, 0x2028, 0x2029, 0xFEFF]
    bidi = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
    for code in (*controls, *invisible, *bidi):
        if code == 0x09 or (keep_newlines and code == 0x0A):
            continue
        table[code] = {0x0A: "\\n", 0x0D: "\\r"}.get(code, f"\\u{code:04x}")
    return table


_ESCAPE_LINE = _escape_table(keep_newlines=False)
_ESCAPE_BLOCK = _escape_table(keep_newlines=True)


def _is_telegram_object(value: object, depth: int = 0) -> bool:
    """A ``telegram`` library object, or a container holding one (bounded depth)."""
    module = type(value).__module__
    if module == "telegram" or module.startswith("telegram."):
        return True
    if depth >= _MAX_DEPTH:
        return False
    if isinstance(value, Mapping):
        items: Iterable[object] = [*value.keys(), *value.values()]
    elif isinstance(value, list | tuple | set | frozenset):
        items = value
    else:
        return False
    return any(_is_telegram_object(item, depth + 1) for item in items)


def _scrub_arg(value: object) -> object:
    if _is_telegram_object(value):
        name = type(value).__name__
        return "<redacted Update>" if name in ("Update", "Message") else f"<redacted {name}>"
    return value


def _scrub_raw(value: object) -> object:
    """An argument of a library record: raw API data (containers) is never logged."""
    if isinstance(value, Mapping | list | tuple | set | frozenset):
        return "<redacted data>"
    return _scrub_arg(value)


class RedactingFilter(logging.Filter):
    """Rewrites every record so it carries no secret, identifier or forged line break."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """``secrets`` are exact strings (the configured token) replaced wherever they occur."""
        super().__init__()
        self._secrets = {s for s in secrets if s}

    def add_secret(self, value: str) -> None:
        """Redact this exact string from now on (e.g. the token once settings are read)."""
        if value:
            self._secrets.add(value)

    def redact(self, text: str, *, keep_newlines: bool = False) -> str:
        """Apply every redaction and escape to ``text``."""
        for secret in self._secrets:
            text = text.replace(secret, "<token>")
        text = _BOT_URL.sub("/bot<token>/", text)
        text = _TOKEN.sub("<token>", text)
        text = _INVITE.sub("<secret>", text)
        text = _SECRET_RUN.sub("<secret>", text)
        text = _LONG_NUMBER.sub("<number>", text)
        return text.translate(_ESCAPE_BLOCK if keep_newlines else _ESCAPE_LINE)

    def _message(self, record: logging.LogRecord) -> str:
        msg: Any = _scrub_arg(record.msg)
        args: Any = record.args
        scrub = _scrub_raw if record.name.split(".", 1)[0] in _NOISY else _scrub_arg
        if isinstance(args, Mapping):
            args = {key: scrub(value) for key, value in args.items()}
        elif isinstance(args, tuple):
            args = tuple(scrub(value) for value in args)
        text = str(msg)
        if args:
            try:
                text = text % args
            except (TypeError, ValueError, KeyError):
                text = f"{text} {args!r}"
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact in place; drop DEBUG chatter of the Telegram and HTTP libraries."""
        if record.levelno < logging.INFO and record.name.split(".", 1)[0] in _NOISY:
            return False
        record.msg = self.redact(self._message(record))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text, keep_newlines=True)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info, keep_newlines=True)
        return True


def configure_logging(
    level: int = logging.INFO, *, stream: TextIO | None = None, secrets: Iterable[str] = ()
) -> RedactingFilter:
    """Log to ``stream`` (default stderr) through the redacting filter; returns the filter.

    Like ``logging.basicConfig``, the stream handler is added only when the root logger has
    none yet (or a ``stream`` is given); a handler added by an earlier call is replaced, and
    every root handler, whoever added it, gets the one redacting filter.
    """
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, "chaski", False):
            root.removeHandler(handler)
    if stream is not None or not root.handlers:
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.chaski = True  # type: ignore[attr-defined]
        handler.setFormatter(logging.Formatter(FORMAT))
        root.addHandler(handler)
        root.setLevel(level)
    redactor = RedactingFilter(secrets)
    for existing in root.handlers:
        for old in [f for f in existing.filters if isinstance(f, RedactingFilter)]:
            existing.removeFilter(old)
        existing.addFilter(redactor)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    logging.getLogger("telegram").setLevel(max(level, logging.INFO))
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    logging.getLogger("matplotlib").setLevel(logging.WARNING)  # font lookups at DEBUG
    return redactor
