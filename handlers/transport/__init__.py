"""Transport: the Bot API over HTTP, update concurrency, polling intake, pacing and sending.

Features import from here; nothing here imports a feature (docs/architecture.md).
"""
