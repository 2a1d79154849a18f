"""Who may touch Chaski's files: only the user they belong to (M-17, #11.8, #14.3).

The database, its ``-wal``/``-shm``, the key folder and the key files belong to the service
user. An administrator's command run as root (or as anyone else) over them would leave
root-owned ``0600`` files behind (a rotated ``data.keys``, a first ``backup.key``, a ``-wal``
made while the bot was stopped) that the service can no longer read: it then dies at its
next start. So every command and the bot refuse, before creating or changing anything, when
these files belong to another user, and say which user to run as (or, for a file root took
over, to give it back). A folder may also be root's: root is trusted anyway. Reading as root
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


def foreign_owner(path: Path, *, root_may_own: bool = False) -> str | None:
    """Why this process must not use ``path``: another user owns it (None: ours, absent).

    ``root_may_own`` is for folders: a folder root owns and lets the service write (a
    container's volume, ``/etc/chaski/keys`` made ``root:chaski``) is no threat, since root
    is trusted anyway, while a folder of any other user lets that user swap what is inside.
    The sentence names the user to run as; ``chaski-admin`` runs commands as the service
    user (docs/deployment.md). A file root took over (a command once run as root) is to be
    given back, not used as root.
    """
    try:
        uid = path.stat().st_uid
    except FileNotFoundError:
        return None
    me = os.geteuid()
    if uid == me or (root_may_own and uid == 0):
        return None
    owner, running = _user(uid), _user(me)
    if uid == 0:
        return (
            f"{path} belongs to user root, but this runs as {running}: give it back"
            f" (chown {running} {path}) and run administration commands as {running}"
            " (on a server: sudo chaski-admin …); nothing was changed"
        )
    return (
        f"{path} belongs to user {owner}, but this runs as {running}: run it as {owner}"
        f" (on a server: sudo chaski-admin …) so that no file ends up owned by {running};"
        " nothing was changed"
    )


def first_foreign(paths: list[Path], *, folders: list[Path] | None = None) -> str | None:
    """``foreign_owner`` of the first of ``folders`` then ``paths`` another user owns."""
    for folder in folders or []:
        problem = foreign_owner(folder, root_may_own=True)
        if problem is not None:
            return problem
    for path in paths:
        problem = foreign_owner(path)
        if problem is not None:
            return problem
    return None
