"""Repairs of sealed data that SQL migrations cannot make, run once when the database opens.

A migration is plain SQL and sealed cells are ciphertext to SQL (M-07), so a change of
meaning that needs the values themselves (add up amounts, split one into rows) cannot be
done there. Such a migration inserts the repair's name into ``pending_repairs``; the next
open of the database with its keys (``bot.root.wiring``, right after the key check has
proved the keys are the database's) runs the repair and deletes its name in the same
transaction, so it runs exactly once, and an interrupted one runs again in full.

- ``imported_paid`` (migration 0020, issue #16.6): claims imported before an imported
  paid amount became a payment get that payment, so the paid total is the sum of the
  payments (``SqliteClaimRepository.repair_imported_paid``).
"""

from __future__ import annotations

import logging
from datetime import datetime

from storage.claims import SqliteClaimRepository
from storage.database import Database
from storage.keys import KeyMaterial

_LOGGER = logging.getLogger(__name__)

IMPORTED_PAID = "imported_paid"


async def run_pending(db: Database, keys: KeyMaterial, now: datetime) -> bool:
    """Run the pending repair, if any; return whether one ran.

    Raises:
        storage.crypto.DecryptionError: a sealed cell does not open; nothing is written and
            the repair stays pending.
    """
    pending = await db.fetchone("SELECT 1 FROM pending_repairs WHERE name = ?", (IMPORTED_PAID,))
    if pending is None:
        return False
    async with db.transaction():
        count = await SqliteClaimRepository(db, keys).repair_imported_paid(now)
        await db.execute("DELETE FROM pending_repairs WHERE name = ?", (IMPORTED_PAID,))
    _LOGGER.info("Recorded the imported paid amount of %d claim(s) as a payment", count)
    return True
