"""Review marks of Quechua catalog entries, read by the CI gate and by the bot at start.

One parser for both, so "reviewed" means the same thing in ``python -m bot.i18n_check check
--release`` and in what the bot serves (docs/translating.md §4): an entry is reviewed only
with a valid ``# review: ok <INITIALS> <YYYY-MM-DD>`` mark whose optional ``src=`` still
matches its Spanish source. Kept free of Babel's command-line machinery so the bot can import it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import date

from babel.messages.catalog import Message

REVIEW_DRAFT = "draft"
REVIEW_NEEDS_TRANSLATION = "needs-translation"
REVIEW_OK = "ok"
_REVIEW_RE = re.compile(
    r"review: (?:(?P<simple>draft|needs-translation)"
    r"|ok (?P<initials>[A-Z]{2,5}) (?P<date>\d{4}-\d{2}-\d{2})(?: src=(?P<src>[0-9a-f]{8}))?)"
)

MessageKey = tuple[str | None, str]
"""``(msgctxt, msgid)`` of an entry (the singular msgid for plural entries)."""


@dataclass(frozen=True, slots=True)
class ReviewMark:
    """The one ``# review: …`` translator comment of a ``qu`` entry."""

    kind: str
    src: str | None = None


def source_hash(msgid: str, msgid_plural: str | None = None, context: str | None = None) -> str:
    """First 8 hex digits of SHA-256 over ``msgctxt \\x04 msgid [\\x00 msgid_plural]``.

    Written as ``src=…`` after an ``ok`` mark, it makes the sign-off go stale (and fail the
    check, and stop being served as reviewed) when the Spanish source changes.
    """
    text = (f"{context}\x04" if context is not None else "") + msgid
    if msgid_plural is not None:
        text += f"\x00{msgid_plural}"
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:8]


def message_key(message: Message) -> MessageKey:
    """``(msgctxt, msgid)`` of ``message``; plural entries are keyed by their singular."""
    msgid = message.id[0] if isinstance(message.id, (list, tuple)) else message.id
    return (message.context, str(msgid))


def plural_id(message: Message) -> str | None:
    """The ``msgid_plural`` of ``message``, or None for a singular entry."""
    if isinstance(message.id, (list, tuple)):
        return str(message.id[1])
    return None


def review_marks(message: Message) -> tuple[list[ReviewMark], list[str]]:
    """Parse the ``# review: …`` comments; return the valid marks and the invalid ones."""
    marks: list[ReviewMark] = []
    invalid: list[str] = []
    for comment in message.user_comments:
        text = comment.strip()
        if not text.lower().startswith("review"):
            continue
        match = _REVIEW_RE.fullmatch(text)
        if match is None:
            invalid.append(text)
        elif match["simple"]:
            marks.append(ReviewMark(match["simple"]))
        else:
            try:
                date.fromisoformat(match["date"])
            except ValueError:
                invalid.append(text)
                continue
            marks.append(ReviewMark(REVIEW_OK, match["src"]))
    return marks, invalid


def stale(message: Message, mark: ReviewMark) -> str | None:
    """The current ``src=`` hash when ``mark`` was signed off against another source."""
    if mark.src is None:
        return None
    context, msgid = message_key(message)
    current = source_hash(msgid, plural_id(message), context)
    return None if mark.src == current else current


def is_reviewed(message: Message) -> bool:
    """Whether a native reviewer signed ``message`` off and the sign-off is still current.

    Exactly one valid ``ok`` mark, no invalid mark and no stale ``src=``: anything the CI
    gate would reject counts as unreviewed, so the bot never serves it as signed off.
    """
    marks, invalid = review_marks(message)
    if invalid or len(marks) != 1:
        return False
    [mark] = marks
    return mark.kind == REVIEW_OK and stale(message, mark) is None
