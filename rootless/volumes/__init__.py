"""Named volume records and their data dirs (docker's local volume driver)."""
from __future__ import annotations

from rootless.volumes.store import ANONYMOUS_LABEL, LOCAL, Volume, VolumeStore

__all__ = ["ANONYMOUS_LABEL", "LOCAL", "Volume", "VolumeStore"]
