"""Settings come from the environment, with clear errors naming the variable at fault."""

from pathlib import Path

import pytest

from server.config import SettingsError, default_data_dir, load_settings


def test_defaults_embed_every_service_under_the_user_data_folder() -> None:
    settings = load_settings({})
    assert settings.database_url is None
    assert settings.valkey_url is None
    assert settings.object_store_url is None
    assert settings.data_dir == default_data_dir()
    assert "spikex" in str(settings.data_dir)
    assert settings.effective_object_store_url == (settings.data_dir / "objects").as_uri()
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)


def test_values_are_read_and_typed(tmp_path: Path) -> None:
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://db.example:5432/spikex",
            "VALKEY_URL": "valkey://cache.example:6379/0",
            "OBJECT_STORE_URL": "s3://bucket/prefix",
            "SPIKEX_DATA_DIR": str(tmp_path),
            "SPIKEX_PORT": "9001",
            "SPIKEX_CONNECT_TIMEOUT_S": "2.5",
            "SPIKEX_LOG_FORMAT": "json",
        }
    )
    assert settings.database_url == "postgresql://db.example:5432/spikex"
    assert settings.effective_object_store_url == "s3://bucket/prefix"
    assert settings.data_dir == tmp_path
    assert settings.port == 9001
    assert settings.connect_timeout_s == 2.5
    assert settings.log_format == "json"


def test_empty_values_count_as_unset() -> None:
    assert load_settings({"DATABASE_URL": "  ", "SPIKEX_PORT": ""}).database_url is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SPIKEX_PORT", "eighty"),
        ("SPIKEX_PORT", "70000"),
        ("SPIKEX_CONNECT_TIMEOUT_S", "-1"),
        ("SPIKEX_LOG_FORMAT", "xml"),
        ("SPIKEX_DOC_MAX_UPDATE_BYTES", "0"),
        ("SPIKEX_DOC_COMPACT_IDLE_S", "soon"),
    ],
)
def test_a_bad_value_names_its_variable(variable: str, value: str) -> None:
    with pytest.raises(SettingsError, match=variable):
        load_settings({variable: value})
