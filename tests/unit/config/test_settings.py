from __future__ import annotations

import pytest

from rootless.config import Paths, load_settings
from rootless.config.subids import IdRange, parse_subid_file
from rootless.errors import InvalidArgument


def test_defaults_without_a_file(tmp_path):
    settings = load_settings({"HOME": str(tmp_path)})
    assert settings.runtime == "crun"
    assert settings.storage_driver == "auto"
    assert settings.default_registry == "docker.io"
    assert settings.source == ""


def test_toml_then_environment_overrides(tmp_path):
    config = tmp_path / "config.toml"
    config.write_text(
        'storage_root = "/data/r"\nstorage_driver = "vfs"\nlog_level = "debug"\n'
        '[registries]\ninsecure = ["reg.local:5000"]\nmirrors = { "docker.io" = ["https://m.example"] }\n'
    )
    env = {"HOME": str(tmp_path), "ROOTLESS_CONFIG": str(config), "ROOTLESS_STORAGE_DRIVER": "overlay"}
    settings = load_settings(env)
    assert settings.storage_root == "/data/r"
    assert settings.storage_driver == "overlay"
    assert settings.log_level == "debug"
    assert settings.insecure_registries == ["reg.local:5000"]
    assert settings.registry_mirrors == {"docker.io": ["https://m.example"]}
    assert settings.source == str(config)


def test_bad_values_are_refused_with_a_hint(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text('storage_driver = "zfs"\n')
    with pytest.raises(InvalidArgument) as err:
        load_settings({"ROOTLESS_CONFIG": str(config)})
    assert err.value.message == "config: storage_driver: invalid value 'zfs'"
    assert "overlay" in (err.value.hint or "")


def test_broken_toml_is_one_clear_error(tmp_path):
    config = tmp_path / "c.toml"
    config.write_text("storage_root = \n")
    with pytest.raises(InvalidArgument, match=r"^config: .*c.toml"):
        load_settings({"ROOTLESS_CONFIG": str(config)})


def test_paths_follow_xdg_and_fall_back_to_home():
    env = {"HOME": "/home/u", "XDG_RUNTIME_DIR": "/run/user/1000", "ROOTLESS_HOST_UID": "1000"}
    paths = Paths.from_env(environ=env)
    assert paths.root == "/home/u/.local/share/rootless"
    assert paths.socket == "/run/user/1000/rootless/rootless.sock"
    no_xdg = Paths.from_env(environ={"HOME": "/home/u", "ROOTLESS_HOST_UID": "1000"})
    assert no_xdg.run == "/home/u/.local/share/rootless/run"
    assert Paths.from_env("/x", environ=env).blobs == "/x/blobs/sha256"


def test_subid_parsing_by_name_and_uid():
    text = "# comment\nalice:100000:65536\n1001:200000:1000\nbob:300000:65536\nbad line\n"
    assert parse_subid_file(text, "alice", 1000) == [IdRange(100000, 65536)]
    assert parse_subid_file(text, "carol", 1001) == [IdRange(200000, 1000)]
    assert parse_subid_file(text, "dave", 1002) == []


def test_api_limits_from_toml_and_environment(tmp_path):
    settings = load_settings({"HOME": str(tmp_path)})
    assert (settings.api_max_json_body, settings.api_max_connections, settings.api_header_timeout) == \
        (64 << 20, 1024, 60.0)
    config = tmp_path / "config.toml"
    config.write_text("[api]\nmax_json_body = 1048576\nmax_connections = 50\nheader_timeout = 2.5\n")
    settings = load_settings({"ROOTLESS_CONFIG": str(config), "ROOTLESS_API_MAX_CONNECTIONS": "7"})
    assert (settings.api_max_json_body, settings.api_max_connections, settings.api_header_timeout) == \
        (1 << 20, 7, 2.5)


@pytest.mark.parametrize("text", ["[api]\nmax_connections = 0\n", "[api]\nmax_connections = 1.5\n",
                                  "[api]\nmax_json_body = \"big\"\n", "[api]\nmax_conections = 5\n",
                                  "api = 5\n", "[api]\nheader_timeout = true\n",
                                  "[api]\nheader_timeout = nan\n", "[api]\nheader_timeout = inf\n"])
def test_bad_api_limits_are_refused(tmp_path, text):
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(InvalidArgument, match=r"config: (\[api\]|api)"):
        load_settings({"ROOTLESS_CONFIG": str(config)})
    with pytest.raises(InvalidArgument, match="ROOTLESS_API_HEADER_TIMEOUT"):
        load_settings({"HOME": str(tmp_path), "ROOTLESS_API_HEADER_TIMEOUT": "-1"})


def test_storage_reserve_parses_auto_percentages_and_sizes(tmp_path):
    from rootless.config.settings import AUTO_RESERVE, StorageReserve, parse_reserve
    gib = 1 << 30
    assert parse_reserve("auto") == AUTO_RESERVE
    assert AUTO_RESERVE.bytes_for(100 * gib) == gib  # 5% would be 5 GiB: capped
    assert AUTO_RESERVE.bytes_for(64 << 20) == int((64 << 20) * 0.05)  # a small tmpfs keeps 5%
    assert parse_reserve("10%").bytes_for(1000) == 100
    assert parse_reserve("2GiB") == StorageReserve(limit=2 * gib)
    assert parse_reserve("500M").bytes_for(gib) == 500 << 20
    assert parse_reserve("0").bytes_for(gib) == 0
    config = tmp_path / "c.toml"
    config.write_text('storage_reserve = "256M"\n')
    assert load_settings({"ROOTLESS_CONFIG": str(config)}).storage_reserve == "256M"
    assert load_settings({"ROOTLESS_CONFIG": str(config), "ROOTLESS_STORAGE_RESERVE": "1%"}).storage_reserve == "1%"


@pytest.mark.parametrize("value", ["lots", "100%", "-1G", "5 GB of it"])
def test_bad_storage_reserve_is_refused_with_a_hint(tmp_path, value):
    with pytest.raises(InvalidArgument, match="storage_reserve: invalid value") as err:
        load_settings({"HOME": str(tmp_path), "ROOTLESS_STORAGE_RESERVE": value})
    assert "auto" in (err.value.hint or "")


def test_keep_id_is_the_default_userns_in_a_slurm_job_unless_configured(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from rootless.config.settings import resolve_userns

    assert resolve_userns(None, {}) == ""
    assert resolve_userns(None, {"SLURM_JOB_ID": "7"}) == "keep-id"
    assert resolve_userns("default", {"SLURM_JOB_ID": "7"}) == ""
    assert resolve_userns("keep-id:uid=0,gid=0", {}) == "keep-id:uid=0,gid=0"
    assert load_settings({"HOME": str(tmp_path), "SLURM_JOB_ID": "7", "ROOTLESS_USERNS": "default"}).userns == ""
    with pytest.raises(InvalidArgument, match="userns"):
        resolve_userns("host", {})


def test_additional_image_stores_are_absolute_dirs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.toml"
    config.write_text('additional_image_stores = ["/site/images/", "/other"]\n')
    env = {"HOME": str(tmp_path), "ROOTLESS_CONFIG": str(config)}
    assert load_settings(env).additional_image_stores == ["/site/images", "/other"]
    assert load_settings({**env, "ROOTLESS_ADDITIONAL_IMAGE_STORES": "/a:/b"}).additional_image_stores == ["/a", "/b"]
    config.write_text('additional_image_stores = ["site"]\n')
    with pytest.raises(InvalidArgument, match="additional_image_stores"):
        load_settings(env)
