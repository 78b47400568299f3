"""Every provider error code is classified in one place; one test per class."""

from __future__ import annotations

import pytest

from webapp.sms.transports import classify
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


# The GSM tables are read from classify.py, not copied: each entry must lead to its class, and
# the codes of the examples below (27.005 §3.2.5, 27.007 §9.2) pin down what the tables decide.


@pytest.mark.parametrize("code", sorted(classify.CMS_TRANSIENT))
def test_cms_transient(code):
    verdict = cms_error(code)
    assert verdict.kind is T and not verdict.fails_run


@pytest.mark.parametrize("code", sorted(classify.CMS_PERMANENT_NUMBER))
def test_cms_refused_number_is_permanent_for_the_message(code):
    verdict = cms_error(code)
    assert verdict.kind is P and not verdict.fails_run
    assert "Nummer" in verdict.reason


@pytest.mark.parametrize("code", sorted(classify.CMS_STOP))
def test_cms_stops_the_run_and_keeps_the_message(code):
    verdict = cms_error(code)
    assert verdict.kind is T and verdict.fails_run


@pytest.mark.parametrize("code", [95, 128, 144, 302, 303, 304, 305, 321, 999])
def test_cms_unlisted_codes_are_permanent_for_the_message(code):
    verdict = cms_error(code)
    assert verdict.kind is P and not verdict.fails_run


@pytest.mark.parametrize(
    ("code", "kind", "fails"),
    [
        (41, T, False),  # temporary failure
        (42, T, False),  # congestion
        (314, T, False),  # SIM busy
        (332, T, False),  # network timeout
        (1, P, False),  # unassigned number
        (196, P, False),  # destination SME barred
        (311, T, True),  # SIM PIN required
        (330, T, True),  # SMSC address unknown
    ],
)
def test_cms_examples(code, kind, fails):
    verdict = cms_error(code)
    assert (verdict.kind, verdict.fails_run) == (kind, fails)


def test_cms_duplicate_counts_as_accepted():
    assert cms_error(197).kind is A


@pytest.mark.parametrize("code", sorted(classify.CME_TRANSIENT))
def test_cme_transient(code):
    verdict = cme_error(code)
    assert verdict.kind is T and not verdict.fails_run


@pytest.mark.parametrize("code", sorted({*classify.CME_STOP, *range(40, 49)}))
def test_cme_stops_the_run_and_keeps_the_message(code):
    verdict = cme_error(code)
    assert verdict.kind is T and verdict.fails_run


@pytest.mark.parametrize(
    ("code", "kind", "fails"),
    [
        (14, T, False),  # SIM busy
        (515, T, False),  # device busy
        (11, T, True),  # SIM PIN required
        (12, T, True),  # SIM PUK required
        (16, T, True),  # incorrect password
        (44, T, True),  # service provider personalisation PIN
    ],
)
def test_cme_examples(code, kind, fails):
    verdict = cme_error(code)
    assert (verdict.kind, verdict.fails_run) == (kind, fails)


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
