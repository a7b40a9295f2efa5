"""image_format (issue 15): how the user's own images are kept, "dirs" or "squashfs"."""
from __future__ import annotations

import pytest

from rootless.config import load_settings
from rootless.errors import InvalidArgument


def test_dirs_by_default_squashfs_from_the_file_or_the_environment(tmp_path) -> None:
    assert load_settings({"HOME": str(tmp_path)}).image_format == "dirs"
    config = tmp_path / "config.toml"
    config.write_text('image_format = "squashfs"\n')
    settings = load_settings({"ROOTLESS_CONFIG": str(config)})
    assert settings.image_format == "squashfs" and not settings.warnings
    assert load_settings({"ROOTLESS_CONFIG": str(config), "ROOTLESS_IMAGE_FORMAT": "dirs"}).image_format == "dirs"


def test_an_unknown_format_is_refused_by_name(tmp_path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('image_format = "sif"\n')
    with pytest.raises(InvalidArgument) as caught:
        load_settings({"ROOTLESS_CONFIG": str(config)})
    assert "image_format" in caught.value.message and "squashfs" in (caught.value.hint or "")
