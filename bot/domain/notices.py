"""Every kind of proactive message as a typed value: one frozen dataclass per kind.

A service that wants the bot to say something on its own initiative builds one of these
notices and puts it in an :class:`~bot.domain.outbox.OutboxMessage`. The outbox stores it
serialised (``template`` names the kind, ``params`` holds its fields as strings, sealed per
row, M-07); the sender reads it back with :func:`decode_notice` at send time and hands the
typed value to the notifier, which renders it in the recipient's language with the renderer
the handlers' table gives for its type (``handlers/renderers.py``).

The serialised form is the one the outbox has always stored (same template names, same
parameter keys), so rows queued before notices were typed are read back as they are. What
cannot be read back (an unknown template, a missing or malformed field) raises
:class:`NoticeError`, which names the template and the field, never a value: such a row is
declared dead instead of being sent with a guessed "?".

Adding a kind: docs/architecture.md §4.1.
"""

from __future__ import annotations

import json
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import Field, dataclass, fields
from enum import StrEnum
from typing import ClassVar, Self, Union, cast, get_args, get_origin, get_type_hints

from bot.domain.alerts import TEMPLATES, AlertContent, AlertTally, RejectReason, Severity
from bot.domain.models import Role

#: Telegram's ``deleteMessages`` takes at most 100 ids per call.
MAX_DELETE_IDS = 100

_INTEGER = re.compile(r"-?[0-9]+")


class NoticeError(ValueError):
    """A stored notice cannot be read back: unknown template, missing or malformed field.

    The message names the template and the field only (never a value: values are content).
    """


class UnknownNotice(NoticeError):
    """The stored template names no notice type (a row of a kind this version lacks)."""


class Notice:
    """Base of every notice type: a frozen dataclass with a ``TEMPLATE`` name.

    The default (de)serialisation maps each field to one parameter of the same name:
    ``str`` as is, ``int`` in decimal, ``bool`` as ``"1"``/``""``, a ``StrEnum`` by its
    value, and ``X | None`` as an absent key. Kinds with richer fields override
    :meth:`to_params` and :meth:`from_params`.
    """

    __slots__ = ()

    #: The stored ``outbox.template`` value; unique among :data:`NOTICE_TYPES`.
    TEMPLATE: ClassVar[str]
    #: A parameter holding a JSON object that the outbox unites across the rows of one
    #: correlation it replaces (``OutboxMessage.merge``); None for most kinds.
    MERGE: ClassVar[str | None] = None

    def to_params(self) -> dict[str, str]:
        """The notice as the outbox stores it: named string values."""
        params: dict[str, str] = {}
        for item in fields(cast("_Dataclass", self)):
            value = getattr(self, item.name)
            if value is None:
                continue
            if isinstance(value, bool):
                params[item.name] = "1" if value else ""
            else:
                params[item.name] = str(value)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Read a stored notice back.

        Raises:
            NoticeError: a required field is missing, or a value does not parse.
        """
        hints = _hints(cls)
        values = {
            item.name: _decode(cls.TEMPLATE, item.name, hints[item.name], params)
            for item in fields(cast("_Dataclass", cls))
        }
        return cast("Callable[..., Self]", cls)(**values)


class _Dataclass:
    """Only for ``cast``: ``dataclasses.fields`` wants a dataclass, which every notice is."""

    __dataclass_fields__: ClassVar[dict[str, Field[object]]]


_HINTS: dict[type[Notice], dict[str, object]] = {}


def _hints(cls: type[Notice]) -> dict[str, object]:
    """The resolved field annotations of a notice type (resolved once per type)."""
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = get_type_hints(cls)
    return hints


def _decode(template: str, name: str, hint: object, params: Mapping[str, str]) -> object:
    """One field from ``params`` by its annotation (see :class:`Notice`)."""
    if get_origin(hint) in {Union, types.UnionType}:
        (inner,) = [arg for arg in get_args(hint) if arg is not type(None)]
        return None if name not in params else _decode(template, name, inner, params)
    if name not in params:
        raise NoticeError(f"{template}: field {name!r} is missing")
    raw = params[name]
    if hint is str:
        return raw
    if hint is bool:
        if raw not in {"1", ""}:
            raise NoticeError(f"{template}: field {name!r} is not a flag")
        return raw == "1"
    if hint is int:
        return _integer(template, name, raw)
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        try:
            return hint(raw)
        except ValueError:
            raise NoticeError(f"{template}: field {name!r} has an unknown value") from None
    raise TypeError(f"{template}: field {name!r} has no default codec")  # a programming error


def _integer(template: str, name: str, raw: str) -> int:
    if not _INTEGER.fullmatch(raw):
        raise NoticeError(f"{template}: field {name!r} is not a number")
    return int(raw)


def _require(template: str, params: Mapping[str, str], name: str) -> str:
    try:
        return params[name]
    except KeyError:
        raise NoticeError(f"{template}: field {name!r} is missing") from None


# ---------------------------------------------------------------------- deletions


def parse_message_ids(params: Mapping[str, str]) -> list[int] | None:
    """The ids of a deletion row, or None if the parameter is missing or malformed."""
    try:
        ids = [int(part) for part in params.get("message_ids", "").split(",")]
    except ValueError:
        return None
    if not ids or len(ids) > MAX_DELETE_IDS or any(i <= 0 for i in ids):
        return None
    return ids


@dataclass(frozen=True, slots=True)
class DeleteMessages(Notice):
    """Not a message but a deletion of up to 100 of the bot's messages in one chat (M-10).

    ``chat`` is set only on a wipe's rows (the member is unlinked, so the chat cannot be
    resolved at send time, issue #11.1). The notifier deletes instead of rendering.
    """

    TEMPLATE: ClassVar[str] = "delete"

    message_ids: tuple[int, ...]
    chat: int | None = None

    def to_params(self) -> dict[str, str]:
        """``message_ids`` comma-joined; ``chat`` only when set."""
        params = {"message_ids": ",".join(map(str, self.message_ids))}
        if self.chat is not None:
            params["chat"] = str(self.chat)
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError unless 1..100 positive ids and, if any, a positive chat."""
        ids = parse_message_ids(params)
        if ids is None:
            raise NoticeError(f"{cls.TEMPLATE}: field 'message_ids' is missing or malformed")
        chat = None
        if "chat" in params:
            chat = _integer(cls.TEMPLATE, "chat", params["chat"])
            if chat <= 0:
                raise NoticeError(f"{cls.TEMPLATE}: field 'chat' is not a private chat")
        return cls(tuple(ids), chat)


@dataclass(frozen=True, slots=True)
class ChatMenu(Notice):
    """Not a message but a chat's command menu: the commands of ``role`` in the member's
    language, or none when ``role`` is None (issue #16.3).

    Written by a change made where Telegram is not at hand (``chaski members set-role``,
    ``members unlink``), in the change's transaction; the running bot's sender sets or
    removes the menu of that chat instead of rendering a message. ``chat`` is set only on an
    unlink's row (the link is shredded in the same transaction, so the chat cannot be
    resolved at send time, as for a wipe's deletions).
    """

    TEMPLATE: ClassVar[str] = "chat_menu"

    role: Role | None = None
    chat: int | None = None


# ---------------------------------------------------------------------- general notes


@dataclass(frozen=True, slots=True)
class News(Notice):
    """A content-free nudge to open the menu: safe on a lock screen (M-02, T-22)."""

    TEMPLATE: ClassVar[str] = "news"


@dataclass(frozen=True, slots=True)
class MemberBlocked(Notice):
    """To a coordinator: one of their members blocked the bot (R-06, T-41)."""

    TEMPLATE: ClassVar[str] = "member_blocked"

    codename: str


@dataclass(frozen=True, slots=True)
class DuressPinUsed(Notice):
    """To coordinators: a member typed their duress PIN (M-13b)."""

    TEMPLATE: ClassVar[str] = "safety_coercion"

    codename: str


@dataclass(frozen=True, slots=True)
class MemberUnlinked(Notice):
    """To coordinators: a member's account was unlinked (panic, remote, duress)."""

    TEMPLATE: ClassVar[str] = "safety_unlinked"

    codename: str


@dataclass(frozen=True, slots=True)
class PinLocked(Notice):
    """To coordinators: a member's PIN is locked until someone resets it (M-05)."""

    TEMPLATE: ClassVar[str] = "safety_pin_locked"

    codename: str


#: The codename-only notes about a member to their coordinators (``notify_coordinators``).
CoordinatorNote = DuressPinUsed | MemberUnlinked | PinLocked


@dataclass(frozen=True, slots=True)
class RegistrationsFailing(Notice):
    """To administrators: many refused invite codes in the last hour (T-06)."""

    TEMPLATE: ClassVar[str] = "invite_alarm"


@dataclass(frozen=True, slots=True)
class StaffDenials(Notice):
    """To administrators: a coordinator keeps trying what they may not do (T-11)."""

    TEMPLATE: ClassVar[str] = "staff_denials"

    codename: str


@dataclass(frozen=True, slots=True)
class IntakeConflict(Notice):
    """To administrators: Telegram hands the bot's updates to someone else (A7, T-44)."""

    TEMPLATE: ClassVar[str] = "intake_conflict"


# ---------------------------------------------------------------------- claims


@dataclass(frozen=True, slots=True)
class ClaimUpdated(Notice):
    """To an informant: one of their claims changed (issue #16.4); a fixed neutral text.

    ``claims`` pairs each changed claim's id with the version it reached: the text names
    none of them (M-02, T-22), they only make the idempotency of each change visible. One
    row waiting per informant: a newer change replaces it and the outbox unites ``claims``
    of the rows it replaces (``MERGE``), so one push stands for every change of a while.
    """

    TEMPLATE: ClassVar[str] = "claim_news"
    MERGE: ClassVar[str | None] = "claims"

    claims: tuple[tuple[int, int], ...]

    def to_params(self) -> dict[str, str]:
        """``claims`` as a JSON object ``{"<claim id>": <version>}``."""
        return {"claims": json.dumps({str(claim): version for claim, version in self.claims})}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError unless ``claims`` is a non-empty object of id → version."""
        try:
            decoded = json.loads(_require(cls.TEMPLATE, params, "claims"))
        except ValueError:
            decoded = None
        if (
            not isinstance(decoded, dict)
            or not decoded
            or not all(
                isinstance(k, str)
                and _INTEGER.fullmatch(k)
                and isinstance(v, int)
                and not isinstance(v, bool)
                for k, v in decoded.items()
            )
        ):
            raise NoticeError(f"{cls.TEMPLATE}: field 'claims' is malformed")
        return cls(tuple(sorted((int(k), int(v)) for k, v in decoded.items())))


@dataclass(frozen=True, slots=True)
class AmountApprovalNeeded(Notice):
    """To possible approvers: an amount change waits (no amount, no reference; ``/revisar``)."""

    TEMPLATE: ClassVar[str] = "claim_amount_approval"


class AmountOutcome(StrEnum):
    """What became of an amount change (stored as ``outcome``)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    #: The approver found the claim changed since the request: nothing was applied.
    STALE = "stale"


@dataclass(frozen=True, slots=True)
class AmountDecided(Notice):
    """To whoever asked for an amount change: a second person approved or rejected it, or
    it could not apply because the claim changed meanwhile.

    Neutral like ``AmountApprovalNeeded`` (no amount, no reference, no name, M-02): the
    requester sees which claim and what became of it in ``/reclamos``.
    """

    TEMPLATE: ClassVar[str] = "claim_amount_decided"

    outcome: AmountOutcome


# ---------------------------------------------------------------------- safety alerts


@dataclass(frozen=True, slots=True)
class AlertSent(Notice):
    """A safety alert for one recipient: everything to render it in either language.

    Stored as ``template`` plus ``p_<placeholder>`` values for a template alert, or
    ``text_es``/``text_qu`` for free text.
    """

    TEMPLATE: ClassVar[str] = "alert"

    alert: int
    severity: Severity
    content: AlertContent

    def to_params(self) -> dict[str, str]:
        """Alert id, severity and the content (template values or both texts)."""
        params = {"alert": str(self.alert), "severity": str(self.severity)}
        content = self.content
        if content.template is not None:
            params["template"] = content.template
            params.update({f"p_{name}": value for name, value in content.params.items()})
        else:
            params["text_es"] = content.text_es or ""
            params["text_qu"] = content.text_qu or ""
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError on an unknown template key or a missing value or text."""
        alert = _integer(cls.TEMPLATE, "alert", _require(cls.TEMPLATE, params, "alert"))
        try:
            severity = Severity(_require(cls.TEMPLATE, params, "severity"))
        except ValueError:
            raise NoticeError(f"{cls.TEMPLATE}: field 'severity' has an unknown value") from None
        key = params.get("template")
        if key:
            template = TEMPLATES.get(key)
            if template is None:
                raise NoticeError(f"{cls.TEMPLATE}: field 'template' has an unknown value")
            values = {
                name: _require(cls.TEMPLATE, params, f"p_{name}") for name in template.placeholders
            }
            content = AlertContent(template=key, params=values)
        else:
            content = AlertContent(
                text_es=_require(cls.TEMPLATE, params, "text_es"),
                text_qu=_require(cls.TEMPLATE, params, "text_qu"),
            )
        return cls(alert, severity, content)


_TALLY_COUNTS = ("total", "queued", "sent", "failed", "blocked", "cancelled", "safe", "help")


@dataclass(frozen=True, slots=True)
class AlertTallyChanged(Notice):
    """An edit of the sender's live summary message (counts only, never content).

    ``planned`` is the local ``HH:MM`` at which rows held by quiet hours leave, if any.
    """

    TEMPLATE: ClassVar[str] = "alert_tally"

    alert: int
    message_id: int
    severity: Severity
    tally: AlertTally
    planned: str | None = None

    def to_params(self) -> dict[str, str]:
        """The ids, the severity, every count (and ``no_answer``), ``planned`` if set."""
        params = {
            "alert": str(self.alert),
            "message_id": str(self.message_id),
            "severity": str(self.severity),
        }
        params.update({name: str(getattr(self.tally, name)) for name in _TALLY_COUNTS})
        params["no_answer"] = str(self.tally.no_answer)
        if self.planned is not None:
            params["planned"] = self.planned
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError on a missing id, severity or count."""

        def number(name: str) -> int:
            return _integer(cls.TEMPLATE, name, _require(cls.TEMPLATE, params, name))

        try:
            severity = Severity(_require(cls.TEMPLATE, params, "severity"))
        except ValueError:
            raise NoticeError(f"{cls.TEMPLATE}: field 'severity' has an unknown value") from None
        counts = {name: number(name) for name in _TALLY_COUNTS}
        return cls(
            alert=number("alert"),
            message_id=number("message_id"),
            severity=severity,
            tally=AlertTally(**counts),
            planned=params.get("planned"),
        )


@dataclass(frozen=True, slots=True)
class HelpRequested(Notice):
    """To a coordinator: who asked for help in one alert, oldest first (issue #13).

    ``asked`` pairs each help request id with its asker's codename. One row waiting per
    coordinator and alert: a newer request replaces it, and the outbox unites ``asked`` of
    the rows it replaces (``MERGE``), so nobody is dropped.
    """

    TEMPLATE: ClassVar[str] = "alert_help"
    MERGE: ClassVar[str | None] = "asked"

    alert: int
    asked: tuple[tuple[int, str], ...]

    def to_params(self) -> dict[str, str]:
        """``asked`` as a JSON object ``{"<help id>": "<codename>"}``."""
        asked = {str(help_id): codename for help_id, codename in self.asked}
        return {"alert": str(self.alert), "asked": json.dumps(asked, ensure_ascii=False)}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError unless ``asked`` is a non-empty object of id → codename."""
        alert = _integer(cls.TEMPLATE, "alert", _require(cls.TEMPLATE, params, "alert"))
        try:
            decoded = json.loads(_require(cls.TEMPLATE, params, "asked"))
        except ValueError:
            decoded = None
        if (
            not isinstance(decoded, dict)
            or not decoded
            or not all(
                isinstance(k, str) and _INTEGER.fullmatch(k) and isinstance(v, str)
                for k, v in decoded.items()
            )
        ):
            raise NoticeError(f"{cls.TEMPLATE}: field 'asked' is malformed")
        asked = sorted((int(k), str(v)) for k, v in decoded.items())
        return cls(alert, tuple(asked))


@dataclass(frozen=True, slots=True)
class HelpAcked(Notice):
    """To the other coordinators: ``by`` takes the help request of ``codename``."""

    TEMPLATE: ClassVar[str] = "alert_help_acked"

    help: int
    codename: str
    by: str


@dataclass(frozen=True, slots=True)
class ApprovalNeeded(Notice):
    """To possible approvers: an alert waits (neutral: the content is shown in /aprobar)."""

    TEMPLATE: ClassVar[str] = "alert_approval_needed"

    alert: int


@dataclass(frozen=True, slots=True)
class ApprovalEscalated(Notice):
    """To administrators: an urgent alert has waited ``minutes`` for approval."""

    TEMPLATE: ClassVar[str] = "alert_approval_escalated"

    alert: int
    minutes: int


class Decision(StrEnum):
    """What an approver decided (stored as ``decision``)."""

    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ApprovalDecided(Notice):
    """To an alert's author: ``codename`` approved (sent to ``count``) or rejected it."""

    TEMPLATE: ClassVar[str] = "alert_approval_decided"

    alert: int
    codename: str
    decision: Decision
    count: int
    reason: RejectReason | None = None


@dataclass(frozen=True, slots=True)
class AlertAllClear(Notice):
    """To everyone an alert reached: the danger is over; ``silent`` during quiet hours."""

    TEMPLATE: ClassVar[str] = "alert_all_clear"

    alert: int
    silent: bool = False


@dataclass(frozen=True, slots=True)
class HelpSeen(Notice):
    """To an informant who asked for help: a coordinator saw it (fixed, neutral text)."""

    TEMPLATE: ClassVar[str] = "alert_help_reach"

    alert: int


# ---------------------------------------------------------------------- schedules (#15)


def _json(template: str, params: Mapping[str, str], name: str) -> object:
    """A JSON-encoded parameter, decoded (NoticeError when missing or not JSON)."""
    try:
        return json.loads(_require(template, params, name))
    except ValueError:
        raise NoticeError(f"{template}: field {name!r} is malformed") from None


def _names(template: str, params: Mapping[str, str], name: str) -> tuple[str, ...]:
    """A JSON list of codenames."""
    decoded = _json(template, params, name)
    if not isinstance(decoded, list) or not all(isinstance(v, str) for v in decoded):
        raise NoticeError(f"{template}: field {name!r} is malformed")
    return tuple(decoded)


def _days(template: str, params: Mapping[str, str], name: str) -> tuple[tuple[str, int], ...]:
    """A JSON list of ``[reference, days]`` pairs."""
    decoded = _json(template, params, name)
    if not isinstance(decoded, list) or not all(
        isinstance(pair, list)
        and len(pair) == 2
        and isinstance(pair[0], str)
        and isinstance(pair[1], int)
        for pair in decoded
    ):
        raise NoticeError(f"{template}: field {name!r} is malformed")
    return tuple((str(ref), int(days)) for ref, days in decoded)


@dataclass(frozen=True, slots=True)
class Reminder(Notice):
    """A reminder as the lock screen shows it: only that there is one (T-22).

    ``topic`` and ``event`` (ISO time) are the schedule's own values, carried sealed but
    never rendered: the informant reads them with ``/recordatorios``.
    """

    TEMPLATE: ClassVar[str] = "reminder"

    schedule: int
    occurrence: int
    topic: str | None = None
    event: str | None = None


@dataclass(frozen=True, slots=True)
class Checkin(Notice):
    """A safety check-in: "are you well?" with *Estoy bien* / *Necesito ayuda* (#15.4)."""

    TEMPLATE: ClassVar[str] = "checkin"

    schedule: int
    occurrence: int


@dataclass(frozen=True, slots=True)
class CheckinHelp(Notice):
    """To a coordinator: who asked for help in one check-in occurrence.

    ``asked`` pairs each asker's member id with their codename; one row waits per
    coordinator and occurrence and the outbox unites ``asked`` of the rows it replaces
    (``MERGE``), as for an alert's help (:class:`HelpRequested`).
    """

    TEMPLATE: ClassVar[str] = "checkin_help"
    MERGE: ClassVar[str | None] = "asked"

    occurrence: int
    asked: tuple[tuple[int, str], ...]

    def to_params(self) -> dict[str, str]:
        """``asked`` as a JSON object ``{"<member id>": "<codename>"}``."""
        asked = {str(member): codename for member, codename in self.asked}
        return {"occurrence": str(self.occurrence), "asked": json.dumps(asked, ensure_ascii=False)}

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError unless ``asked`` is a non-empty object of id → codename."""
        occurrence = _integer(
            cls.TEMPLATE, "occurrence", _require(cls.TEMPLATE, params, "occurrence")
        )
        decoded = _json(cls.TEMPLATE, params, "asked")
        if (
            not isinstance(decoded, dict)
            or not decoded
            or not all(
                isinstance(k, str) and _INTEGER.fullmatch(k) and isinstance(v, str)
                for k, v in decoded.items()
            )
        ):
            raise NoticeError(f"{cls.TEMPLATE}: field 'asked' is malformed")
        return cls(occurrence, tuple(sorted((int(k), str(v)) for k, v in decoded.items())))


@dataclass(frozen=True, slots=True)
class CheckinMissed(Notice):
    """To a coordinator, once per occurrence: who did not confirm, who was unreachable."""

    TEMPLATE: ClassVar[str] = "checkin_missed"

    occurrence: int
    schedule: int
    missing: tuple[str, ...]
    unreachable: tuple[str, ...]

    def to_params(self) -> dict[str, str]:
        """Both lists as JSON arrays of codenames."""
        return {
            "occurrence": str(self.occurrence),
            "schedule": str(self.schedule),
            "missing": json.dumps(list(self.missing), ensure_ascii=False),
            "unreachable": json.dumps(list(self.unreachable), ensure_ascii=False),
        }

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError on a missing id or a list that is not JSON strings."""
        t = cls.TEMPLATE
        return cls(
            occurrence=_integer(t, "occurrence", _require(t, params, "occurrence")),
            schedule=_integer(t, "schedule", _require(t, params, "schedule")),
            missing=_names(t, params, "missing"),
            unreachable=_names(t, params, "unreachable"),
        )


@dataclass(frozen=True, slots=True)
class CheckinLate(Notice):
    """To a coordinator: ``codename``, reported as not confirmed, answered late: well."""

    TEMPLATE: ClassVar[str] = "checkin_late"

    occurrence: int
    codename: str


@dataclass(frozen=True, slots=True)
class CheckinHelpAcked(Notice):
    """To the other coordinators: ``by`` takes the check-in help request of ``codename``."""

    TEMPLATE: ClassVar[str] = "checkin_help_acked"

    codename: str
    by: str


@dataclass(frozen=True, slots=True)
class Digest(Notice):
    """The coordinators' daily digest (#15.3), only about the reader's regions.

    Each section names at most a few items (claim references with days, or codenames) and
    counts them all (``*_n``). Staff only: it arrives silently and leaves the chat later.
    """

    TEMPLATE: ClassVar[str] = "digest"

    overdue: tuple[tuple[str, int], ...]
    overdue_n: int
    stalled: tuple[tuple[str, int], ...]
    stalled_n: int
    stalled_days: int
    pending_n: int
    help: tuple[str, ...]
    help_n: int
    blocked: tuple[str, ...]
    blocked_n: int
    missed: tuple[str, ...]
    missed_n: int

    def to_params(self) -> dict[str, str]:
        """Lists as JSON (``[[reference, days], …]`` or ``[codename, …]``), counts decimal."""
        params: dict[str, str] = {}
        for name in ("overdue", "stalled"):
            pairs = [[ref, days] for ref, days in getattr(self, name)]
            params[name] = json.dumps(pairs, ensure_ascii=False)
        for name in ("help", "blocked", "missed"):
            params[name] = json.dumps(list(getattr(self, name)), ensure_ascii=False)
        for name in _DIGEST_COUNTS:
            params[name] = str(getattr(self, name))
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, str]) -> Self:
        """Raises NoticeError on a missing count or a malformed list."""
        t = cls.TEMPLATE
        counts = {name: _integer(t, name, _require(t, params, name)) for name in _DIGEST_COUNTS}
        return cls(
            overdue=_days(t, params, "overdue"),
            stalled=_days(t, params, "stalled"),
            help=_names(t, params, "help"),
            blocked=_names(t, params, "blocked"),
            missed=_names(t, params, "missed"),
            **counts,
        )


_DIGEST_COUNTS = (
    "overdue_n",
    "stalled_n",
    "stalled_days",
    "pending_n",
    "help_n",
    "blocked_n",
    "missed_n",
)


# ---------------------------------------------------------------------- the list of kinds

#: Every notice kind, explicitly (a new kind is added here, next to its class).
NOTICE_TYPES: tuple[type[Notice], ...] = (
    DeleteMessages,
    ChatMenu,
    News,
    MemberBlocked,
    DuressPinUsed,
    MemberUnlinked,
    PinLocked,
    RegistrationsFailing,
    StaffDenials,
    IntakeConflict,
    ClaimUpdated,
    AmountApprovalNeeded,
    AmountDecided,
    AlertSent,
    AlertTallyChanged,
    HelpRequested,
    HelpAcked,
    ApprovalNeeded,
    ApprovalEscalated,
    ApprovalDecided,
    AlertAllClear,
    HelpSeen,
    Reminder,
    Checkin,
    CheckinHelp,
    CheckinMissed,
    CheckinLate,
    CheckinHelpAcked,
    Digest,
)

#: The kinds the notifier performs instead of rendering: deletions and command menus.
PERFORMED_TYPES: tuple[type[Notice], ...] = (DeleteMessages, ChatMenu)

#: The kinds a renderer turns into a message: all but the performed ones.
RENDERED_TYPES: tuple[type[Notice], ...] = tuple(
    kind for kind in NOTICE_TYPES if kind not in PERFORMED_TYPES
)


def _by_template() -> Mapping[str, type[Notice]]:
    found: dict[str, type[Notice]] = {}
    for kind in NOTICE_TYPES:
        if kind.TEMPLATE in found:
            raise RuntimeError(f"two notice types share the template {kind.TEMPLATE!r}")
        found[kind.TEMPLATE] = kind
    return types.MappingProxyType(found)


BY_TEMPLATE: Mapping[str, type[Notice]] = _by_template()


def decode_notice(template: str, params: Mapping[str, str]) -> Notice:
    """The typed notice of a stored row.

    Raises:
        UnknownNotice: no notice type has this template.
        NoticeError: a missing or malformed field.
    """
    kind = BY_TEMPLATE.get(template)
    if kind is None:
        raise UnknownNotice(f"unknown notice template {template!r}")
    return kind.from_params(params)
