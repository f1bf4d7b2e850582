"""models.yaml: litellm's own Router config format, validated before anything is built.

Admins swap models by editing this file; the app only ever names aliases. Every mistake an admin
can make here (unknown provider, missing field, unknown alias, missing GGUF file) is reported as
one line naming the file, the entry and the problem.
"""

from __future__ import annotations

import hashlib
from ipaddress import ip_address
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from common.errors import RadassistError

CUSTOM_PROVIDERS = ("llamacpp", "sentence_transformers")
LOCAL_HOSTS = {"localhost", "ollama", "llamacpp", "llamacpp-1", "llamacpp-2"}
"""compose.yaml's service names: they count as the hospital's own network."""
REQUIRED_ALIASES = ("default", "embedder")


class LitellmParams(BaseModel):
    """`litellm_params` of one deployment; provider-specific keys pass through to litellm."""

    model_config = ConfigDict(extra="allow")

    model: str = Field(min_length=3)
    api_base: str | None = None

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0]

    @property
    def target(self) -> str:
        """The part after the provider prefix (a model name, a GGUF path, 'bundled/<name>')."""
        return self.model.split("/", 1)[1] if "/" in self.model else ""


class ModelEntry(BaseModel):
    """One `model_list` item: an alias and what it resolves to."""

    model_config = ConfigDict(extra="forbid")

    model_name: str = Field(min_length=1)
    litellm_params: LitellmParams
    model_info: dict[str, Any] = Field(default_factory=dict)

    @property
    def is_demo(self) -> bool:
        """True when models.yaml marks the alias `model_info: {demo: true}` (a model that proves the path only)."""
        return bool(self.model_info.get("demo"))

    @property
    def is_local(self) -> bool:
        """True when calls stay on this machine or the hospital's own services (no PHI egress).

        `model_info: {remote: true}` declares a deployment remote whatever its address says (a proxy on
        this machine that forwards to a cloud provider).
        """
        if self.model_info.get("remote") is True:
            return False
        params = self.litellm_params
        if params.provider in CUSTOM_PROVIDERS:
            return True
        if params.provider in ("ollama", "ollama_chat") and params.api_base is None:
            return True  # litellm's default Ollama base is localhost:11434
        if params.api_base is None:
            return False
        host = urlsplit(params.api_base).hostname or ""
        if host in LOCAL_HOSTS:
            return True
        try:
            return ip_address(host).is_loopback or ip_address(host).is_private
        except ValueError:
            return False


class ModelsConfig(BaseModel):
    """The whole file. `litellm_settings` is accepted for proxy compatibility; only safe keys are applied."""

    model_config = ConfigDict(extra="forbid")

    model_list: list[ModelEntry] = Field(min_length=1)
    router_settings: dict[str, Any] = Field(default_factory=dict)
    litellm_settings: dict[str, Any] = Field(default_factory=dict)
    source: Path | None = Field(default=None, exclude=True)
    sha256: str | None = Field(default=None, exclude=True)
    """The sha256 of the file's bytes as read: which configuration answered (recorded in provenance)."""

    def aliases(self) -> list[str]:
        return sorted({e.model_name for e in self.model_list})

    def entries(self, alias: str) -> list[ModelEntry]:
        """Return the deployments behind an alias, or fail naming the alias and the file."""
        found = [e for e in self.model_list if e.model_name == alias]
        if not found:
            raise RadassistError(
                f"{self.source or 'models.yaml'}: alias {alias!r} is not defined "
                f"(defined: {', '.join(self.aliases())})"
            )
        return found

    def entry(self, alias: str) -> ModelEntry:
        return self.entries(alias)[0]

    def demo_aliases(self) -> frozenset[str]:
        """Aliases marked as demo models: their drafts are skipped unless an admin turns drafting on."""
        return frozenset(e.model_name for e in self.model_list if e.is_demo)

    # -- where calls go (agent/gateway/phi.py) ----------------------------------------------------

    def reachable(self, alias: str) -> list[ModelEntry]:
        """Every deployment a call to `alias` may reach: its own and those of its litellm fallbacks."""
        settings = self.router_settings
        rules = [
            dict(rule)
            for key in ("fallbacks", "context_window_fallbacks", "content_policy_fallbacks")
            for rule in settings.get(key) or []
        ]
        seen: list[str] = []
        todo = [alias]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.append(current)
            for rule in rules:
                todo.extend(rule.get(current, []))
            todo.extend(settings.get("default_fallbacks") or [])
        return [e for name in seen for e in self.model_list if e.model_name == name]

    def leaves_machine(self, alias: str) -> bool:
        """True when a call to `alias` may reach a remote deployment (directly or as a fallback)."""
        return any(not e.is_local for e in self.reachable(alias))

    def allows_phi(self, alias: str) -> bool:
        """True when every remote deployment `alias` may reach is marked `allow_phi: true`."""
        return all(e.is_local or e.model_info.get("allow_phi") is True for e in self.reachable(alias))

    def phi_fallback(self, alias: str) -> str | None:
        """The local alias that takes a remote alias's calls when the text has patient identifiers."""
        chosen = self.entry(alias).model_info.get("phi_fallback")
        if chosen is None and "default" in self.aliases() and not self.leaves_machine("default"):
            chosen = "default"
        return str(chosen) if chosen is not None and chosen != alias else None


# Providers seen in models.yaml files, checked without importing litellm (about 2.5 s per command);
# a test keeps this list a subset of litellm's own. Any other prefix is checked against litellm.
COMMON_PROVIDERS = frozenset(
    "openai ollama ollama_chat hosted_vllm lm_studio llamafile azure anthropic gemini vertex_ai bedrock "
    "mistral groq together_ai openrouter deepseek huggingface".split()
)


def _is_known_provider(provider: str) -> bool:
    if provider in CUSTOM_PROVIDERS or provider in COMMON_PROVIDERS:
        return True
    import litellm

    return provider in {str(getattr(p, "value", p)) for p in litellm.provider_list}


def load_models_config(path: Path, *, model_dir: Path | None = None) -> ModelsConfig:
    """Read and validate models.yaml; raise RadassistError with one clear line on any problem."""
    if not path.is_file():
        raise RadassistError(f"{path}: models file not found (RADASSIST_MODELS_FILE)")
    try:
        data = path.read_bytes()
        raw = yaml.safe_load(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise RadassistError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except yaml.YAMLError as exc:
        raise RadassistError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from exc
    if not isinstance(raw, dict):
        raise RadassistError(f"{path}: expected a mapping with a 'model_list' key")
    try:
        config = ModelsConfig.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        alias = _alias_at(raw, err["loc"])
        raise RadassistError(f"{path}: {where}{alias}: {err['msg']}") from exc
    config.source = path
    config.sha256 = hashlib.sha256(data).hexdigest()
    _check_entries(config, path, model_dir)
    return config


def _alias_at(raw: dict[str, Any], loc: tuple[Any, ...]) -> str:
    if len(loc) >= 2 and loc[0] == "model_list" and isinstance(loc[1], int):
        try:
            return f" (alias {raw['model_list'][loc[1]].get('model_name')!r})"
        except (AttributeError, IndexError, KeyError, TypeError):
            return ""
    return ""


def _check_entries(config: ModelsConfig, path: Path, model_dir: Path | None) -> None:
    from agent.gateway.gguf import resolve_gguf

    for i, entry in enumerate(config.model_list):
        where = f"{path}: model_list[{i}] (alias {entry.model_name!r})"
        params = entry.litellm_params
        if "/" not in params.model:
            raise RadassistError(
                f"{where}: model {params.model!r} needs a provider prefix, e.g. 'ollama_chat/...'"
            )
        if not _is_known_provider(params.provider):
            raise RadassistError(
                f"{where}: unknown provider {params.provider!r} in {params.model!r} "
                f"(custom: {', '.join(CUSTOM_PROVIDERS)}; or any litellm provider such as ollama_chat, openai)"
            )
        if params.provider == "llamacpp":
            try:
                resolve_gguf(params.target, base=path.parent, model_dir=model_dir, check_only=True)
            except RadassistError as exc:
                raise RadassistError(f"{where}: {exc}") from None
        _check_adapter(params, path, where)
    for alias in REQUIRED_ALIASES:
        config.entries(alias)
    for i, entry in enumerate(config.model_list):
        _check_phi_settings(config, entry, f"{path}: model_list[{i}] (alias {entry.model_name!r})")
    for rule in config.router_settings.get("fallbacks", []) or []:
        for src, targets in dict(rule).items():
            for alias in [src, *targets]:
                config.entries(alias)


def _check_adapter(params: LitellmParams, path: Path, where: str) -> None:
    """`lora_path` names an existing adapter file of a llamacpp/ model; `lora_scale` is a number."""
    from agent.gateway.gguf import resolve_adapter

    extra = params.model_extra or {}
    lora, scale = extra.get("lora_path"), extra.get("lora_scale")
    if lora is None:
        if scale is not None:
            raise RadassistError(f"{where}: lora_scale is set but lora_path is not")
        return
    if params.provider != "llamacpp":
        raise RadassistError(
            f"{where}: lora_path works with the llamacpp/ provider only (serve adapters of "
            f"{params.provider}/ models from that server instead)"
        )
    if not isinstance(lora, str) or not lora.strip():
        raise RadassistError(f"{where}: lora_path must be the path of a LoRA adapter GGUF file")
    if scale is not None and (isinstance(scale, bool) or not isinstance(scale, int | float)):
        raise RadassistError(f"{where}: lora_scale must be a number, not {scale!r}")
    try:
        resolve_adapter(lora, base=path.parent)
    except RadassistError as exc:
        raise RadassistError(f"{where}: {exc}") from None


def _check_phi_settings(config: ModelsConfig, entry: ModelEntry, where: str) -> None:
    """`remote` and `allow_phi` are booleans; a `phi_fallback` is a defined alias whose calls stay local."""
    info = entry.model_info
    for key in ("remote", "allow_phi"):
        if key in info and not isinstance(info[key], bool):
            raise RadassistError(f"{where}: model_info.{key} must be true or false, not {info[key]!r}")
    fallback = info.get("phi_fallback")
    if fallback is None:
        return
    if not isinstance(fallback, str) or fallback not in config.aliases():
        raise RadassistError(f"{where}: model_info.phi_fallback {fallback!r} is not an alias in this file")
    if config.leaves_machine(fallback):
        raise RadassistError(
            f"{where}: model_info.phi_fallback {fallback!r} must be a local alias (its calls leave this machine)"
        )
