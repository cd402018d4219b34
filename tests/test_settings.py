"""Settings are read once from RELATA_* variables; secrets never show."""

from __future__ import annotations

from relata.settings import Settings


def test_from_env_reads_settings_and_limits() -> None:
    settings = Settings.from_env(
        {
            "RELATA_DATABASE_URL": "postgresql://relata:s3cret@db/relata",
            "RELATA_PORT": "9000",
            "RELATA_LIMIT_ATTRIBUTE_VALUE_BYTES": "2000",
        },
        host="0.0.0.0",
    )
    assert (settings.port, settings.host) == (9000, "0.0.0.0")
    assert settings.limits.attribute_value_bytes == 2000
    assert settings.limits.identifier_bytes == 150
    assert settings.base_url == "http://0.0.0.0:9000"
    assert settings.sqlite_path() is None


def test_masked_hides_the_database_password() -> None:
    masked = Settings(database_url="postgresql://relata:s3cret@db/relata").masked()
    assert masked["database_url"] == "postgresql://relata:***@db/relata"
    assert "s3cret" not in repr(masked)
    assert Settings(database_url="sqlite:///relata.db").masked()["database_url"] == "sqlite:///relata.db"


def test_overrides_of_none_keep_the_environment() -> None:
    settings = Settings.from_env({"RELATA_PORT": "8123"}, port=None, ssl_certfile="cert.pem")
    assert settings.port == 8123
    assert settings.base_url.startswith("https://")
