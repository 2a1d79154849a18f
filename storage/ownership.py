"""Who may touch Chaski's files: only the user they belong to (M-17, #11.8, #14.3).

The database, its ``-wal``/``-shm``, the key folder and the key files belong to the service
user. An administrator's command run as root (or as anyone else) over them would leave
root-owned ``0600`` files behind (a rotated ``data.keys``, a first ``backup.key``, a ``-wal``
made while the bot was stopped) that the service can no longer read: it then dies at its
next start. So every command and the bot refuse, before creating or changing anything, when
these files belong to another user, and say which user to run as. Reading them as root
(``chaski status``) is harmless and is not checked.
"""

from __future__ import annotations

import os
import pwd
from pathlib import Path


def _user(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def running_user() -> str:
    """The name of the user this process runs as (effective uid)."""
    return _user(os.geteuid())


def foreign_owner(path: Path) -> str | None:
    """Why this process must not touch ``path``: another user owns it (None: ours, absent).

    The sentence names the owner to run as; ``chaski-admin`` runs commands as the service
    user (docs/deployment.md).
    """
    try:
        uid = path.stat().st_uid
    except FileNotFoundError:
        return None
    if uid == os.geteuid():
        return None
    owner = _user(uid)
    return (
        f"{path} belongs to user {owner}, but this runs as {running_user()}: run it as"
        f" {owner} (on a server: sudo chaski-admin …) so that no file ends up owned by"
        f" {running_user()}; nothing was changed"
    )


def first_foreign(paths: list[Path]) -> str | None:
    """``foreign_owner`` of the first path another user owns, or None."""
    for path in paths:
        problem = foreign_owner(path)
        if problem is not None:
            return problem
    return None
