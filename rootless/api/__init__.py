"""The Docker Engine API served by rootlessd."""
