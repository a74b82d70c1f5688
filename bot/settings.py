"""One typed settings object, read from the environment with the names Slack's samples use."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.core.content import DEFAULT_CONTENT_DIR

SLACK_DEFAULT_API_URL = "https://slack.com/api/"


class SettingsError(Exception):
    """The environment is missing a variable or holds a malformed one; the message names it."""


DEFAULT_DATABASE_URL = "sqlite:///psoas-bot.db"
SettingsT = TypeVar("SettingsT", bound=BaseSettings)


class ContentSettings(BaseSettings):
    """What `psoas-bot content check` needs: where the exercise library is."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    # The exercise library (`CONTENT_DIR`); the checkout's `content/` unless set.
    content_dir: Path = DEFAULT_CONTENT_DIR


class DatabaseSettings(ContentSettings):
    """What `psoas-bot migrate` needs: no Slack secrets."""

    database_url: str = DEFAULT_DATABASE_URL
    # How long start-up waits for the database to come up before giving up.
    database_wait_seconds: int = Field(default=60, ge=0, le=3600)
    log_format: str = Field(default="json", pattern="^(json|text)$")

    @field_validator("database_url")
    @classmethod
    def _database_url_shape(cls, value: str) -> str:
        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(
                "give an SQLAlchemy URL such as sqlite:///psoas-bot.db or "
                "postgresql+psycopg://user@host/dbname"
            ) from None
        return value


class KeySettings(DatabaseSettings):
    """What `psoas-bot rotate-key` needs: the database and the keys."""

    token_encryption_key: SecretStr | None = None

    @field_validator("token_encryption_key", mode="before")
    @classmethod
    def _empty_key_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("token_encryption_key")
    @classmethod
    def _fernet_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            from bot.data.installations import parse_keys

            parse_keys(value.get_secret_value())  # ValueError names what is wrong
        return value

    def encryption_key(self) -> str | None:
        """The key(s) to encrypt stored tokens with, in the clear, or None for none."""
        key = self.token_encryption_key
        return key.get_secret_value() if key else None


class Settings(KeySettings):
    # Verifies Slack's HTTP requests: required in HTTP mode, unused in Socket Mode
    # (`load_settings` checks which).
    slack_signing_secret: SecretStr | None = None
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_client_id: str | None = None
    slack_client_secret: SecretStr | None = None
    slack_api_url: str = SLACK_DEFAULT_API_URL
    port: int = Field(default=3000, ge=1, le=65535)
    # Largest request body accepted on /slack/events; Slack's payloads are far smaller.
    max_body_bytes: int = Field(default=1_000_000, ge=1024)
    server_threads: int = Field(default=8, ge=1, le=256)
    # Nudges: how often the scheduler ticks, and the DM rate per workspace (Slack allows
    # several hundred chat.postMessage calls a minute per workspace).
    tick_seconds: int = Field(default=20, ge=5, le=300)
    nudge_rate_per_second: float = Field(default=5.0, gt=0, le=50)
    # A claimed nudge with no outcome after this long belongs to a process that died.
    claim_lease_seconds: int = Field(default=120, ge=1, le=900)

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("a bot token starts with 'xoxb-'")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("an app-level token starts with 'xapp-'")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _api_url_shape(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("give a base URL such as https://slack.com/api/")
        return value if value.endswith("/") else value + "/"

    @field_validator(
        "slack_signing_secret",
        "slack_bot_token",
        "slack_app_token",
        "slack_client_id",
        "slack_client_secret",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value


def _read(kind: type[SettingsT], overrides: dict[str, object]) -> SettingsT:
    """Read the environment; turn pydantic's error into one line per variable at fault."""
    try:
        return kind(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = str(error["loc"][0]).upper() if error["loc"] else "environment"
            # Our validators' ValueErrors arrive as "Value error, <what we said>": say only that.
            message = str(error["msg"]).removeprefix("Value error, ")
            reason = "is not set" if error["type"] == "missing" else f"is invalid: {message}"
            problems.append(f"{name} {reason}")
        raise SettingsError("; ".join(problems)) from None


def load_content_settings(**overrides: object) -> ContentSettings:
    return _read(ContentSettings, overrides)


def load_database_settings(**overrides: object) -> DatabaseSettings:
    return _read(DatabaseSettings, overrides)


def load_key_settings(**overrides: object) -> KeySettings:
    return _read(KeySettings, overrides)


def load_settings(*, serving: bool = True, **overrides: object) -> Settings:
    """The bot's settings. `serving` is False for commands that answer no Slack request
    (`tick`): they need no signing secret."""
    settings = _read(Settings, overrides)
    if serving and settings.slack_signing_secret is None and settings.slack_app_token is None:
        raise SettingsError(
            "SLACK_SIGNING_SECRET is not set: HTTP mode verifies every request from Slack with "
            "it (Basic Information -> Signing Secret); or set SLACK_APP_TOKEN for Socket Mode, "
            "which needs no signing secret"
        )
    if settings.slack_bot_token is None and settings.slack_client_id is None:
        raise SettingsError(
            "SLACK_BOT_TOKEN is not set: give the bot token (xoxb-...) for one workspace, "
            "or SLACK_CLIENT_ID and SLACK_CLIENT_SECRET for many workspaces"
        )
    if settings.slack_client_id and settings.slack_client_secret is None:
        raise SettingsError("SLACK_CLIENT_SECRET is not set: OAuth needs it with SLACK_CLIENT_ID")
    return settings


def secrets_of(settings: Settings) -> list[str]:
    """What the log filter must never let through."""
    values = [
        settings.slack_signing_secret,
        settings.slack_bot_token,
        settings.slack_app_token,
        settings.slack_client_secret,
        settings.token_encryption_key,
    ]
    return [v.get_secret_value() for v in values if v is not None]
