"""Named network objects (records, subnets, endpoints), not plumbing."""
from __future__ import annotations

from rootless.networks.store import PREDEFINED, Endpoint, Network, NetworkStore

__all__ = ["PREDEFINED", "Endpoint", "Network", "NetworkStore"]
