"""compose.yaml describes the documented scale-out, and says the same as the loopback cluster the tests run.

Docker cannot run here, so the file is checked for what the deployment needs (two instances behind nginx,
Redis, PostgreSQL and Chroma, health checks, named volumes, secrets from an env file), and its nginx
configuration for the directives tests/test_loopback_cluster.py proves with real processes.
"""

from __future__ import annotations

import re

import pytest
import yaml

from tests.conftest import ROOT
from tests.loopback_cluster import NGINX_CONF

COMPOSE = ROOT / "compose.yaml"
APPS = ("app-1", "app-2")
# What makes failover work: sticky sessions, the websocket upgrade, retrying the next instance, the client address.
NGINX_DIRECTIVES = (
    "ip_hash;",
    "proxy_http_version 1.1;",
    "proxy_set_header Upgrade $http_upgrade;",
    "proxy_set_header Connection $connection_upgrade;",
    "proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
    "proxy_next_upstream error timeout http_502 http_503;",
    "proxy_buffering off;",
    "location = /metrics { return 403; }",
)


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def test_every_part_of_the_topology_is_a_service_with_a_health_check(compose):
    services = compose["services"]
    assert set(services) == {*APPS, "nginx", "redis", "postgres", "chroma"}
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("restart") == "unless-stopped", name


def test_the_instances_share_the_services_and_read_secrets_from_an_env_file(compose):
    for name in APPS:
        app = compose["services"][name]
        assert app["env_file"][0]["path"] == ".env" and app["env_file"][0]["required"], name
        env = app["environment"]
        assert env["SESSION_REDIS_URL"].startswith("redis://redis:")
        assert env["DATABASE_URL"].startswith("postgresql+asyncpg://") and "@postgres:" in env["DATABASE_URL"]
        assert env["KNOWLEDGE_CHROMA_URL"] == "http://chroma:8000"
        assert "ports" not in app, "only nginx is published"
        assert any(volume.startswith("files:") for volume in app["volumes"]), "uploads on a shared volume"
        for secret in ("AUTH_SECRET", "SESSION_ENCRYPTION_KEYS", "LLM_API_KEY"):
            assert secret not in env, f"{secret} belongs in the env file, not in compose.yaml"
    assert compose["services"]["app-2"]["depends_on"]["app-1"]["condition"] == "service_healthy"


def test_state_lives_on_named_volumes(compose):
    assert set(compose["volumes"]) >= {"files", "redis-data", "pg-data", "chroma-data"}
    for name, path in (("redis", "/data"), ("postgres", "/var/lib/postgresql/data"), ("chroma", "/data")):
        assert any(v.split(":")[1] == path for v in compose["services"][name]["volumes"]), name


@pytest.mark.parametrize("directive", NGINX_DIRECTIVES)
def test_nginx_in_compose_and_on_loopback_configure_the_same_failover(compose, directive):
    in_compose = compose["configs"]["nginx"]["content"].replace("$$", "$")  # compose escapes $ as $$
    assert directive in in_compose
    assert directive in NGINX_CONF.replace("{{", "{").replace("}}", "}")  # the template escapes braces
    upstreams = re.findall(r"server app-\d:8000 max_fails=1 fail_timeout=\d+s;", in_compose)
    assert len(upstreams) == len(APPS)
