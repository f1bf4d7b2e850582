"""compose.yaml cannot run here (no Docker engine): check its structure instead."""

from __future__ import annotations

import re

import yaml

from agent.settings import REPO_ROOT

COMPOSE = yaml.safe_load((REPO_ROOT / "compose.yaml").read_text())
SERVICES = COMPOSE["services"]


def test_the_services() -> None:
    assert {"db", "ollama", "llamacpp-1", "llamacpp-2", "app", "proxy"} <= set(SERVICES)


def test_images_are_pinned_to_versions() -> None:
    for name in ("db", "ollama", "proxy"):
        image = SERVICES[name]["image"]
        repo, _, tag = image.rpartition(":")
        assert repo and tag and tag != "latest", image
        assert re.search(r"\d+\.\d+", tag), f"{name}: tag {tag!r} is not a version"
    for name in ("llamacpp-1", "llamacpp-2"):  # llama.cpp tags its images by build number
        assert re.fullmatch(r"ghcr\.io/ggml-org/llama\.cpp:server-b\d+", SERVICES[name]["image"])
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


def test_only_the_proxy_publishes_a_port_and_on_loopback() -> None:
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"proxy"}
    assert all(str(p).startswith("127.0.0.1:") for p in SERVICES["proxy"]["ports"])


def test_app_replicas_sit_behind_a_proxy_with_sticky_sessions() -> None:
    app = SERVICES["app"]
    assert app["deploy"]["replicas"] >= 2
    assert "8000" in [str(p) for p in app["expose"]]
    assert SERVICES["proxy"]["depends_on"]["app"]["condition"] == "service_healthy"
    config = next(c for c in SERVICES["proxy"]["configs"] if c["target"] == "/etc/caddy/Caddyfile")
    caddyfile = COMPOSE["configs"][config["source"]]["content"]
    assert re.search(r"dynamic a app 8000", caddyfile), "every replica, found by Docker's DNS"
    assert re.search(r"lb_policy cookie \w+", caddyfile), "sticky: Chainlit's socket stays on its replica"
    assert "flush_interval -1" in caddyfile, "streamed answers are passed on at once"


def test_replicas_share_the_secrets_and_the_data_directory() -> None:
    env = SERVICES["app"]["environment"]
    assert env["RADASSIST_HOME"] == "/data" and "appdata:/data" in SERVICES["app"]["volumes"]
    assert "CHAINLIT_AUTH_SECRET" in env


def test_the_model_servers_are_local_for_the_remote_model_guard() -> None:
    from agent.gateway.config import ModelEntry

    for name in ("llamacpp-1", "llamacpp-2"):
        service = SERVICES[name]
        assert "/models/model.gguf" in service["command"] and "--port" in service["command"]
        port = service["command"][service["command"].index("--port") + 1]
        entry = ModelEntry.model_validate(
            {
                "model_name": "x",
                "litellm_params": {"model": "openai/x", "api_base": f"http://{name}:{port}/v1"},
            }
        )
        assert entry.is_local, name


def test_app_image_is_built_from_this_repository() -> None:
    assert (REPO_ROOT / "Dockerfile").is_file()
    assert SERVICES["app"]["build"] == "."
