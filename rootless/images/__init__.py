"""Image model: references, OCI/Docker types, the content store and layers."""
