"""The Python client for rootlessd's API (used by the CLI)."""
