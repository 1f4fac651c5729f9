"""The safety answer link's token: only the keys' holders make one, and it names one alert and one mission."""

from __future__ import annotations

import base64

import pytest

from vies_shared.safety_link import DEV_SAFETY_LINK_KEY, SafetyLink, check_keys, keys_from, mint, read
from vies_shared.tokens import InsecureSettings

KEY = b"k" * 32
OLD_KEY = b"o" * 32
ALERT, MISSION = "alert-0123456789abcdef", "mis-fedcba9876543210"


def test_a_token_reads_back_as_its_alert_and_mission_and_is_short_enough_for_an_sms() -> None:
    token = mint([KEY], ALERT, MISSION)
    assert read([KEY], token) == SafetyLink(ALERT, MISSION)
    assert len(token) <= 80
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_another_key_cannot_make_or_read_one() -> None:
    assert read([b"x" * 32], mint([KEY], ALERT, MISSION)) is None
    assert read([KEY], mint([b"x" * 32], ALERT, MISSION)) is None


def test_rotation_the_first_key_signs_and_the_older_ones_still_read() -> None:
    sent_before = mint([OLD_KEY], ALERT, MISSION)
    assert read([KEY, OLD_KEY], sent_before) == SafetyLink(ALERT, MISSION)
    assert read([KEY], mint([KEY, OLD_KEY], ALERT, MISSION)) == SafetyLink(ALERT, MISSION)
    assert read([KEY], sent_before) is None  # once the old key is dropped


def test_a_token_stands_for_its_own_alert_and_mission_only() -> None:
    link = read([KEY], mint([KEY], ALERT, MISSION))
    assert link is not None
    assert link != SafetyLink("alert-other", MISSION)
    assert link != SafetyLink(ALERT, "mis-other")
    # Moving the boundary between the two ids changes what is signed: refused.
    raw = bytearray(base64.urlsafe_b64decode(mint([KEY], ALERT, MISSION) + "=="))
    raw[1] += 1
    assert read([KEY], base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()) is None


@pytest.mark.parametrize("position", [0, 1, 5, 30, -3])
def test_any_changed_byte_is_refused(position: int) -> None:
    raw = bytearray(base64.urlsafe_b64decode(mint([KEY], ALERT, MISSION) + "=="))
    raw[position] ^= 0x01
    assert read([KEY], base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()) is None


@pytest.mark.parametrize("token", ["", "short", "a" * 401, "not a token at all!!!!!!!!", "=" * 40, "A" * 40])
def test_garbage_is_none_never_an_error(token: str) -> None:
    assert read([KEY], token) is None


def test_keys_outside_dev_must_be_long_and_not_the_published_one() -> None:
    assert keys_from("", "dev") == [DEV_SAFETY_LINK_KEY.encode()]
    assert keys_from(" a , b ", "production") == [b"a", b"b"]
    assert check_keys("", "dev") is True
    assert check_keys("", "production") is False  # no key: links off, nothing can be minted or read
    for spec in (DEV_SAFETY_LINK_KEY, "too-short", f"{'n' * 32},short"):
        with pytest.raises(InsecureSettings):
            check_keys(spec, "production")
    assert check_keys(f"{'n' * 32},{'o' * 40}", "production") is True
