"""Helpers that several command groups share; no verbs live here (they are in cli/<noun>/)."""
