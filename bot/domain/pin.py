"""PIN rules (M-05, M-13b): normalisation, lockout schedule, records and their repository.

A PIN is the second factor that protects an informant whose phone is seized unlocked, and a
coordinator whose Telegram account is taken over (A2, A5). Six digits are only ~20 bits, so
the protection comes from the lockout, which is defined here once and persisted by storage.

Normalisation rule (T-16), applied to every PIN typed, new or checked:

1. Unicode NFKC (full-width U+FF13 → ``3``, superscript U+00B2 → ``2``, circled U+2460 → ``1``);
2. every whitespace character removed (people type ``123 456``);
3. every remaining character must be a decimal digit of any script (``str.isdecimal``:
   Arabic-Indic U+0663, Devanagari U+0969 …, which NFKC leaves alone) and is mapped to its ASCII
   digit with ``unicodedata.decimal``;
4. 6 to 12 digits, else the input is invalid (a failed attempt when checking a PIN).

Leading zeros are kept (``000123`` is its own PIN). Emoji, letters, signs and empty input
are invalid; input longer than ``MAX_RAW`` characters is refused before normalising.
"""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Protocol, TypeAlias

from bot.domain.errors import DomainError

PIN_MIN = 6
PIN_MAX = 12
#: Longer raw input is refused before NFKC (no work for 100 000-character "PINs").
MAX_RAW = 64
#: Failures that start a timed lock, and the first lock's length (doubling afterwards).
LOCK_AFTER = 5
FIRST_LOCK = timedelta(minutes=15)
#: Failures after which only a coordinator's reset unlocks the PIN.
RESET_AFTER = 10
#: How long "the next plain text is a PIN" stays armed after the bot asked for it.
PROMPT_TTL = timedelta(minutes=2)
#: Upper bound of a PIN session (M-05: ≤ 10 min, configurable below it).
MAX_SESSION = timedelta(minutes=10)


class PinRequired(DomainError):
    """A privileged action needs an open PIN session; ask for the PIN and retry."""


class PinNotSet(PinRequired):
    """A coordinator or administrator must first create a PIN with /pin (mandatory, M-05)."""


class PinLocked(DomainError):
    """Too many failed attempts: locked until ``until``, or until a reset when None."""

    def __init__(self, until: datetime | None) -> None:
        """Keep when the lock ends (None: only a coordinator's reset ends it)."""
        super().__init__("pin locked")
        self.until = until


class PinPurpose(StrEnum):
    """What the next plain text of a member with a pending prompt is."""

    VERIFY = "verify"
    NEW = "new"
    CONFIRM = "confirm"
    DURESS_NEW = "duress_new"
    DURESS_CONFIRM = "duress_confirm"


class Resume(StrEnum):
    """Commands that run by themselves once the PIN they asked for is given: a closed set.

    Each value is stored in a prompt row (``pin_prompts.then_action``), so values never
    change. The command behind each one is handed to the PIN handler at start-up
    (``handlers.pin_continuations``), which refuses to start when one is missing.
    """

    CLAIMS = "estado"
    ALERT_COMPOSE = "alert_compose"
    ALERT_APPROVE = "alert_approve"
    ALERT_LIST = "alert_list"
    CLAIMS_ADMIN = "claims_admin"
    CLAIMS_REVIEW = "claims_review"


class PinStep(StrEnum):
    """The PIN service's own follow-ups after the current PIN; never a handler's."""

    CHANGE = "pin_change"  # /pin: then the new PIN
    DURESS = "pin_duress"  # /pin_duress: then the duress PIN
    DECOY = "decoy"  # a prompt armed inside a decoy session: it pretends, stores nothing


#: What a prompt row may name after a correct PIN.
Then: TypeAlias = Resume | PinStep


def parse_then(value: str | None) -> Then | None:
    """The stored ``then`` of a prompt; None for nothing or a value this version lacks.

    A value from another version (a prompt armed just before an upgrade) is dropped, and
    the member gets the generic "PIN correcto" instead of a command run by surprise.
    """
    if value is None:
        return None
    for kind in (Resume, PinStep):
        try:
            return kind(value)
        except ValueError:
            continue
    return None


class PinRule(StrEnum):
    """What a command declares about the PIN, next to its roles (``handlers.access``)."""

    #: Informant data: shown after the PIN when the member has one; a session opened by the
    #: duress PIN gets the decoy (decided by the use case from the ``PinPass``).
    DATA = "data"
    #: A privileged action: only inside a real session; staff without a PIN create one.
    ACTION = "action"


@dataclass(frozen=True, slots=True)
class PinPass:
    """The PIN decision let this update through; use cases that read protected data take
    one, so they cannot be called before the decision (M-05).

    ``decoy``: the session was opened by the duress PIN; the use case shows its decoy
    (M-13b). Only ``PinService.admit`` makes passes in the bot (tests make their own).
    """

    decoy: bool = False


@dataclass(frozen=True, slots=True)
class PinAsked:
    """The PIN was asked for: a prompt is armed and nothing protected was read."""


@dataclass(frozen=True, slots=True)
class PinLockedOut:
    """Too many failures: the prompt is armed anyway (a PIN typed is swallowed and deleted),
    and the member is told the lock; ``until`` None means only a reset unlocks it."""

    until: datetime | None


@dataclass(frozen=True, slots=True)
class PinMissing:
    """A coordinator or administrator has no PIN: they must create one with /pin first."""


#: Why a command declared with a PIN rule does not run now.
PinStop: TypeAlias = PinAsked | PinLockedOut | PinMissing


class SessionState(StrEnum):
    """Whether PIN-protected data may be shown right now."""

    NOT_NEEDED = "not_needed"  # an informant without a PIN
    OPEN = "open"
    DECOY = "decoy"  # opened by the duress PIN: show the empty decoy, never data
    CLOSED = "closed"


def normalise_pin(text: str) -> str | None:
    """Apply the module's normalisation rule; None when the input is not a valid PIN."""
    if len(text) > MAX_RAW:
        return None
    digits: list[str] = []
    for char in unicodedata.normalize("NFKC", text):
        if char.isspace():
            continue
        if not char.isdecimal():
            return None
        digits.append(str(unicodedata.decimal(char)))
    if not PIN_MIN <= len(digits) <= PIN_MAX:
        return None
    return "".join(digits)


def is_weak(pin: str) -> bool:
    """Refuse PINs an attacker tries first: one repeated digit, a run such as 123456, or a
    date (``looks_like_date``): a birthday is the first thing someone holding the phone and
    the person's papers tries, and the prompt promises "sin fechas"."""
    steps = {(int(b) - int(a)) % 10 for a, b in itertools.pairwise(pin)}
    return (len(steps) == 1 and steps <= {0, 1, 9}) or looks_like_date(pin)


#: Day, month and year positions of the date forms people type: day first (Peru), month
#: first, year first; two-digit years in six digits, four-digit years in eight.
_SIX_DIGIT_DATES = ("DDMMYY", "MMDDYY", "YYMMDD")
_EIGHT_DIGIT_DATES = ("DDMMYYYY", "MMDDYYYY", "YYYYMMDD")


def looks_like_date(pin: str) -> bool:
    """Whether a normalised PIN reads as a real calendar date in a common form.

    Six digits: ``DDMMYY``, ``MMDDYY`` or ``YYMMDD`` (any two-digit year, so ``150319``);
    eight digits: ``DDMMYYYY``, ``MMDDYYYY`` or ``YYYYMMDD`` with a year 1900-2099 (so
    ``19900315``). About one six-digit PIN in ten is refused; the others stay plenty.
    """
    forms = {6: _SIX_DIGIT_DATES, 8: _EIGHT_DIGIT_DATES}.get(len(pin), ())
    return any(_is_date(pin, form) for form in forms)


def _is_date(pin: str, form: str) -> bool:
    day = int(pin[form.index("DD") : form.index("DD") + 2])
    month = int(pin[form.index("MM") : form.index("MM") + 2])
    year_at = form.index("Y")
    year_text = pin[year_at : year_at + form.count("Y")]
    years = (
        [int(year_text)] if len(year_text) == 4 else [1900 + int(year_text), 2000 + int(year_text)]
    )
    for year in years:
        if not 1900 <= year <= 2099:
            continue
        try:
            date(year, month, day)
        except ValueError:
            continue
        return True
    return False


def lock_after_failure(failures: int, now: datetime) -> datetime | None:
    """When a timed lock ends after ``failures`` consecutive failures (None: no timed lock).

    5 → 15 min, 6 → 30, 7 → 60, 8 → 120, 9 → 240; from ``RESET_AFTER`` on a reset is needed
    (see ``needs_reset``), so no end time is returned.
    """
    if failures < LOCK_AFTER or failures >= RESET_AFTER:
        return None
    return now + FIRST_LOCK * (1 << (failures - LOCK_AFTER))


def needs_reset(failures: int) -> bool:
    """Whether only a coordinator's reset can unlock the PIN."""
    return failures >= RESET_AFTER


@dataclass(frozen=True, slots=True)
class PinRecord:
    """A member's PIN state; hashes are ``scrypt$…`` strings (see ``bot.services.pin``)."""

    member_id: int
    pin_hash: str | None
    duress_hash: str | None
    failures: int
    locked_until: datetime | None
    reset_required: bool
    session_until: datetime | None
    session_decoy: bool
    unlink_at: datetime | None

    def locked(self, now: datetime) -> PinLocked | None:
        """The lock in force at ``now``, if any."""
        if self.reset_required:
            return PinLocked(None)
        if self.locked_until is not None and self.locked_until > now:
            return PinLocked(self.locked_until)
        return None


@dataclass(frozen=True, slots=True)
class PinPrompt:
    """An armed prompt: the member's next plain text is handled as ``purpose``.

    ``then`` names what to do after a successful check (``Resume.CLAIMS``); ``pending_hash``
    is the hash of a new PIN awaiting confirmation.
    """

    member_id: int
    purpose: PinPurpose
    expires_at: datetime
    then: Then | None = None
    pending_hash: str | None = None


class PinRepository(Protocol):
    """Persisted PIN state and prompts (storage seals the hashes)."""

    async def get(self, member_id: int) -> PinRecord | None:
        """The member's PIN record, if they ever set a PIN or failed one."""

    async def set_pin(self, member_id: int, pin_hash: str, now: datetime) -> None:
        """Store a new PIN hash; clears failures and locks."""

    async def set_duress(self, member_id: int, duress_hash: str | None, now: datetime) -> None:
        """Store (or remove, with None) the duress PIN hash."""

    async def add_failure(self, member_id: int, now: datetime) -> int:
        """Count one failed attempt (creating the record if needed); return the new count."""

    async def set_lock(
        self, member_id: int, locked_until: datetime | None, reset_required: bool
    ) -> None:
        """Record the lock computed from the failure count."""

    async def open_session(
        self, member_id: int, until: datetime, *, decoy: bool, now: datetime
    ) -> None:
        """Record a successful check: failures cleared, a (decoy) session until ``until``."""

    async def schedule_unlink(self, member_id: int, at: datetime) -> None:
        """Unlink the member at ``at`` (after a duress PIN's decoy is deleted)."""

    async def due_unlinks(self, now: datetime) -> list[int]:
        """Members whose scheduled unlink is due."""

    async def clear(self, member_id: int) -> None:
        """Forget the member's PIN, duress PIN, lock, session and prompt (reset, unlink)."""

    async def set_prompt(self, prompt: PinPrompt) -> None:
        """Arm (or replace) the member's prompt."""

    async def get_prompt(self, member_id: int) -> PinPrompt | None:
        """The member's prompt, expired or not."""

    async def prompt_armed_for(self, telegram_id: int, now: datetime) -> bool:
        """Whether the member linked to this account has an unexpired prompt (cheap check)."""

    async def clear_prompt(self, member_id: int) -> None:
        """Disarm the member's prompt."""

    async def purge_prompts(self, now: datetime) -> int:
        """Delete expired prompts; return how many."""
