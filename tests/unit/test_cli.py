"""CLI commands that must explain themselves when something is missing."""

from __future__ import annotations

import os
import subprocess

from cli.localstack import GPTU, ROOT


def gptu(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `gptu …` with GPTU_* settings cleared except env."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("GPTU_")}
    return subprocess.run([*GPTU, *args], env={**clean, **env}, cwd=ROOT, capture_output=True,
                          text=True, timeout=60)  # fmt: skip


def test_slack_explains_its_two_modes_and_missing_tokens() -> None:
    http = gptu("slack")
    assert http.returncode == 2 and "/slack/events" in http.stdout
    socket = gptu("slack", "--socket", GPTU_SLACK_BOT_TOKEN="xoxb-x")
    assert socket.returncode == 2 and "GPTU_SLACK_APP_TOKEN" in socket.stdout


def test_users_cli_manages_accounts_on_the_database(tmp_path: object) -> None:
    env = {"GPTU_DATA_DIR": str(tmp_path)}
    assert gptu("groups", "add", "hr", **env).returncode == 0
    assert (
        gptu("users", "add", "alice", "--email", "Alice@Example.org", "-g", "hr", **env).returncode
        == 0
    )
    key = gptu("users", "key", "alice", **env)
    assert key.returncode == 0 and "gptu_" in key.stdout
    listed = gptu("users", "list", **env).stdout
    assert "alice" in listed and "alice@example.org" in listed and "hr" in listed
    missing = gptu("users", "add", "bob", "-g", "nope", **env)
    assert missing.returncode == 1 and "group 'nope' does not exist" in missing.stderr
    key_id = key.stdout.split()[2]
    assert gptu("users", "revoke", key_id, **env).returncode == 0
    assert "keys: -" in gptu("users", "list", **env).stdout


def test_the_last_admin_cannot_be_removed(tmp_path: object) -> None:
    env = {"GPTU_DATA_DIR": str(tmp_path)}
    assert gptu("users", "add", "root", "--admin", **env).returncode == 0
    refused = gptu("users", "remove", "root", **env)
    assert refused.returncode == 1 and "last admin" in refused.stderr
    assert gptu("users", "add", "second", "--admin", **env).returncode == 0
    assert gptu("users", "remove", "root", **env).returncode == 0


def test_mcp_refuses_to_start_without_a_key() -> None:
    done = gptu("mcp", "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "GPTU_API_KEY" in done.stderr and not done.stdout


def test_tune_names_the_answer_forms_it_knows() -> None:
    wrong = gptu("tune", "--collection", "hr", "--answers", "verbatim")
    assert wrong.returncode == 2 and "written, copied, answered" in wrong.stdout + wrong.stderr
