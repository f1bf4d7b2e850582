"""models.yaml mistakes stop with one clear line naming the file, the entry and the problem."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from agent.cli import main
from agent.gateway import load_models_config
from agent.settings import REPO_ROOT

GOOD_DEFAULT = """
  - model_name: default
    litellm_params: {model: llamacpp/bundled/gemma3-270m, chat_format: gemma}
"""
GOOD_EMBEDDER = """
  - model_name: embedder
    litellm_params: {model: sentence_transformers/bundled/all-MiniLM-L6-v2}
    model_info: {mode: embedding}
"""


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def models_file(tmp_path: Path, set_env: Callable[..., None]) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "models.yaml"
        path.write_text(text)
        set_env(RADASSIST_MODELS_FILE=str(path))
        return path

    return write


def test_shipped_models_file_is_valid() -> None:
    config = load_models_config(REPO_ROOT / "models.yaml")
    assert {"default", "embedder"} <= set(config.aliases())
    assert all(e.is_local for e in config.model_list), "the shipped defaults must keep data on this machine"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        pytest.param(
            "model_list:"
            + GOOD_EMBEDDER
            + "  - model_name: default\n    litellm_params: {model: olama/mixtral}\n",
            ["model_list[1]", "'default'", "unknown provider 'olama'"],
            id="unknown-provider",
        ),
        pytest.param(
            "model_list:"
            + GOOD_EMBEDDER
            + "  - model_name: default\n    litellm_params: {temperature: 0.1}\n",
            ["model_list.1.litellm_params.model", "'default'", "Field required"],
            id="missing-model-field",
        ),
        pytest.param(
            "model_list:" + GOOD_EMBEDDER + "  - litellm_params: {model: llamacpp/bundled/gemma3-270m}\n",
            ["model_list.1.model_name", "Field required"],
            id="missing-alias-name",
        ),
        pytest.param(
            "model_list:" + GOOD_EMBEDDER,
            ["alias 'default' is not defined", "embedder"],
            id="required-alias-missing",
        ),
        pytest.param(
            "model_list:"
            + GOOD_EMBEDDER
            + "  - model_name: default\n    litellm_params: {model: llamacpp/no/such.gguf}\n",
            ["model_list[1]", "GGUF file not found", "no/such.gguf"],
            id="gguf-missing",
        ),
        pytest.param(
            "model_list:"
            + GOOD_DEFAULT
            + GOOD_EMBEDDER
            + "router_settings:\n  fallbacks: [{default: [nope]}]\n",
            ["alias 'nope' is not defined"],
            id="fallback-to-unknown-alias",
        ),
        pytest.param("model_list: [unclosed\n", ["not valid YAML"], id="not-yaml"),
        pytest.param(
            "model_list:" + GOOD_DEFAULT + GOOD_EMBEDDER + "routers: {}\n",
            ["routers", "Extra inputs are not permitted"],
            id="unknown-top-level-key",
        ),
    ],
)
def test_bad_models_file_gives_one_clear_line(
    body: str, expected: list[str], models_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = models_file(body)
    code, out, err = run_cli(["models", "list"], capsys)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"radassist: error: {path}")
    for fragment in expected:
        assert fragment in lines[0]
    assert "Traceback" not in err + out


def test_unknown_alias_is_named(
    models_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    models_file("model_list:" + GOOD_DEFAULT + GOOD_EMBEDDER)
    code, _, err = run_cli(["models", "test", "radiology"], capsys)
    assert code == 2
    assert "alias 'radiology' is not defined (defined: default, embedder)" in err


def test_missing_models_file(
    set_env: Callable[..., None], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    set_env(RADASSIST_MODELS_FILE=str(tmp_path / "absent.yaml"))
    code, _, err = run_cli(["models", "list"], capsys)
    assert code == 2
    assert "absent.yaml: models file not found" in err


def test_models_list_marks_remote_models(
    models_file: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    models_file(
        "model_list:"
        + GOOD_DEFAULT
        + GOOD_EMBEDDER
        + "  - model_name: cloud\n    litellm_params: {model: openai/gpt-4o-mini}\n"
        + "  - model_name: lan\n    litellm_params: {model: ollama_chat/mixtral, api_base: 'http://10.0.0.5:11434'}\n"
    )
    code, out, _ = run_cli(["models", "list"], capsys)
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert "REMOTE" in rows["cloud"]
    assert "REMOTE" not in rows["lan"] and "REMOTE" not in rows["default"]
