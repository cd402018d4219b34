"""The FastAPI application: every API under the paths its clients expect."""

from __future__ import annotations

from fastapi import FastAPI

from relata.api import contract, errors, pipelines, reads, segments, templates, track_v1, track_v2
from relata.api.responses import JSONResponse
from relata.services.container import Services


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Relata",
        version="0.1.0",
        description="Lifecycle messaging on objects and relationships; Customer.io-compatible ingestion.",
        default_response_class=JSONResponse,
    )
    app.state.services = services
    errors.install(app)

    @app.get("/healthz", tags=["ops"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    for module in (track_v1, track_v2, pipelines, reads, contract, templates, segments):
        app.include_router(module.router)
    return app
