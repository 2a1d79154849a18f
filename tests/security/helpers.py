"""Shared helpers of the bad-input suite: statement traces, raw updates, read-only SQL.

The trace helpers watch the SQL the real repositories run (``sqlite3`` trace callbacks on the
application's own connections), so tests can assert "the invite table was never touched"
(T-05) or "every refusal runs the same statements" (T-04) without mocking anything.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from storage.database import Database
from storage.members import SqliteInviteRepository
from tests.conftest import RunningBot
from tests.fakes.world import query as query  # noqa: PLC0414 - re-exported for the tests

_HEX = re.compile(r"[xX]'[0-9a-fA-F]*'")
_STRING = re.compile(r"'(?:[^']|'')*'")
_NUMBER = re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?")

NEUTRAL = "Este servicio no está disponible."
NOT_AVAILABLE = "Este comando no está disponible. Escribe /menu."
EXPIRED = "Este menú ya no está disponible. Escribe /menu."
PICKER = (
    "Simiykita akllay.\nElige tu idioma.\n\n"
    "Runasimi: qillqakunaqa borradorllaraqmi, manaraqmi runasimi rimaqwan qawarisqachu."
    " Hawkaykipaq willaykunaqa españolpipas kanqa.\n"
    "Runasimi: textos en borrador, aún sin revisar por un hablante nativo. Los textos de"
    " seguridad van también en español."
)
"""The language picker while Quechua drafts are on (tests turn them on)."""


def database(bot: RunningBot) -> Database:
    """The application's ``Database`` (reached through a repository the services hold)."""
    invites = bot.services.registration.uow.invites
    assert isinstance(invites, SqliteInviteRepository)
    return invites.db


def shape(statement: str) -> str:
    """A statement with every literal replaced by ``?`` (trace callbacks expand parameters)."""
    text = _HEX.sub("?", statement)
    text = _STRING.sub("?", text)
    return " ".join(_NUMBER.sub("?", text).split())


@asynccontextmanager
async def traced(bot: RunningBot) -> AsyncIterator[list[str]]:
    """Collect the shapes of every statement both connections run inside the block."""
    db = database(bot)
    seen: list[str] = []

    def record(statement: str) -> None:
        seen.append(shape(statement))

    await db.writer.set_trace_callback(record)
    await db.reader.set_trace_callback(record)
    try:
        yield seen
    finally:
        # None switches tracing off (sqlite3); aiosqlite's stub only admits a callable.
        await db.writer.set_trace_callback(None)  # type: ignore[arg-type]
        await db.reader.set_trace_callback(None)  # type: ignore[arg-type]


def touching(statements: list[str], *tables: str) -> list[str]:
    """The statements that name one of ``tables`` (background ticks touch other tables)."""
    words = [re.compile(rf"\b{re.escape(t)}\b") for t in tables]
    return [s for s in statements if any(w.search(s) for w in words)]


def write(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> None:
    """An out-of-band edit of the file (an administrator's change the bot must notice)."""
    # A generous wait: the bot's own short transactions may hold the write lock for a
    # moment, longer on a loaded CI machine (seen once under Python 3.13 with 5 s).
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def db_file(bot: RunningBot) -> Path:
    """Where the running bot's database lives."""
    return database(bot).path
