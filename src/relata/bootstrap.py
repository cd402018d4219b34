"""Wiring: settings -> database, clock and services -> the HTTP application."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI

from relata.api.app import create_app
from relata.core.clock import Clock
from relata.services.clock import SystemClock
from relata.services.container import Services
from relata.settings import Settings
from relata.storage.database import Database
from relata.storage.migrate import upgrade


@dataclass
class Runtime:
    settings: Settings
    services: Services
    app: FastAPI


def build(settings: Settings, clock: Clock | None = None, migrate: bool = True) -> Runtime:
    db = Database(settings.database_url)
    if migrate:
        upgrade(db.engine)
    services = Services.create(db, clock or SystemClock(), settings.limits)
    return Runtime(settings, services, create_app(services))


def app_from_env() -> FastAPI:
    """Factory for ``uvicorn --factory`` and multi-process serving: settings from the environment."""
    return build(Settings.from_env(), migrate=False).app
