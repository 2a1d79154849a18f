"""Numbered, forward-only SQL migrations (``NNNN_what.sql``), applied by ``storage.database``."""
