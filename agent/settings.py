"""Deployment settings, read once from the environment (and a `.env` file) and passed down."""

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Where data lives, which database and which models file to use."""

    model_config = SettingsConfigDict(
        env_prefix="RADASSIST_", env_file=".env", extra="ignore", populate_by_name=True
    )

    home: Path = Field(
        default_factory=lambda: Path(platformdirs.user_data_dir("radassist")),
        description="Per-user data directory: embedded PostgreSQL data, assembled model files.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("DATABASE_URL", "RADASSIST_DATABASE_URL"),
        description="An external PostgreSQL with pgvector; unset means the embedded server.",
    )
    models_file: Path = Field(default=REPO_ROOT / "models.yaml", description="litellm Router config.")
    experts_dir: Path = Field(default=REPO_ROOT / "experts", description="One Markdown file per expert.")
    plugins: str = Field(
        default="",
        description="Comma-separated entry-point tool plugins to load ('*' for all installed ones).",
    )
    draft_with_demo_models: bool = Field(
        default=False,
        description="Let aliases marked `demo: true` in models.yaml draft commentary (off: tools and passages only).",
    )
    host: str = "127.0.0.1"
    port: int = 8000
    public_url: str | None = Field(
        default=None,
        description="The address clinicians open (e.g. https://radassist.hospital.example behind a TLS proxy); "
        "the only origin the browser may call the server from. Unset: the local address.",
    )
    session_idle_timeout: int = Field(
        default=1800, ge=1, description="Seconds without a request after which a login session ends."
    )
    session_lifetime: int = Field(
        default=43200, ge=1, description="Seconds after login at which a session ends, however active."
    )
    max_message_chars: int = Field(
        default=8000, ge=1, description="Longer chat messages are refused before anything is stored."
    )
    login_max_failures: int = Field(
        default=5, ge=1, description="Failed logins per account before it is locked (with growing back-off)."
    )
    login_max_failures_per_client: int = Field(
        default=20, ge=1, description="Failed logins per client address before it is locked."
    )
    login_lockout_max: int = Field(default=900, ge=1, description="Longest login lock, in seconds.")
    login_attempts_per_minute: int = Field(
        default=30, ge=1, description="Login attempts per client address and minute, whatever their outcome."
    )
    api_requests_per_minute: int = Field(
        default=60, ge=1, description="Requests per account and minute to the OpenAI-compatible API (/v1)."
    )
    models_watch: bool = Field(
        default=True,
        description="Reload models.yaml when it changes (validated first; an invalid file keeps the old one).",
    )

    @field_validator("public_url", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @property
    def pgdata(self) -> Path:
        """Data directory of the embedded PostgreSQL server."""
        return self.home / "pgdata"

    @property
    def model_dir(self) -> Path:
        """Where bundled GGUF files are assembled."""
        return self.home / "models"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Return the process-wide settings (tests clear the cache after changing the environment)."""
    return Settings()
