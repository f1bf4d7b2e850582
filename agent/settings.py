"""Deployment settings, read once from the environment (and a `.env` file) and passed down."""

from functools import lru_cache
from pathlib import Path

import platformdirs
from pydantic import AliasChoices, Field
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
