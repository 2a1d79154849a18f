"""Settings from the environment, validated once at start (fail closed on secrets).

Every variable is documented in the README's configuration table; a test keeps the two in
step. A bad value stops the bot with one line naming the variable, never a traceback.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.alerts import QuietHours

#: Telegram bot tokens look like ``123456:ABC-def_…``.
_TOKEN = re.compile(r"\d{1,20}:[A-Za-z0-9_-]{20,100}")
#: Telegram usernames: a letter, then letters, digits and underscores (at most 32).
BOT_USERNAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{3,31}")


DEFAULT_BASE_URL = "https://api.telegram.org/bot"
DEFAULT_DB = "data/chaski.sqlite3"
DEFAULT_KEY_DIR = "keys"


#: Every variable ``Settings.from_env`` reads, in the README's order (the configuration file
#: may set exactly these; tests/test_config_file.py keeps the list in step with the code).
SETTING_NAMES = (
    "TELEGRAM_BOT_TOKEN",
    "TELEGRAM_BASE_URL",
    "CHASKI_BOT_USERNAME",
    "CHASKI_DB",
    "CHASKI_KEY_DIR",
    "CHASKI_TIMEZONE",
    "CHASKI_DELETE_AFTER_MINUTES",
    "CHASKI_CONCURRENT_UPDATES",
    "CHASKI_SEND_RATE",
    "CHASKI_ALERT_APPROVAL_THRESHOLD",
    "CHASKI_POLL_TIMEOUT",
    "CHASKI_QUIET_HOURS",
    "CHASKI_RATE_PER_MINUTE",
    "CHASKI_RATE_PER_DAY",
    "CHASKI_RATE_GLOBAL_PER_SECOND",
    "CHASKI_PIN_SESSION_MINUTES",
    "CHASKI_INVITE_ALARM_PER_HOUR",
    "CHASKI_QUECHUA_DRAFTS",
    "CHASKI_DIGEST_HOUR",
    "CHASKI_STALLED_DAYS",
    "CHASKI_CHART_TIMEOUT",
)

#: The variable naming the configuration file (``bot.config_file``); ``--config`` overrides it.
CONFIG_VARIABLE = "CHASKI_CONFIG"


class ConfigError(Exception):
    """A setting is missing or invalid; the message names the variable, never its value."""

    @property
    def variable(self) -> str | None:
        """The setting this error is about: every message starts with the variable's name."""
        first = str(self).split(" ", 1)[0]
        return first if first in SETTING_NAMES else None


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated configuration; build with ``Settings.from_env`` or directly in tests."""

    bot_token: str | None = field(default=None, repr=False)
    base_url: str = DEFAULT_BASE_URL
    database_path: Path = Path(DEFAULT_DB)
    key_dir: Path = Path(DEFAULT_KEY_DIR)
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("America/Lima"))
    #: Minutes before a sensitive reply (claim status, history) is deleted (M-10).
    delete_after_minutes: int = 10
    #: Updates of different chats handled at once; one chat's updates stay in order. 32: with
    #: Telegram a round trip away, the updates in flight bound the rate (16 fell below a bare
    #: echo bot's); more in flight also lets more writes share a commit (docs/performance.md).
    concurrent_updates: int = 32
    #: Global outbox send rate, messages per second (Telegram's ceiling is about 30).
    send_rate: float = 25.0
    #: Seconds between two messages to one chat, replies and outbox alike (Telegram allows
    #: about one a second; the margin absorbs network jitter). 0 lifts it (functional tests).
    per_chat_interval: float = 1.1
    #: Alerts to more recipients than this need a second person's approval (M-14).
    alert_approval_threshold: int = 200
    #: Long-polling timeout in seconds.
    poll_timeout: int = 30
    #: Local hours in which non-urgent alerts wait (``CHASKI_QUIET_HOURS``, default 21-6).
    quiet_hours: QuietHours | None = field(default_factory=lambda: QuietHours(21, 6))
    #: The bot's @username without the "@", for invite deep links (``chaski invite create``).
    bot_username: str | None = None
    #: Updates one account may send per minute and per day; the excess is dropped (M-06).
    rate_per_minute: int = 20
    rate_per_day: int = 200
    #: Updates per second over all accounts; the excess is dropped (M-06, a flood's ceiling).
    rate_global_per_second: int = 300
    #: Minutes a verified PIN keeps protected data and privileged commands open (M-05).
    pin_session_minutes: int = 10
    #: Local hour of the coordinators' daily digest (``CHASKI_DIGEST_HOUR``, issue #15.3).
    digest_hour: int = 7
    #: Days in one status after which the digest calls an open claim stalled.
    stalled_days: int = 30
    #: Refused registrations per hour, over all accounts, that alarm the admins (T-06).
    invite_alarm_per_hour: int = 50
    #: Serve unreviewed Quechua drafts (``CHASKI_QUECHUA_DRAFTS``). Off: a Quechua member sees
    #: only signed-off Quechua and Spanish for the rest (quechua release gate). On is the
    #: operator's explicit, logged decision: development, tests, a supervised trial.
    quechua_drafts: bool = False
    #: scrypt cost of new PIN hashes as log2(N) (docs/threat-model.md §9: N = 2**15). Never
    #: read from the environment: only the test suite lowers it, to spend its time on
    #: behaviour rather than key stretching; every hash records the cost it was made with.
    pin_scrypt_log_n: int = 15
    #: Seconds ``/informe``'s chart may take in its child process before it is killed and the
    #: coordinator reads the report without it (``CHASKI_CHART_TIMEOUT``, issue #16.6).
    chart_timeout: float = 30.0
    #: The interpreter that runs a chart's child process: the one running the bot. Never
    #: read from the environment (a setting that names a program to run with report data is
    #: a needless risk); only the test suite points it elsewhere, at a program that does not
    #: exist, to see a child that cannot start.
    chart_python: str = field(default_factory=lambda: sys.executable)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, *, need_token: bool = True
    ) -> Settings:
        """Read and validate ``CHASKI_*`` and ``TELEGRAM_*`` variables.

        Raises:
            ConfigError: naming the first bad variable.
        """
        env = os.environ if env is None else env
        token = env.get("TELEGRAM_BOT_TOKEN", "").strip() or None
        if need_token and token is None:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather and export it"
            )
        if token is not None and not _TOKEN.fullmatch(token):
            raise ConfigError("TELEGRAM_BOT_TOKEN does not look like a bot token (id:secret)")
        base_url = env.get("TELEGRAM_BASE_URL", "").strip() or DEFAULT_BASE_URL
        if not re.fullmatch(r"https?://[^\s]+", base_url):
            raise ConfigError(
                "TELEGRAM_BASE_URL must be an http(s) URL such as http://127.0.0.1:8081/bot"
            )
        tz_name = env.get("CHASKI_TIMEZONE", "").strip() or "America/Lima"
        try:
            timezone = ZoneInfo(tz_name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ConfigError("CHASKI_TIMEZONE is not a known IANA time zone") from None
        return cls(
            bot_token=token,
            base_url=base_url,
            database_path=Path(env.get("CHASKI_DB", "").strip() or DEFAULT_DB),
            key_dir=Path(env.get("CHASKI_KEY_DIR", "").strip() or DEFAULT_KEY_DIR),
            timezone=timezone,
            delete_after_minutes=_int(env, "CHASKI_DELETE_AFTER_MINUTES", 10, 1, 60),
            concurrent_updates=_int(env, "CHASKI_CONCURRENT_UPDATES", 32, 1, 64),
            send_rate=float(_int(env, "CHASKI_SEND_RATE", 25, 1, 30)),
            alert_approval_threshold=_int(env, "CHASKI_ALERT_APPROVAL_THRESHOLD", 200, 1, 100_000),
            poll_timeout=_int(env, "CHASKI_POLL_TIMEOUT", 30, 0, 60),
            quiet_hours=_quiet_hours(env),
            bot_username=_bot_username(env),
            rate_per_minute=(per_minute := _int(env, "CHASKI_RATE_PER_MINUTE", 20, 1, 600)),
            rate_per_day=_rate_per_day(env, per_minute),
            rate_global_per_second=_int(env, "CHASKI_RATE_GLOBAL_PER_SECOND", 300, 1, 100_000),
            pin_session_minutes=_int(env, "CHASKI_PIN_SESSION_MINUTES", 10, 1, 10),
            invite_alarm_per_hour=_int(env, "CHASKI_INVITE_ALARM_PER_HOUR", 50, 1, 100_000),
            quechua_drafts=_on_off(env, "CHASKI_QUECHUA_DRAFTS"),
            digest_hour=_int(env, "CHASKI_DIGEST_HOUR", 7, 0, 23),
            stalled_days=_int(env, "CHASKI_STALLED_DAYS", 30, 1, 3650),
            chart_timeout=float(_int(env, "CHASKI_CHART_TIMEOUT", 30, 5, 300)),
        )


def _int(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number between {low} and {high}") from None
    if not low <= value <= high:
        raise ConfigError(f"{name} must be a whole number between {low} and {high}")
    return value


def _rate_per_day(env: Mapping[str, str], per_minute: int) -> int:
    """``CHASKI_RATE_PER_DAY``, judged together with the per-minute limit it must not undercut.

    Its default (200) is below what ``CHASKI_RATE_PER_MINUTE`` may be set to (up to 600): a
    per-minute limit raised alone must be refused at start, naming the fix, rather than let
    the limiter fail later inside the running bot (#11.6).
    """
    if not env.get("CHASKI_RATE_PER_DAY", "").strip() and per_minute > 200:
        raise ConfigError(
            "CHASKI_RATE_PER_DAY (default 200) must be at least CHASKI_RATE_PER_MINUTE"
            f" ({per_minute}): set CHASKI_RATE_PER_DAY={per_minute} or more, or lower"
            " CHASKI_RATE_PER_MINUTE"
        )
    # The default stays a literal here: tests/test_config.py reads every _int call's bounds.
    return _int(env, "CHASKI_RATE_PER_DAY", 200, per_minute, 100_000)


def _on_off(env: Mapping[str, str], name: str) -> bool:
    """A switch: ``on`` or ``off`` (also ``1``/``0``, ``yes``/``no``, ``true``/``false``)."""
    raw = env.get(name, "").strip().lower()
    if raw in {"", "off", "0", "no", "false"}:
        return False
    if raw in {"on", "1", "yes", "true"}:
        return True
    raise ConfigError(f"{name} must be on or off")


def _bot_username(env: Mapping[str, str]) -> str | None:
    """``CHASKI_BOT_USERNAME`` without a leading "@", or None when unset."""
    raw = env.get("CHASKI_BOT_USERNAME", "").strip().removeprefix("@")
    if not raw:
        return None
    if not BOT_USERNAME.fullmatch(raw):
        raise ConfigError(
            "CHASKI_BOT_USERNAME must be the bot's username such as chaski_bot"
            " (4-32 characters: a letter, then letters, digits or underscores)"
        )
    return raw


def _quiet_hours(env: Mapping[str, str]) -> QuietHours | None:
    """``CHASKI_QUIET_HOURS``: ``START-END`` local hours (default ``21-6``), or ``off``."""
    raw = env.get("CHASKI_QUIET_HOURS", "").strip() or "21-6"
    try:
        return QuietHours.parse(raw)
    except ValueError:
        raise ConfigError(
            "CHASKI_QUIET_HOURS must be START-END hours between 0 and 23 such as 21-6, or off"
        ) from None
