"""The bad-input suite (T-01..T-49), one module per section (see docs/security-tests.md)."""
