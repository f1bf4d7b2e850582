"""compose.yaml cannot run here (no Docker engine): check its structure instead."""

from __future__ import annotations

import re

import yaml

from agent.settings import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_three_services() -> None:
    assert {"db", "ollama", "app"} <= set(SERVICES)


def test_images_are_pinned_to_versions() -> None:
    for name in ("db", "ollama"):
        image = SERVICES[name]["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", image
        assert re.search(r"\d+\.\d+", tag), f"{name}: tag {tag!r} is not a version"
    assert SERVICES["db"]["image"].startswith("pgvector/pgvector:"), "the database needs pgvector"


def test_every_service_has_a_health_check() -> None:
    for name, service in SERVICES.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"


def test_app_reaches_the_database_service_by_database_url() -> None:
    env = SERVICES["app"]["environment"]
    assert re.match(r"postgresql://[^@]+@db:5432/radassist$", env["DATABASE_URL"])
    assert env["DATABASE_URL"].split("//")[1].split(":")[0] == SERVICES["db"]["environment"]["POSTGRES_USER"]


def test_app_waits_for_a_healthy_database() -> None:
    depends = SERVICES["app"]["depends_on"]
    assert depends["db"]["condition"] == "service_healthy"


def test_data_survives_restarts_and_models_file_is_mounted() -> None:
    assert any(v.endswith(":/var/lib/postgresql/data") for v in SERVICES["db"]["volumes"])
    assert any(v.endswith(":/root/.ollama") for v in SERVICES["ollama"]["volumes"])
    assert "./models.yaml:/config/models.yaml:ro" in SERVICES["app"]["volumes"]
    assert SERVICES["app"]["environment"]["RADASSIST_MODELS_FILE"] == "/config/models.yaml"


def test_app_port_is_bound_to_loopback() -> None:
    assert all(str(p).startswith("127.0.0.1:") for p in SERVICES["app"]["ports"])


def test_app_image_is_built_from_this_repository() -> None:
    assert (REPO_ROOT / "Dockerfile").is_file()
    assert SERVICES["app"]["build"] == "."
