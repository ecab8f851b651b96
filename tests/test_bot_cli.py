"""`classroom-mode bot` up to the point of logging in: missing token, bad token (a local stand-in for
Discord answers 401), bad webhook URL, no database; the token never reaches the output or the logs."""

from __future__ import annotations

import discord.http
import pytest

from bot_helpers import WEBHOOK_PATH, fake_discord_in_thread, fill_store

TOKEN = "MTIz.very-secret-bot-token.abcdefghijklmnopqrstuvwxyz0123456789"


@pytest.fixture
def setup(tmp_path, monkeypatch):
    """A config file pointing at a real history database, and a clean environment."""
    database = tmp_path / "history.db"
    fill_store(database).close()
    config = tmp_path / "classroom-mode.yaml"
    config.write_text(
        f"paths: {{database: {database}}}\ndiscord: {{token_env: CM_TEST_TOKEN, webhook_url_env: CM_TEST_HOOK}}\n"
    )
    monkeypatch.delenv("CM_TEST_TOKEN", raising=False)
    monkeypatch.delenv("CM_TEST_HOOK", raising=False)
    return config


def test_missing_token_is_a_clear_usage_error(cli, setup):
    result = cli("bot", "--config", setup)
    assert result.exit_code == 2
    assert "discord.token_env: the environment variable CM_TEST_TOKEN is not set" in result.stderr
    assert "Traceback" not in result.output


def test_missing_database_names_the_setting(cli, setup, tmp_path, monkeypatch):
    monkeypatch.setenv("CM_TEST_TOKEN", TOKEN)
    setup.write_text(f"paths: {{database: {tmp_path / 'none.db'}}}\ndiscord: {{token_env: CM_TEST_TOKEN}}\n")
    result = cli("bot", "--config", setup)
    assert result.exit_code == 2
    assert "paths.database:" in result.stderr and "does not exist" in result.stderr


def test_bad_webhook_url_is_refused_without_echoing_it(cli, setup, monkeypatch):
    monkeypatch.setenv("CM_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("CM_TEST_HOOK", "https://example.com/hooks/secret-hook-token")
    result = cli("bot", "--config", setup)
    assert result.exit_code == 2
    assert "$CM_TEST_HOOK is not a Discord webhook URL" in result.stderr
    assert "secret-hook-token" not in result.output


def test_rejected_token_exits_2_and_is_never_printed_or_logged(cli, setup, monkeypatch):
    monkeypatch.setenv("CM_TEST_TOKEN", TOKEN)
    monkeypatch.setenv("CM_TEST_HOOK", "https://discord.com" + WEBHOOK_PATH)
    with fake_discord_in_thread() as fake:
        monkeypatch.setattr(discord.http.Route, "BASE", fake.url + "/api/v10")
        result = cli("-vv", "bot", "--config", setup)
    assert fake.posts == [{"login": f"Bot {TOKEN}"}]  # the token did go to (the stand-in for) Discord
    assert result.exit_code == 2, result.output
    assert "discord.token_env: Discord rejected the token in CM_TEST_TOKEN" in result.stderr
    assert "has returned 401" in result.stderr  # discord.py's debug log was captured...
    assert TOKEN not in result.output and "very-secret" not in result.output  # ...and holds no token
    assert WEBHOOK_PATH.rsplit("/", 1)[1] not in result.output  # nor the webhook's
