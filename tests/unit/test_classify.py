"""Every provider error code is classified in one place; one test per class."""

from __future__ import annotations

import pytest

from webapp.sms.transports.base import OutcomeKind
from webapp.sms.transports.classify import (
    cme_error,
    cme_error_code,
    cms_error,
    cms_error_code,
    http_status,
    modem_error,
    modem_error_text,
    network_failure,
    outcome_unknown,
    websms_status,
)

A, T, P, U = OutcomeKind.ACCEPTED, OutcomeKind.TRANSIENT, OutcomeKind.PERMANENT, OutcomeKind.UNKNOWN


@pytest.mark.parametrize("code", [2000, 2001, 2002])
def test_websms_accepted(code):
    assert websms_status(code).kind is A


@pytest.mark.parametrize("code", [4012, 4023, 4024, 4025, 5000, 5003, 5999])
def test_websms_transient(code):
    verdict = websms_status(code)
    assert verdict.kind is T and not verdict.fails_run


@pytest.mark.parametrize(
    "code",
    [
        4002,
        4005,
        4006,
        4007,
        4008,
        4009,
        4010,
        4017,
        4026,
        4027,
        4029,
        4030,
        4031,
        4042,
        4043,
        4999,
    ],
)
def test_websms_permanent_for_the_message(code):
    verdict = websms_status(code)
    assert verdict.kind is P and not verdict.fails_run
    assert verdict.reason


@pytest.mark.parametrize(
    "code",
    [4000, 4001, 4003, 4004, 4014, 4015, 4016, 4018, 4019, 4020, 4021, 4022, 4035, 4040, 4041],
)
def test_websms_account_problems_stop_the_run_and_keep_the_message(code):
    verdict = websms_status(code)
    assert verdict.kind is T and verdict.fails_run


def test_websms_limit_reached_retries_later_but_stops_the_run():
    verdict = websms_status(4013)
    assert verdict.kind is T and verdict.fails_run


def test_websms_reasons_are_german_and_name_what_to_check():
    assert "Zugangsdaten" in websms_status(4001).reason
    assert "Empfängernummer" in websms_status(4002).reason
    assert "recipients" in websms_status(4019, "recipients").reason


@pytest.mark.parametrize(
    ("status", "kind", "fails"),
    [
        (401, T, True),
        (403, T, True),
        (404, T, True),
        (301, T, True),
        (302, T, True),
        (400, T, True),
        (415, T, True),
        (429, T, False),
        (500, T, False),
        (502, T, False),
        (503, T, False),
    ],
)
def test_http_statuses(status, kind, fails):
    verdict = http_status(status)
    assert (verdict.kind, verdict.fails_run) == (kind, fails)


@pytest.mark.parametrize(
    "code",
    [
        17,
        22,
        27,
        38,
        41,
        42,
        47,
        111,
        127,
        192,
        255,
        300,
        301,
        314,
        320,
        331,
        332,
        500,
        512,
        513,
        514,
        515,
    ],
)
def test_cms_transient(code):
    assert cms_error(code).kind is T


@pytest.mark.parametrize(
    "code", [1, 8, 10, 21, 28, 29, 30, 50, 69, 95, 128, 144, 195, 196, 302, 303, 304, 305, 321]
)
def test_cms_permanent_for_the_message(code):
    verdict = cms_error(code)
    assert verdict.kind is P and not verdict.fails_run


@pytest.mark.parametrize("code", [310, 311, 312, 313, 315, 316, 317, 318, 322, 330])
def test_cms_stops_the_run_and_keeps_the_message(code):
    verdict = cms_error(code)
    assert verdict.kind is T and verdict.fails_run


def test_cms_duplicate_counts_as_accepted():
    assert cms_error(197).kind is A


@pytest.mark.parametrize("code", [14, 30, 31, 100, 126, 258, 515])
def test_cme_transient(code):
    assert cme_error(code).kind is T


@pytest.mark.parametrize("code", [5, 10, 11, 12, 13, 15, 16, 17, 18, 20, 32, 40, 44, 48])
def test_cme_stops_the_run_and_keeps_the_message(code):
    verdict = cme_error(code)
    assert verdict.kind is T and verdict.fails_run


def test_cme_wrong_pin_says_it_is_not_retried():
    assert "nicht erneut versucht" in cme_error(16).reason


@pytest.mark.parametrize("code", [0, 3, 4, 21, 22, 24, 25, 103])
def test_cme_permanent(code):
    verdict = cme_error(code)
    assert verdict.kind is P and not verdict.fails_run


def test_redirect_says_the_address_is_wrong():
    assert "Basis-URL" in http_status(301).reason


def test_network_failure_and_unknown():
    assert network_failure("refused").kind is T
    unknown = outcome_unknown("timeout after Ctrl-Z")
    assert unknown.kind is U and "angekommen" in unknown.reason


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("38", 38),
        (" 500 ", 500),
        ("Temporary failure", 41),
        ("temporary  failure", 41),
        ("Network out of order", 38),
        ("Unassigned (unallocated) number", 1),
        ("Resources unavailable, unspecified", 47),
        ("(U)SIM busy", 314),
        ("SIM busy", 314),
        ("USIM PIN required", 311),
        ("SMSC address unknown", 330),
        ("invalid PDU mode parameter", 304),
        ("Something odd", None),
    ],
)
def test_verbose_cms_texts_map_to_their_numbers(text, code):
    assert cms_error_code(text) == code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("16", 16),
        ("incorrect password", 16),
        ("SIM PIN required", 11),
        ("SIM PUK required", 12),
        ("SIM busy", 14),
        ("no network service", 30),
        ("network not allowed - emergency calls only", 32),
        ("Please wait, init or command processing in progress.", 515),
        ("phone failure", 0),
        ("flux capacitor", None),
    ],
)
def test_verbose_cme_texts_map_to_their_numbers(text, code):
    assert cme_error_code(text) == code


def test_errors_known_only_as_text_are_retried_with_the_text():
    verdict = modem_error_text("Flux capacitor overload")
    assert verdict.kind is T and not verdict.fails_run
    assert "Flux capacitor overload" in verdict.reason
    assert modem_error_text("ERROR").kind is T
    assert "ohne Fehlercode" in modem_error_text("ERROR").reason
    assert modem_error_text("COMMAND NOT SUPPORT").kind is T


@pytest.mark.parametrize(
    ("family", "text", "kind", "code"),
    [
        ("CMS", "38", T, "CMS 38"),
        ("CMS", "Temporary failure", T, "CMS 41"),
        ("CMS", "197", A, "CMS 197"),
        ("CMS", "1", P, "CMS 1"),
        ("CMS", "Flux capacitor", T, "CMS Flux capacitor"),
        ("CME", "SIM busy", T, "CME 14"),
        ("CME", "16", T, "CME 16"),
        (None, "ERROR", T, "ERROR"),
        (None, "COMMAND NOT SUPPORT", T, "COMMAND NOT SUPPORT"),
    ],
)
def test_modem_error_results_are_classified_with_the_code_to_record(family, text, kind, code):
    verdict, recorded = modem_error(family, text)
    assert (verdict.kind, recorded) == (kind, code)
