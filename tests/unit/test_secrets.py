"""Secrets of the job settings at rest: Fernet with SMS_SECRET_KEY, generated once if unset."""

from __future__ import annotations

import os
import stat
import threading

import pytest
from cryptography.fernet import Fernet

from webapp.config import load_config
from webapp.jobs.secrets import (
    KEY_FILE,
    SecretsUnreadable,
    decrypt_secrets,
    encrypt_secrets,
    instance_key,
)

KEY = Fernet.generate_key().decode()


def test_round_trip_keeps_every_value_and_hides_them():
    values = {"websms_access_token": "tok-äöü-123", "modem_pin": "1234"}
    token = encrypt_secrets(values, KEY)
    assert decrypt_secrets(token, KEY) == values
    assert "tok-" not in token and "1234" not in token


def test_empty_values_are_not_kept():
    assert encrypt_secrets({}, KEY) == ""
    assert encrypt_secrets({"modem_pin": ""}, KEY) == ""
    assert decrypt_secrets("", KEY) == {}
    token = encrypt_secrets({"modem_pin": "", "websms_password": "geheim"}, KEY)
    assert decrypt_secrets(token, KEY) == {"websms_password": "geheim"}


def test_the_same_values_give_a_different_token_each_time():
    assert encrypt_secrets({"a": "b"}, KEY) != encrypt_secrets({"a": "b"}, KEY)


def test_another_key_cannot_read_them_and_says_what_to_do():
    token = encrypt_secrets({"modem_pin": "1234"}, KEY)
    with pytest.raises(SecretsUnreadable) as problem:
        decrypt_secrets(token, Fernet.generate_key().decode())
    assert "SMS_SECRET_KEY" in problem.value.reason
    assert "neu eingeben" in problem.value.reason


def test_a_damaged_token_is_unreadable_not_a_crash():
    with pytest.raises(SecretsUnreadable):
        decrypt_secrets("kein-fernet-token", KEY)


def test_a_missing_key_is_refused_with_a_message():
    with pytest.raises(SecretsUnreadable) as problem:
        encrypt_secrets({"modem_pin": "1234"}, "")
    assert "SMS_SECRET_KEY" in problem.value.reason


def test_a_passphrase_works_as_key():
    token = encrypt_secrets({"websms_password": "pw"}, "ein langer Satz als Schlüssel")
    assert decrypt_secrets(token, "ein langer Satz als Schlüssel") == {"websms_password": "pw"}
    with pytest.raises(SecretsUnreadable):
        decrypt_secrets(token, "ein anderer Satz")


def test_keys_rotate_new_first_old_still_reads():
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    stored = encrypt_secrets({"modem_pin": "1234"}, old)
    assert decrypt_secrets(stored, f"{new},{old}") == {"modem_pin": "1234"}
    rewritten = encrypt_secrets({"modem_pin": "1234"}, f"{new},{old}")
    assert decrypt_secrets(rewritten, new) == {"modem_pin": "1234"}


def test_instance_key_is_generated_once_private_and_kept(tmp_path):
    folder = tmp_path / "instance"
    first = instance_key(folder)
    key_file = folder / KEY_FILE
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    Fernet(first.encode())  # a valid Fernet key
    assert instance_key(folder) == first
    assert [p.name for p in folder.iterdir()] == [KEY_FILE]  # no drafts left behind


def test_processes_starting_together_share_one_key(tmp_path):
    keys: list[str] = []
    threads = [
        threading.Thread(target=lambda: keys.append(instance_key(tmp_path))) for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(keys)) == 1


def test_config_takes_the_environment_else_the_instance_file(tmp_path, monkeypatch):
    monkeypatch.delenv("SMS_SECRET_KEY", raising=False)
    generated = load_config({"INSTANCE_PATH": str(tmp_path)})["SMS_SECRET_KEY"]
    assert generated == (tmp_path / KEY_FILE).read_text().strip()
    assert load_config({"INSTANCE_PATH": str(tmp_path)})["SMS_SECRET_KEY"] == generated
    monkeypatch.setenv("SMS_SECRET_KEY", KEY)
    assert load_config({"INSTANCE_PATH": str(tmp_path / "other")})["SMS_SECRET_KEY"] == KEY
    assert not os.path.exists(tmp_path / "other" / KEY_FILE)
