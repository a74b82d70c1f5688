"""Installations for many workspaces: bot tokens encrypted at rest, and key rotation.
On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from cryptography.fernet import Fernet
from slack_sdk.oauth.installation_store import Installation
from sqlalchemy import select

from bot.data.database import Database
from bot.data.installations import (
    OAUTH_METADATA,
    EncryptedInstallationStore,
    parse_keys,
    rotate_tokens,
)

CLIENT_ID = "1111.2222"
KEY = Fernet.generate_key().decode()
TOKEN = "xoxb-new-workspace-token-77"


def install(db: Database, key: str, team: str = "TNEW", token: str = TOKEN) -> None:
    store = EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(key))
    store.save(
        Installation(
            app_id="A0001", team_id=team, user_id="UINSTALLER", bot_token=token,
            bot_id="B0001", bot_user_id="UBOT", bot_scopes=["chat:write"],
            installed_at=datetime(2026, 11, 25, tzinfo=UTC).timestamp(),
        )
    )  # fmt: skip


def stored(db: Database, table: str) -> list[str]:
    rows = OAUTH_METADATA.tables[table]
    with db.engine.connect() as connection:
        return list(connection.execute(select(rows.c.bot_token)).scalars())


def test_tokens_are_stored_encrypted_and_read_back(db: Database) -> None:
    install(db, KEY)
    for table in ("slack_bots", "slack_installations"):
        [token] = stored(db, table)
        assert token.startswith("fernet:") and TOKEN not in token
    store = EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(KEY))
    assert store.find_bot(enterprise_id=None, team_id="TNEW").bot_token == TOKEN


def test_key_rotation_re_encrypts_every_token(db: Database) -> None:
    install(db, KEY)
    new_key = Fernet.generate_key().decode()
    assert rotate_tokens(db.engine, parse_keys(f"{new_key},{KEY}")) == 2  # bot + installation
    only_new = EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(new_key))
    assert only_new.find_bot(enterprise_id=None, team_id="TNEW").bot_token == TOKEN
    only_old = EncryptedInstallationStore(CLIENT_ID, db.engine, parse_keys(KEY))
    with pytest.raises(RuntimeError, match="does not decrypt"):
        only_old.find_bot(enterprise_id=None, team_id="TNEW")


def test_a_malformed_key_is_refused_with_the_form_it_must_take() -> None:
    with pytest.raises(ValueError, match="32 url-safe base64-encoded bytes"):
        parse_keys("not-a-fernet-key")
