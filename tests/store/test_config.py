"""The `[store]` config section."""

from __future__ import annotations

import pytest

from perpml.config import dump_config, load_config
from perpml.exceptions import ConfigError


def test_store_section_round_trips(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('[store]\nenabled = false\ndir = "/tmp/somewhere"\n')
    config = load_config(path)
    assert config.store.enabled is False and config.store.dir == "/tmp/somewhere"
    again = tmp_path / "again.toml"
    again.write_text(dump_config(config))
    assert load_config(again) == config
    assert load_config(None).store.enabled is True
    assert load_config(None).store.dir == ""


def test_unknown_store_key_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[store]\npath = 'x'\n")
    with pytest.raises(
        ConfigError, match=r"Unknown key\(s\) \['path'\] in section \[store\]"
    ):
        load_config(path)
