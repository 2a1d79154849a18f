"""The configuration file: one file that the service and every ``chaski`` command read.

Why a file of our own rather than only the environment: an administrator's command must see
exactly the settings the running service sees (database, key folder, time zone …), and the
service user has no shell to export them in. So the systemd unit and the ``deploy/chaski-admin``
wrapper both point ``CHASKI_CONFIG`` at ``/etc/chaski/chaski.env`` and ``chaski`` reads it
itself, with this one strict parser (``--config FILE`` overrides ``CHASKI_CONFIG``).

The format is the part of ``NAME=value`` that systemd's ``EnvironmentFile=`` and POSIX
``sh`` (``set -a; . FILE``) read the same way, so the file cannot mean one thing to us and
another to them: one ``NAME=value`` per line, no spaces around ``=``, no quotes,
backslashes, ``$``, backticks, spaces or control characters in the value; blank lines and
lines starting with ``#`` are ignored; only the settings of the README's table, each once.
Anything else stops the program with one line naming the file and the line, never the value
(a value may be the bot token), exit code 2.

Precedence: a variable set (non-blank) in the environment wins over the file, so a one-off
``CHASKI_DB=/tmp/drill/chaski.sqlite3 chaski …`` works; each such override is reported on
stderr by name, so it never goes unnoticed.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config import CONFIG_VARIABLE, SETTING_NAMES, ConfigError, Settings

#: A configuration file is a few hundred bytes; anything near this is not one.
MAX_BYTES = 64 * 1024
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
#: A name that is clearly meant as a Chaski setting: safe to quote back (never a secret).
_OUR_PREFIX = re.compile(r"(?:CHASKI|TELEGRAM)_[A-Z0-9_]{1,60}")
#: Characters sh or systemd would interpret (quotes, escapes, expansion, word splitting).
_SHELL_CHARACTERS = frozenset("\"'\\$`")
_TOKEN_NAME = SETTING_NAMES[0]  # TELEGRAM_BOT_TOKEN


@dataclass(frozen=True, slots=True)
class ConfigFile:
    """The settings one file sets and the line each came from (for error messages)."""

    path: Path
    values: Mapping[str, str]
    lines: Mapping[str, int]


def _line_problem(text: str, seen: Mapping[str, int]) -> tuple[str | None, str | None]:
    """``(name, None)`` for a good ``NAME=value`` line, else ``(None, reason)``.

    The reason names the setting only when it is one of ours, never the value.
    """
    name, equals, value = text.partition("=")
    if not equals or not _NAME.fullmatch(name):
        return None, "expected NAME=value (no spaces around '=', no 'export')"
    if name == CONFIG_VARIABLE:
        return None, f"{CONFIG_VARIABLE} cannot be set inside the configuration file"
    if name not in SETTING_NAMES:
        shown = name if _OUR_PREFIX.fullmatch(name) else "this name"
        return None, f"{shown} is not a Chaski setting (see the README's configuration table)"
    if name in seen:
        return None, f"{name} repeats line {seen[name]}"
    if any(char in _SHELL_CHARACTERS for char in value):
        return None, f"{name}: quotes, backslashes, $ and ` are not allowed; write the value bare"
    if any(char.isspace() for char in value):
        return None, f"{name}: the value contains a space or tab"
    if any(not char.isprintable() for char in value):
        return None, f"{name}: the value contains a control or invisible character"
    return name, None


def _read_bytes(path: Path) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such configuration file (check --config or {CONFIG_VARIABLE})"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a configuration file") from None
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"{path}: the configuration file cannot be read ({reason})") from None
    if len(data) > MAX_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_BYTES} bytes; not a configuration file")
    return data


def read_config_file(path: Path) -> ConfigFile:
    """Parse ``path`` strictly (module docstring).

    Raises:
        ConfigError: one line naming the file and, for a bad line, its number.
    """
    data = _read_bytes(path)
    values: dict[str, str] = {}
    lines: dict[str, int] = {}
    for number, raw in enumerate(data.split(b"\n"), start=1):
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ConfigError(f"{path} line {number}: not UTF-8 text") from None
        if text.endswith("\r"):
            raise ConfigError(
                f"{path} line {number}: Windows line ending; save the file with Unix (LF) ones"
            )
        if not text or text.startswith("#"):
            continue
        name, reason = _line_problem(text, lines)
        if name is None:
            raise ConfigError(f"{path} line {number}: {reason}")
        values[name] = text.partition("=")[2]
        lines[name] = number
    _check_mode(path, has_token=bool(values.get(_TOKEN_NAME)))
    return ConfigFile(path=path, values=values, lines=lines)


def _check_mode(path: Path, *, has_token: bool) -> None:
    """Refuse a file every user may change, or one holding the token that every user reads.

    Whoever can write the file can point ``TELEGRAM_BASE_URL`` at their own server and
    receive the token with the next request.
    """
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & stat.S_IWOTH:
        raise ConfigError(
            f"{path}: every user may change this configuration file (mode {mode:o});"
            f" run: chmod o-w {path}"
        )
    if has_token and mode & stat.S_IROTH:
        raise ConfigError(
            f"{path}: holds {_TOKEN_NAME} but every user may read it (mode {mode:o});"
            f" run: chmod o-rwx {path}"
        )


def load_settings(
    environ: Mapping[str, str], config: Path | None, *, need_token: bool
) -> tuple[Settings, list[str]]:
    """Settings from ``config`` (if given) with the environment's non-blank values on top.

    Returns the settings and the notes to show the operator (one per variable the
    environment overrode).

    Raises:
        ConfigError: the file or a value is bad; a value that came from the file is
            reported with the file's name and line.
    """
    if config is None:
        return Settings.from_env(environ, need_token=need_token), []
    parsed = read_config_file(config)
    overridden = sorted(name for name in parsed.values if environ.get(name, "").strip())
    merged = dict(environ)
    merged |= {name: value for name, value in parsed.values.items() if name not in overridden}
    try:
        settings = Settings.from_env(merged, need_token=need_token)
    except ConfigError as exc:
        variable = exc.variable
        if variable is not None and variable in parsed.lines and variable not in overridden:
            raise ConfigError(f"{config} line {parsed.lines[variable]}: {exc}") from None
        raise
    notes = [f"{name} from the environment overrides {config}" for name in overridden]
    return settings, notes
