"""`make run`'s settings and banner (webapp/config.py `run_ports`, webapp/devrun.py)."""

from __future__ import annotations

import socket

import pytest

from webapp.config import RunPorts, run_ports
from webapp.devrun import FirstLogin, banner, busy_ports


def test_the_ports_are_settings(monkeypatch):
    for name in ("PORT", "WEBSMS_SIM_PORT", "MODEM_SIM_PORT", "MAIL_SINK_PORT"):
        monkeypatch.delenv(name, raising=False)
    assert run_ports() == RunPorts(web=5000, websms=8025, modem=4001, mail=8026)
    monkeypatch.setenv("PORT", "5001")
    monkeypatch.setenv("WEBSMS_SIM_PORT", "9025")
    monkeypatch.setenv("MODEM_SIM_PORT", "9001")
    monkeypatch.setenv("MAIL_SINK_PORT", " 9026 ")
    assert run_ports() == RunPorts(web=5001, websms=9025, modem=9001, mail=9026)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WEBSMS_SIM_PORT", "abc", "WEBSMS_SIM_PORT=abc ist keine Portnummer"),
        ("MODEM_SIM_PORT", "70000", "MODEM_SIM_PORT=70000 ist keine Portnummer"),
        ("MAIL_SINK_PORT", "5000", "PORT und MAIL_SINK_PORT nennen denselben Port 5000"),
    ],
)
def test_a_bad_port_setting_is_named(monkeypatch, variable, value, message):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=message):
        run_ports()


def test_a_port_in_use_is_named_by_its_setting():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = RunPorts(web=port, websms=_free(), modem=_free(), mail=port)
        assert busy_ports(ports, with_mail=False) == [f"PORT={port}"]
        assert busy_ports(ports, with_mail=True) == [f"PORT={port}", f"MAIL_SINK_PORT={port}"]


def _free() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_banner_shows_the_password_on_the_first_start_only():
    first = banner("http://127.0.0.1:5000", FirstLogin("admin", created=True, password="geheim1"))
    assert "Das SMS-Modul läuft: http://127.0.0.1:5000" in first
    assert "Benutzer: admin" in first
    assert "Passwort: geheim1" in first
    assert "reset-password admin" in first

    later = banner("http://127.0.0.1:5000", FirstLogin("admin", created=False))
    assert "Passwort:" not in later
    assert "Passwort vergessen? Neu setzen mit:" in later and "reset-password admin" in later

    given = banner("http://127.0.0.1:5000", FirstLogin("admin", created=True))
    assert "Passwort: wie in ADMIN_PASSWORD angegeben" in given
