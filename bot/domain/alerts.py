"""Safety alerts: templates, drafts, alerts, deliveries, answers, help requests and their port.

An alert is a safety broadcast to the informants of some regions (architecture.md §8). Its text
comes from a pre-translated template with named placeholders, or is free text written in both
languages; free text, template values that are not on the administrators' list of places,
alerts outside the sender's own regions and very large alerts wait for a second person's
approval (M-14) before any outbox row exists (T-14); ``required_approval`` says whose. The
rules live here, pure, so services and tests share them.

Nothing in a template asks anyone to go somewhere or share a location: the onboarding rule
"the bot never asks you to go anywhere or share your location" (threat model, A3) is what makes
a fake alert recognisable as fake.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from enum import StrEnum
from typing import Protocol
from zoneinfo import ZoneInfo

from bot.domain.errors import ValidationError
from bot.domain.models import Member
from bot.domain.text import clean_name, clean_text

#: Longest free text per language: leaves room for the header and the Spanish copy under a
#: Quechua text inside Telegram's 4 096-character limit (M-09).
MAX_FREE_TEXT = 1000
#: A draft untouched for this long is stale; pressing its buttons is "menú vencido".
DRAFT_TTL = timedelta(hours=1)
#: How far back ``/alertas`` and the tally tick look.
RECENT_WINDOW = timedelta(hours=24)


class Severity(StrEnum):
    """How loud an alert is: only urgent alerts ignore quiet hours."""

    INFO = "info"
    WARNING = "warning"
    URGENT = "urgent"


class AlertStatus(StrEnum):
    """Lifecycle: pending approval, then sending (outbox rows exist), rejected by an approver
    or withdrawn by its author."""

    PENDING = "pending"
    SENDING = "sending"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"


class Approval(StrEnum):
    """Who must approve an alert before anything is sent (M-14; issue #12.3).

    Never the author. ``ADMIN``: text a person wrote (free text, or a template value that is
    not a listed place) or more recipients than the threshold: only an administrator, so two
    colluding or coerced coordinators are not enough to lure informants. ``PEER``: a template
    alert beyond the author's own regions: an administrator, or a coordinator of every
    target region.
    """

    NONE = "none"
    PEER = "peer"
    ADMIN = "admin"


class RejectReason(StrEnum):
    """Why an approver refused an alert; told to its author (issue #12.4). Keys, never text."""

    DOUBTFUL = "doubtful"
    DETAILS = "details"
    NOT_NEEDED = "not_needed"


class Answer(StrEnum):
    """A recipient's answer to an alert."""

    SAFE = "safe"
    HELP = "help"


@dataclass(frozen=True, slots=True)
class AlertTemplate:
    """A pre-translated alert: a stable key and the placeholders it needs.

    The Spanish msgid itself lives with the presentation (``handlers.alerts.renderers``),
    because only there may strings be marked for translation; a test keeps the placeholder
    sets in step.
    """

    key: str
    placeholders: tuple[str, ...] = ()


#: The shipped templates. Placeholder values are language-neutral (a place name, a clock
#: time), so one value serves both languages.
TEMPLATES: Mapping[str, AlertTemplate] = {
    template.key: template
    for template in (
        AlertTemplate("avoid_area", ("place", "time")),
        AlertTemplate("stay_home"),
        AlertTemplate("meeting_cancelled"),
        AlertTemplate("check_messages"),
    )
}

_TIME = re.compile(r"([01]?\d|2[0-3])[:.h]([0-5]\d)")


def clean_param(name: str, value: str) -> str:
    """Validate one placeholder value (M-09): a one-line name, or a clock time ``HH:MM``.

    Raises:
        ValidationError: empty, too long, hidden characters, mixed scripts, or a bad time.
    """
    if name == "time":
        match = _TIME.fullmatch(value.strip())
        if match is None:
            raise ValidationError("time: expected HH:MM")
        return f"{int(match.group(1)):02d}:{match.group(2)}"
    return clean_name(value, field=name)


def listed_place(value: str, places: Collection[str]) -> str:
    """The listed spelling of ``value`` if it names one of ``places`` in any case; else
    ``value`` unchanged."""
    folded = value.casefold()
    return next((place for place in places if place.casefold() == folded), value)


def template_params(template: AlertTemplate, values: Sequence[str]) -> dict[str, str]:
    """Bind positional values (``Pichari | 18:00``) to the template's placeholders.

    Raises:
        ValidationError: wrong number of values, or a value ``clean_param`` refuses.
    """
    if len(values) != len(template.placeholders):
        raise ValidationError(f"params: expected {len(template.placeholders)} values")
    return {
        name: clean_param(name, value)
        for name, value in zip(template.placeholders, values, strict=True)
    }


def free_text(text_es: str, text_qu: str) -> tuple[str, str]:
    """Validate a free-text alert's two versions (M-09, T-24).

    Raises:
        ValidationError: either version empty, too long, or with hidden characters.
    """
    return (
        clean_text(text_es, field="text_es", max_len=MAX_FREE_TEXT),
        clean_text(text_qu, field="text_qu", max_len=MAX_FREE_TEXT),
    )


@dataclass(frozen=True, slots=True)
class AlertContent:
    """What an alert says: a template and its values, or free text in both languages."""

    template: str | None = None
    params: Mapping[str, str] = field(default_factory=dict)
    text_es: str | None = None
    text_qu: str | None = None

    @property
    def is_free_text(self) -> bool:
        """Free text was written by a person, not pre-translated: it needs approval."""
        return self.template is None

    def unlisted_values(self, places: Collection[str]) -> bool:
        """Whether a template value could carry an instruction (issue #12.2).

        Clock times are strict ``HH:MM``; every other value must be one of ``places``, the
        names administrators keep. Anything else was written by the sender, like free text.
        """
        return any(name != "time" and value not in places for name, value in self.params.items())

    @property
    def complete(self) -> bool:
        """Whether there is enough to send: a known template with all values, or both texts."""
        if self.template is None:
            return bool(self.text_es and self.text_qu)
        template = TEMPLATES.get(self.template)
        return template is not None and set(template.placeholders) == set(self.params)


@dataclass(frozen=True, slots=True)
class AlertDraft:
    """A coordinator's alert being composed; persisted so a restart does not drop it.

    ``nonce`` names this composition: confirming twice with the same nonce creates one
    alert (T-33), and a preview from an older composition cannot confirm a newer one.
    """

    member_id: int
    nonce: str
    content: AlertContent
    regions: tuple[str, ...]
    severity: Severity | None
    updated_at: datetime

    def stale(self, now: datetime) -> bool:
        """Whether the draft is too old to act on."""
        return now - self.updated_at > DRAFT_TTL


@dataclass(frozen=True, slots=True)
class Alert:
    """A safety broadcast; ``tally_message_id`` is the sender's live summary message."""

    id: int
    creator_id: int
    nonce: str
    content: AlertContent
    severity: Severity
    regions: tuple[str, ...]
    status: AlertStatus
    recipients: int
    created_at: datetime
    decided_by: int | None = None
    decided_at: datetime | None = None
    tally_message_id: int | None = None
    approval: Approval = Approval.NONE
    reason: RejectReason | None = None


@dataclass(frozen=True, slots=True)
class AlertTally:
    """Counts for the sender's summary: outbox outcomes and recipients' answers."""

    total: int = 0
    queued: int = 0
    sent: int = 0
    failed: int = 0
    blocked: int = 0
    cancelled: int = 0
    safe: int = 0
    help: int = 0

    @property
    def no_answer(self) -> int:
        """Delivered but not answered yet."""
        return max(0, self.sent - self.safe - self.help)

    def signature(self) -> str:
        """A compact text that changes whenever any count changes (tally coalescing)."""
        return ",".join(
            str(n)
            for n in (
                self.total,
                self.queued,
                self.sent,
                self.failed,
                self.blocked,
                self.cancelled,
                self.safe,
                self.help,
            )
        )


@dataclass(frozen=True, slots=True)
class HelpRequest:
    """A recipient pressed *Necesito ayuda*; the region's coordinators must acknowledge it."""

    id: int
    alert_id: int
    member_id: int
    region: str
    created_at: datetime
    acked_by: int | None = None
    acked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class RecipientAnswer:
    """One recipient of a sent alert: their answer, and whether the alert reached them.

    ``received`` is True once the recipient's alert row was sent; a row still waiting,
    failed or blocked leaves it False (issue #12.5: who has not answered, and why).
    """

    member_id: int
    answer: Answer | None
    received: bool


@dataclass(frozen=True, slots=True)
class AnswerOutcome:
    """What recording an answer did: ``changed`` is False for a repeated tap (T-33)."""

    alert: Alert
    answer: Answer
    changed: bool
    help_request: HelpRequest | None = None
    #: An edit of the tally was still waiting, so none was queued for this answer: the
    #: caller asks for ``refresh_tally`` shortly (issue #13.4: a storm of answers computes
    #: the counts about once a second, not once per answer).
    tally_deferred: bool = False


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local hours in which non-urgent alerts wait (``start`` inclusive, ``end`` exclusive).

    ``QuietHours(21, 6)`` is 21:00-06:00; the interval may wrap midnight.
    """

    start: int
    end: int

    def __post_init__(self) -> None:
        """Reject impossible hours (the config layer turns this into a ConfigError)."""
        if not (0 <= self.start <= 23 and 0 <= self.end <= 23) or self.start == self.end:
            raise ValueError("quiet hours need two different hours between 0 and 23")

    @classmethod
    def parse(cls, text: str) -> QuietHours | None:
        """Parse ``"21-6"``; ``"off"`` means no quiet hours.

        Raises:
            ValueError: anything else.
        """
        value = text.strip().lower()
        if value in {"off", "none", "0"}:
            return None
        match = re.fullmatch(r"(\d{1,2})\s*-\s*(\d{1,2})", value)
        if match is None:
            raise ValueError("expected START-END hours such as 21-6, or off")
        return cls(int(match.group(1)), int(match.group(2)))

    def contains(self, local: datetime) -> bool:
        """Whether a local time falls inside the quiet interval."""
        hour = local.hour
        if self.start < self.end:
            return self.start <= hour < self.end
        return hour >= self.start or hour < self.end

    def release(self, now: datetime, tz: ZoneInfo) -> datetime | None:
        """When a non-urgent message created at ``now`` may go out; None means at once.

        Returns the next local ``end:00`` after ``now`` (aware, in ``tz``) while inside the
        quiet interval.
        """
        local = now.astimezone(tz)
        if not self.contains(local):
            return None
        end = datetime.combine(local.date(), time(self.end), tzinfo=tz)
        if end <= local:
            end = datetime.combine(local.date() + timedelta(days=1), time(self.end), tzinfo=tz)
        return end


def required_approval(
    content: AlertContent,
    regions: Sequence[str],
    creator: Member,
    recipients: int,
    limit: int,
    *,
    places: Collection[str],
) -> Approval:
    """M-14: whose approval an alert needs (``Approval`` says why each level).

    ``places`` are the names administrators keep (the regions): a template value outside
    them is treated like free text (issue #12.2).
    """
    if content.is_free_text or content.unlisted_values(places) or recipients > limit:
        return Approval.ADMIN
    if not set(regions) <= set(creator.regions):
        return Approval.PEER
    return Approval.NONE


class AlertRepository(Protocol):
    """Drafts, alerts, deliveries, answers and help requests (texts and values sealed)."""

    async def save_draft(self, draft: AlertDraft) -> None:
        """Insert or replace the member's one draft."""

    async def get_draft(self, member_id: int) -> AlertDraft | None:
        """The member's draft, if any."""

    async def delete_draft(self, member_id: int) -> None:
        """Forget the member's draft."""

    async def add(self, alert: Alert) -> Alert:
        """Store a new alert (its ``id`` is ignored) and return it with its id.

        Raises:
            Conflict: the creator already has an alert with this nonce.
        """

    async def get(self, alert_id: int) -> Alert | None:
        """An alert by id."""

    async def by_nonce(self, creator_id: int, nonce: str) -> Alert | None:
        """The creator's alert made from the draft with ``nonce``."""

    async def decide(
        self,
        alert_id: int,
        status: AlertStatus,
        decided_by: int | None,
        now: datetime,
        recipients: int,
        *,
        reason: RejectReason | None = None,
    ) -> bool:
        """Move a pending alert to ``status``; False if it was no longer pending (CAS).

        ``WITHDRAWN`` has no decider (the author withdrew it); ``reason`` goes with
        ``REJECTED``.
        """

    async def set_tally_message(self, alert_id: int, message_id: int) -> None:
        """Remember the sender's summary message, which tally rows edit."""

    async def add_deliveries(self, alert_id: int, member_ids: Sequence[int]) -> None:
        """One delivery record per recipient."""

    async def pending(self) -> list[Alert]:
        """Alerts waiting for approval, oldest first."""

    async def recent(self, since: datetime, status: AlertStatus | None = None) -> list[Alert]:
        """Alerts created since ``since``, newest first."""

    async def record_answer(
        self, alert_id: int, member_id: int, answer: Answer, now: datetime
    ) -> bool | None:
        """Store an answer: None if the member never received the alert, False if repeated.

        A *help* after *safe* replaces it (the situation changed); anything after *help* is a
        repeat.
        """

    async def tally(self, alert_id: int) -> AlertTally:
        """Outbox outcomes and answers of one alert."""

    async def tally_waiting(self, alert_id: int) -> bool:
        """Whether an edit of the alert's tally is queued and not yet being sent."""

    async def bump_tally(self, alert_id: int, signature: str) -> int | None:
        """Store a new tally signature; its new version, or None if unchanged (coalescing)."""

    async def add_help(self, request: HelpRequest) -> HelpRequest:
        """Store a help request (its ``id`` is ignored) and return it with its id."""

    async def get_help(self, help_id: int) -> HelpRequest | None:
        """A help request by id."""

    async def help_for(self, alert_id: int) -> list[HelpRequest]:
        """The alert's help requests, oldest first."""

    async def answers(self, alert_id: int) -> list[RecipientAnswer]:
        """Every recipient of the alert with their answer and whether it reached them."""

    async def cancel_waiting(self, alert_id: int, now: datetime) -> int:
        """Cancel the alert's rows still waiting to be sent (quiet hours, retries); the count.

        Rows already leased by the sender are not touched (their compare-and-set wins).
        """

    async def ack_help(self, help_id: int, member_id: int, now: datetime) -> bool:
        """Mark acknowledged by ``member_id``; False if someone already did (CAS)."""
