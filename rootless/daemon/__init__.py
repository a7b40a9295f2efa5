"""rootlessd: the per-user daemon process."""
