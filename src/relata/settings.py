"""One typed settings object, read once at the edge from ``RELATA_*`` environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from relata.core.limits import Limits

DEFAULT_DATABASE = "sqlite:///relata.db"


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE
    host: str = "127.0.0.1"
    port: int = 8000
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    public_url: str | None = None
    workspace_name: str = "default"
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings from ``RELATA_DATABASE_URL``, ``RELATA_HOST``, ``RELATA_PORT``, ``RELATA_LIMIT_*`` …"""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "limits":
                continue
            raw = env.get(f"RELATA_{f.name.upper()}")
            if raw is not None:
                values[f.name] = int(raw) if f.name == "port" else raw
        limit_values = {}
        for f in fields(Limits):
            raw = env.get(f"RELATA_LIMIT_{f.name.upper()}")
            if raw is not None:
                limit_values[f.name] = int(raw)
        settings = cls(**values, limits=replace(Limits(), **limit_values))
        return replace(settings, **{k: v for k, v in overrides.items() if v is not None})

    @property
    def base_url(self) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.ssl_certfile else "http"
        return f"{scheme}://{self.host}:{self.port}"

    def masked(self) -> dict[str, Any]:
        """For logs: the database password is never shown."""
        url = self.database_url
        if "@" in url and "://" in url:
            scheme, rest = url.split("://", 1)
            credentials, host = rest.rsplit("@", 1)
            user = credentials.split(":", 1)[0]
            url = f"{scheme}://{user}:***@{host}" if ":" in credentials else url
        return {"database_url": url, "host": self.host, "port": self.port, "tls": bool(self.ssl_certfile)}

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None
