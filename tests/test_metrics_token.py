"""/metrics behind OBSERVABILITY_METRICS_TOKEN (agent/web/routes.py); the metrics themselves are tested on a real
server in tests/test_observability_server.py."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from agent.readiness import Readiness
from agent.settings import ObservabilitySettings
from agent.web.routes import routes


def _client(token: str) -> TestClient:
    app = FastAPI()
    app.include_router(routes(None, dict, Readiness({}, 1.0), token))  # type: ignore[arg-type]
    return TestClient(app)


def test_with_a_token_only_the_scraper_reads_the_metrics():
    client = _client("s3cret-scrape")
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics").headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-scrape"}).status_code == 401
    allowed = client.get("/metrics", headers={"Authorization": "Bearer s3cret-scrape"})
    assert allowed.status_code == 200 and "support_turns_total" in allowed.text
    assert client.get("/ready").status_code == 200, "the probes stay open for the load balancer"


def test_without_a_token_the_metrics_are_open(monkeypatch):
    monkeypatch.delenv("OBSERVABILITY_METRICS_TOKEN", raising=False)
    assert ObservabilitySettings().metrics_token.get_secret_value() == ""
    assert _client("").get("/metrics").status_code == 200
