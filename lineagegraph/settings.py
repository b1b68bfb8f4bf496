"""Configuration, read from the environment, a ``.env`` file and ``lineagegraph.toml``.

Precedence, highest first: explicit keyword arguments, environment variables, ``.env`` in the
working directory, ``lineagegraph.toml`` in the working directory (or the file named by
``LINEAGEGRAPH_CONFIG``), then defaults. Passwords are never taken from the command line.

When ``NEO4J_URI`` is not set, lineagegraph uses its own local Neo4j server (see
:mod:`lineagegraph.server`), whose password lives in a file only the owner can read; its data
directory defaults to ``$XDG_DATA_HOME/lineagegraph/neo4j`` (``~/.local/share/...``), so every
working directory of one user meets the same database.

:func:`load_settings` is how the CLI reads them: a wrong value (a port of 99999, a malformed URI,
a string where the TOML file needs a number, a TOML syntax error) becomes one
:class:`~lineagegraph.errors.ConfigError` line naming the setting, where it came from and what to
do, instead of a pydantic traceback.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from lineagegraph.errors import ConfigError
from lineagegraph.redaction import redact_value, use_rules_file

__all__ = ["DEFAULT_MAX_INPUT_BYTES", "Settings", "config_error", "default_server_home", "load_settings"]

DEFAULT_MAX_INPUT_BYTES = 128 * 1024 * 1024
"""Largest input file an importer reads (128 MiB): parsers hold several times this in memory."""

# The URI schemes the official driver accepts (plain, TLS, TLS with a self-signed certificate).
_NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


def _toml_path() -> Path:
    return Path(os.environ.get("LINEAGEGRAPH_CONFIG", "lineagegraph.toml"))


def default_server_home() -> Path:
    """The local server's data directory: per user, not per working directory."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "lineagegraph" / "neo4j"


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
        default_factory=default_server_home,
        validation_alias=AliasChoices("LINEAGEGRAPH_SERVER_HOME", "server_home"),
        description="Data directory of the local server (default: $XDG_DATA_HOME/lineagegraph/neo4j).",
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
    max_input_bytes: int = Field(
        default=DEFAULT_MAX_INPUT_BYTES,
        ge=1,
        validation_alias=AliasChoices("LINEAGEGRAPH_MAX_INPUT_BYTES", "max_input_bytes"),
        description="Input files larger than this are refused before parsing.",
    )
    text_indexes: bool = Field(
        default=False,
        validation_alias=AliasChoices("LINEAGEGRAPH_TEXT_INDEXES", "text_indexes"),
        description="Keep the Lucene-backed indexes for ad-hoc substring and full-text searches of "
                    "element ids and labels (no lineagegraph query needs them; every write pays for them).",
    )
    redaction_rules: Path | None = Field(
        default=None,
        validation_alias=AliasChoices("LINEAGEGRAPH_REDACTION_RULES", "redaction_rules"),
        description="A TOML file of redaction rules added to the packaged defaults.",
    )

    @field_validator("neo4j_uri")
    @classmethod
    def _check_uri(cls, value: str | None) -> str | None:
        # The driver raises its own exceptions deep inside connect(); checking here gives the
        # user the setting's name instead.
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme not in _NEO4J_SCHEMES:
            raise ValueError(f"the scheme must be one of {', '.join(_NEO4J_SCHEMES)} (e.g. bolt://host:7687)")
        try:
            port = parts.port
        except ValueError as exc:
            raise ValueError("the port must be a number from 1 to 65535") from exc
        if not parts.hostname:
            raise ValueError("the URI names no host (e.g. bolt://host:7687)")
        if port == 0:
            raise ValueError("the port must be a number from 1 to 65535")
        if parts.password:
            raise ValueError("put the password in NEO4J_PASSWORD, not in the URI")
        return value

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


def _origin(names: tuple[str, ...]) -> str:
    """Where a setting's value came from, for the error message."""
    for name in names:
        if any(key.upper() == name.upper() for key in os.environ):
            return f"environment variable {name}"
    toml = _toml_path()
    try:
        data = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    for name in names:
        if name in data:
            return f"{name} in {toml}"
    return f"{names[-1]} (.env or argument)"


def config_error(exc: ValidationError) -> ConfigError:
    """One readable :class:`ConfigError` for a settings validation failure.

    Each problem names the setting, where its value came from and the rule it broke; values of
    password settings are never repeated.
    """
    problems = []
    for error in exc.errors():
        loc = str(error["loc"][0]) if error["loc"] else "?"
        field = next((name for name, info in Settings.model_fields.items()
                      if loc == name or (isinstance(info.validation_alias, AliasChoices)
                                         and loc in info.validation_alias.choices)), loc)
        info = Settings.model_fields.get(field)
        names: tuple[str, ...] = (loc,)
        if info is not None and isinstance(info.validation_alias, AliasChoices):
            names = tuple(str(c) for c in info.validation_alias.choices)
        shown = "" if "password" in field else f" = {redact_value(str(error.get('input')))[:80]!r}"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{_origin(names)}{shown}: {message}")
    return ConfigError("invalid configuration: " + "; ".join(problems)
                       + " (fix or unset the value; see docs/server.md for every setting)")


def load_settings(**overrides: Any) -> Settings:
    """Read the settings, turning any mistake in them into one :class:`ConfigError`.

    The redaction rules file, when one is configured, is loaded here too, so that a broken rules
    file is reported before anything is imported.
    """
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        raise config_error(exc) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{_toml_path()}: not valid TOML: {exc}; fix the file or point "
                          "LINEAGEGRAPH_CONFIG at another one") from None
    if settings.redaction_rules is not None:
        use_rules_file(settings.redaction_rules)
    return settings
