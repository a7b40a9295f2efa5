"""One module per API resource; each exposes register(router, engine)."""
