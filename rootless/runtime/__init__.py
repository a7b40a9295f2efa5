"""Turning containers into processes: namespaces, rootfs, crun, networking."""
