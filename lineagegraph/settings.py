"""Configuration, read from the environment, a ``.env`` file and ``lineagegraph.toml``.

Precedence, highest first: explicit keyword arguments, environment variables, ``.env`` in the
working directory, ``lineagegraph.toml`` in the working directory (or the file named by
``LINEAGEGRAPH_CONFIG``), then defaults. Passwords are never taken from the command line.

When ``NEO4J_URI`` is not set, lineagegraph uses its own local Neo4j server (see
:mod:`lineagegraph.server`), whose password lives in a file only the owner can read.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = ["Settings"]


def _toml_path() -> Path:
    return Path(os.environ.get("LINEAGEGRAPH_CONFIG", "lineagegraph.toml"))


class Settings(BaseSettings):
    """Where the graph lives and how imports write to it."""

    model_config = SettingsConfigDict(
        env_file=".env",
        extra="ignore",
        populate_by_name=True,
    )

    neo4j_uri: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NEO4J_URI", "neo4j_uri"),
        description="Bolt/neo4j URI of an existing server; unset means the local server.",
    )
    neo4j_user: str = Field(default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "neo4j_user"))
    neo4j_password: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_PASSWORD", "neo4j_password")
    )
    neo4j_database: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_DATABASE", "neo4j_database")
    )
    server_home: Path = Field(
        default=Path(".lineagegraph/neo4j"),
        validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_HOME", "server_home"),
        description="Data directory of the local server (project-local by default).",
    )
    server_port: int = Field(
        default=7687,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_PORT", "server_port"),
    )
    server_http_port: int = Field(
        default=7474,
        ge=1,
        le=65535,
        validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_HTTP_PORT", "server_http_port"),
        description="HTTP/Neo4j Browser port of the local server when started with --browser.",
    )
    server_heap_mb: int = Field(
        default=2048, ge=256, validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_HEAP_MB", "server_heap_mb")
    )
    server_page_cache_mb: int = Field(
        default=512,
        ge=64,
        validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_PAGE_CACHE_MB", "server_page_cache_mb"),
    )
    batch_size: int = Field(
        default=5000, ge=1, le=100_000, validation_alias=AliasChoices("LINEAGEGRAPH_BATCH_SIZE", "batch_size")
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml = TomlConfigSettingsSource(settings_cls, toml_file=_toml_path())
        return (init_settings, env_settings, dotenv_settings, toml, file_secret_settings)

    @property
    def uses_local_server(self) -> bool:
        return not self.neo4j_uri
