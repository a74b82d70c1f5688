"""Many workspaces: slack_sdk's SQLAlchemy installation and OAuth state stores on our database,
with bot tokens encrypted at rest (Fernet) when TOKEN_ENCRYPTION_KEY is set.

The key may list several comma-separated Fernet keys: the first encrypts, all decrypt, so a
new key goes first and `psoas-bot rotate-key` re-encrypts every stored token with it.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk.oauth.installation_store import Bot, Installation, InstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import SQLAlchemyInstallationStore
from slack_sdk.oauth.sqlalchemy_utils import normalize_datetime_for_db
from slack_sdk.oauth.state_store.sqlalchemy import SQLAlchemyOAuthStateStore
from sqlalchemy import Dialect, Engine, MetaData, String, Table, TypeDecorator, func, select
from sqlalchemy.exc import SQLAlchemyError

from bot.data.database import ENGINE_WORK_SECONDS, Database, DatabaseUnavailableError
from bot.data.models import Workspace

log = logging.getLogger(__name__)

# How long an installation found lately still authorizes requests while the database is down.
REMEMBER_SECONDS = 600.0
TOKEN_COLUMNS = ("bot_token", "bot_refresh_token", "user_token", "user_refresh_token")
ENCRYPTED_PREFIX = "fernet:"


def parse_keys(value: str) -> MultiFernet:
    """`key1,key2`: Fernet keys, newest first. Raises ValueError on a malformed key."""
    keys = [k.strip() for k in value.split(",") if k.strip()]
    if not keys:
        raise ValueError("no key given")
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except (ValueError, TypeError):
        raise ValueError(
            "each key must be 32 url-safe base64-encoded bytes, as Fernet.generate_key() makes"
        ) from None


class EncryptedString(TypeDecorator[str]):
    """A token column: Fernet ciphertext in the database, the token in Python."""

    impl = String(200)
    # Statements with this type may be cached: SQLAlchemy puts `fernet` (the one
    # constructor argument) in the cache key, by identity (MultiFernet has no __eq__), so a
    # statement compiled for one key is never reused with another's bind processors.
    cache_ok = True

    def __init__(self, fernet: MultiFernet | None) -> None:
        super().__init__()
        self.fernet = fernet

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or self.fernet is None:
            return value
        return ENCRYPTED_PREFIX + self.fernet.encrypt(value.encode()).decode()

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        if value is None or not value.startswith(ENCRYPTED_PREFIX):
            return value  # stored before encryption was turned on
        if self.fernet is None:
            raise RuntimeError("a stored token is encrypted but TOKEN_ENCRYPTION_KEY is not set")
        try:
            return self.fernet.decrypt(value.removeprefix(ENCRYPTED_PREFIX).encode()).decode()
        except InvalidToken:
            raise RuntimeError(
                "a stored token does not decrypt with TOKEN_ENCRYPTION_KEY; "
                "put the old key after the new one"
            ) from None


def _with_encrypted_tokens(table: Table, fernet: MultiFernet | None) -> Table:
    for name in TOKEN_COLUMNS:
        if name in table.c:
            table.c[name].type = EncryptedString(fernet)
    return table


class EncryptedInstallationStore(SQLAlchemyInstallationStore):
    """slack_sdk's store with tokens encrypted at rest. Given the `database`, every call is a
    bounded unit of work of it, and a failure leaves as `DatabaseUnavailableError` (with no
    SQL or parameters in its message) like any other unit's."""

    def __init__(
        self,
        client_id: str,
        engine: Engine,
        fernet: MultiFernet | None,
        *,
        database: Database | None = None,
    ) -> None:
        super().__init__(client_id=client_id, engine=engine)
        _with_encrypted_tokens(self.bots, fernet)
        _with_encrypted_tokens(self.installations, fernet)
        self.database = database
        # The installations found lately, by (org, workspace, org-wide): while the database
        # cannot answer, a request from a workspace seen within REMEMBER_SECONDS is still
        # authorized, so what needs no database (the exercises) keeps answering. Deleting an
        # installation forgets it here at once.
        self._recent: dict[tuple[str | None, str | None, bool], tuple[float, Installation]] = {}
        self._recent_lock = threading.Lock()

    @contextmanager
    def _unit(self) -> Iterator[None]:
        if self.database is not None:
            with self.database.unit():
                yield
            return
        try:
            yield
        except SQLAlchemyError as exc:
            raise DatabaseUnavailableError(type(exc).__name__) from exc

    def save(self, installation: Installation) -> None:
        with self._unit():
            super().save(installation)

    def save_bot(self, bot: Bot) -> None:
        with self._unit():
            super().save_bot(bot)

    def find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        with self._unit():
            found: Bot | None = super().find_bot(
                enterprise_id=enterprise_id,
                team_id=team_id,
                is_enterprise_install=is_enterprise_install,
            )
            return found

    def find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        key = (enterprise_id, team_id, bool(is_enterprise_install))
        try:
            with self._unit():
                found: Installation | None = super().find_installation(
                    enterprise_id=enterprise_id,
                    team_id=team_id,
                    user_id=user_id,
                    is_enterprise_install=is_enterprise_install,
                )
        except DatabaseUnavailableError as exc:
            remembered = self._remembered(key) if user_id is None and exc.transient else None
            if remembered is None:
                raise
            return remembered
        if user_id is None:
            with self._recent_lock:
                if found is None:
                    self._recent.pop(key, None)
                else:
                    self._recent[key] = (time.monotonic(), found)
        return found

    def _remembered(self, key: tuple[str | None, str | None, bool]) -> Installation | None:
        with self._recent_lock:
            seen = self._recent.get(key)
        if seen is None or time.monotonic() - seen[0] > REMEMBER_SECONDS:
            return None
        return seen[1]

    def _forget_recent(self, enterprise_id: str | None, team_id: str | None) -> None:
        """A workspace's installations (or, with no workspace, an org's) are remembered no
        more."""
        with self._recent_lock:
            for key in list(self._recent):
                org, team, _ = key
                if (team_id is not None and team == team_id) or (
                    team_id is None and enterprise_id is not None and org == enterprise_id
                ):
                    del self._recent[key]

    def delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._forget_recent(enterprise_id, team_id)
        with self._unit():
            super().delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        self._forget_recent(enterprise_id, team_id)
        with self._unit():
            super().delete_installation(
                enterprise_id=enterprise_id, team_id=team_id, user_id=user_id
            )

    def delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        self._forget_recent(enterprise_id, team_id)
        with self._unit():
            super().delete_all(enterprise_id=enterprise_id, team_id=team_id)


class TooManyInstallsError(Exception):
    """More installations are under way (unconsumed OAuth states) than the bound allows."""


class BoundedStateStore(SQLAlchemyOAuthStateStore):
    """slack_sdk's OAuth state store, cleaning up after itself: each new state first deletes
    the expired ones, and no more than `max_pending` unexpired states exist at once (an
    install page fetched 2,000 times leaves at most that many rows, for at most
    `expiration_seconds`). Its calls are bounded units of the database; a failure raises
    `DatabaseUnavailableError` (consume included: an unreadable state is not an invalid one).
    """

    def __init__(self, database: Database, *, expiration_seconds: int, max_pending: int) -> None:
        super().__init__(expiration_seconds=expiration_seconds, engine=database.engine)
        self.database = database
        self.max_pending = max_pending

    @staticmethod
    def _stored(instant: datetime) -> datetime | None:
        """As the store's column keeps instants: naive UTC."""
        return normalize_datetime_for_db(instant)

    def issue(self, *args: Any, **kwargs: Any) -> str:
        table, now = self.oauth_states, self._stored(datetime.now(UTC))
        with self.database.unit(), self.engine.begin() as connection:
            connection.execute(table.delete().where(table.c.expire_at <= now))
            pending = connection.execute(select(func.count()).select_from(table)).scalar() or 0
            if pending >= self.max_pending:
                raise TooManyInstallsError(f"{pending} installations under way")
            state = secrets.token_urlsafe(24)
            expire_at = self._stored(datetime.now(UTC) + timedelta(seconds=self.expiration_seconds))
            connection.execute(table.insert().values(state=state, expire_at=expire_at))
        return state

    def consume(self, state: str) -> bool:
        table, now = self.oauth_states, self._stored(datetime.now(UTC))
        with self.database.unit(), self.engine.begin() as connection:
            deleted = connection.execute(
                table.delete().where(table.c.state == state, table.c.expire_at > now)
            )
            return bool(deleted.rowcount)


def oauth_tables(metadata: MetaData) -> list[Table]:
    """The stores' tables, for Alembic: migrations create them like our own."""
    return [
        SQLAlchemyInstallationStore.build_installations_table(metadata, "slack_installations"),
        SQLAlchemyInstallationStore.build_bots_table(metadata, "slack_bots"),
        SQLAlchemyOAuthStateStore.build_oauth_states_table(metadata, "slack_oauth_states"),
    ]


OAUTH_METADATA = MetaData()
oauth_tables(OAUTH_METADATA)


def rotate_tokens(engine: Engine, fernet: MultiFernet) -> int:
    """Re-encrypt every stored token with the first key; plain ones get encrypted too."""
    changed = 0
    with engine.begin() as connection:
        for table in (
            OAUTH_METADATA.tables["slack_bots"],
            OAUTH_METADATA.tables["slack_installations"],
        ):
            columns = [table.c[name] for name in TOKEN_COLUMNS if name in table.c]
            for row in connection.execute(select(table.c.id, *columns)).mappings():
                values: dict[str, Any] = {}
                for column in columns:
                    stored = row[column.name]
                    if stored is None:
                        continue
                    if stored.startswith(ENCRYPTED_PREFIX):
                        token = fernet.rotate(stored.removeprefix(ENCRYPTED_PREFIX).encode())
                    else:
                        token = fernet.encrypt(stored.encode())
                    values[column.name] = ENCRYPTED_PREFIX + token.decode()
                if values:
                    connection.execute(table.update().where(table.c.id == row["id"]).values(values))
                    changed += 1
    return changed


def bot_token_finder(store: InstallationStore, db: Database) -> Callable[[str], str | None]:
    """team id -> that workspace's bot token, for the nudge sender.

    slack_sdk's stores match the enterprise id exactly, so a workspace inside an Enterprise
    Grid org is found only with its org's id, and an org-wide installation only by the org
    (https://docs.slack.dev/enterprise/developing-for-enterprise-orgs): both come from
    the workspace row, which every request from the workspace keeps up to date.
    """

    def find(team_id: str) -> str | None:
        # The sender's own lookup: bounded as a nudge pass's unit, and never failed fast.
        with db.unit(ENGINE_WORK_SECONDS, fail_fast=False):
            with db.session() as session:
                workspace = session.get(Workspace, team_id)
            bot = store.find_bot(
                enterprise_id=workspace.enterprise_id if workspace else None,
                team_id=team_id,
                is_enterprise_install=workspace.org_install if workspace else False,
            )
        return bot.bot_token if bot else None

    return find


def installation_store(
    db: Database, *, client_id: str | None, encryption_key: str | None
) -> EncryptedInstallationStore | None:
    """Many workspaces when SLACK_CLIENT_ID is set; otherwise None: the single
    SLACK_BOT_TOKEN. One place for the app and for `tick`, which loads no Bolt."""
    if not client_id:
        return None
    fernet = parse_keys(encryption_key) if encryption_key else None
    return EncryptedInstallationStore(client_id, db.engine, fernet, database=db)
