"""Building images from Dockerfiles: the parser, the build context, the builder."""
