"""Small stdlib-only helpers: processes, files, digests, logging."""
