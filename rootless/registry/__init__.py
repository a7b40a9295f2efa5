"""Distribution v2 client: resolve, fetch into a caller-given writer, push; auth."""
