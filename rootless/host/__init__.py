"""What the host gives a user: the engine's user namespace, the cgroup layout, the doctor's checks."""
