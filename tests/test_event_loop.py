"""``chaski run`` runs on uvloop where it is installed (bot/root/app.py, docs/performance.md)."""

from __future__ import annotations

import asyncio
import threading

import pytest

from bot.root.app import use_fast_event_loop

uvloop = pytest.importorskip("uvloop")  # no Windows build: there asyncio's loop is kept


def test_run_polling_gets_a_uvloop_loop() -> None:
    """``run_polling`` takes the thread's current loop: after the call it is uvloop's."""
    seen: list[object] = []

    def in_fresh_thread() -> None:  # a thread of its own: the test runner's loop untouched
        assert use_fast_event_loop()
        loop = asyncio.get_event_loop()
        try:
            seen.append(loop)
            seen.append(loop.run_until_complete(asyncio.sleep(0, result="ran")))
        finally:
            loop.close()
            asyncio.set_event_loop(None)

    thread = threading.Thread(target=in_fresh_thread)
    thread.start()
    thread.join()
    assert len(seen) == 2
    assert isinstance(seen[0], uvloop.Loop)
    assert seen[1] == "ran"
