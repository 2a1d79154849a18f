"""Branches of the "100 % branch" modules that no behaviour test reached yet.

docs/threat-model.md §9 requires full branch coverage of the authorization, invite, PIN, crypto,
outbox, retention and audit modules (gate in scripts/dev.py). Each test here checks a real
behaviour of such a branch: a malformed audit checkpoint, an empty result batch, and a
member whose sealed Telegram link no longer opens.
"""

from __future__ import annotations

import logging

import pytest

from storage.audit import checkpoint_hash, checkpoint_target
from storage.outbox import SqliteOutbox, SqliteRecipientDirectory
from tests.services.fakes import FakeClock
from tests.storage.conftest import T0, Repos


@pytest.mark.parametrize(
    "target",
    [None, "", "upto:1", "from:1:" + "a" * 64, "upto:1:" + "a" * 63, "upto:1:2:" + "a" * 64],
)
def test_a_malformed_checkpoint_names_no_hash(target: str | None) -> None:
    """M-16: the verifier then falls back to the chain's genesis, never trusts the text."""
    assert checkpoint_hash(target) is None


def test_a_well_formed_checkpoint_round_trips() -> None:
    digest = "b" * 64
    assert checkpoint_hash(checkpoint_target(41, digest)) == digest


async def test_finishing_an_empty_batch_touches_nothing(repos: Repos) -> None:
    outbox = SqliteOutbox(repos.db, repos.keys, FakeClock())
    assert await outbox.finish([], T0) == set()


async def test_a_link_that_fails_to_open_is_skipped_and_logged_without_the_id(
    repos: Repos, caplog: pytest.LogCaptureFixture
) -> None:
    """Fail closed (M-20): a member whose sealed link is damaged gets no message at all."""
    good = await repos.member("Kuntur-ok", 7_780_001)
    bad = await repos.member("Kuntur-broken", 7_780_002)
    # The ciphertext of another row: authentic, but bound to a different row id (AAD).
    await repos.db.execute(
        "UPDATE members SET telegram_enc = (SELECT telegram_enc FROM members WHERE id = ?)"
        " WHERE id = ?",
        (good.id, bad.id),
    )
    with caplog.at_level(logging.ERROR, logger="storage.outbox"):
        found = await SqliteRecipientDirectory(repos.db, repos.keys).resolve([good.id, bad.id])

    assert set(found) == {good.id}
    assert found[good.id].chat_id == 7_780_001
    assert [r.getMessage() for r in caplog.records] == [
        f"Member {bad.id}: Telegram link failed to open"
    ]
    assert "7780002" not in caplog.text
