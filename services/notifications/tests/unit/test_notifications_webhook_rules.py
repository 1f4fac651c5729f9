"""Standard Webhooks signing and the SSRF guard's address rules."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from vies_notifications.domain import webhooks
from vies_shared.errors import InvalidInput


def test_signature_matches_the_specification_example() -> None:
    # Test vector of the Standard Webhooks reference libraries (standard-webhooks, libraries/python tests).
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    msg_id = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    timestamp = 1614265330
    body = b'{"test": 2432232314}'
    assert webhooks.sign(secret, msg_id, timestamp, body) == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signature_is_hmac_sha256_over_id_timestamp_body() -> None:
    key = b"k" * 32
    secret = "whsec_" + base64.b64encode(key).decode()
    expected = base64.b64encode(hmac.new(key, b"id1.42.{}", hashlib.sha256).digest()).decode()
    assert webhooks.sign(secret, "id1", 42, b"{}") == f"v1,{expected}"
    plain = "a-plain-secret-of-enough-length"
    assert webhooks.sign(plain, "id1", 42, b"{}") != webhooks.sign(secret, "id1", 42, b"{}")


@pytest.mark.parametrize("secret", ["whsec_not base64!!", "whsec_" + base64.b64encode(b"short").decode(), "short"])
def test_bad_secrets_are_refused(secret: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.secret_bytes(secret)


def test_new_secret_is_in_whsec_form() -> None:
    assert len(webhooks.secret_bytes(webhooks.new_secret())) == 32


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("https://hooks.example.org/vies", "hooks.example.org"),
        ("http://Hooks.Example.org.:8080/x?y=1", "hooks.example.org"),
    ],
)
def test_url_shape_accepted(url: str, host: str) -> None:
    assert webhooks.url_host(url) == host


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.org/x",
        "file:///etc/passwd",
        "gopher://example.org",
        "https://user:pass@example.org/x",
        "https://user@example.org/x",
        "https:///nohost",
        "https://example.org:99999/x",
    ],
)
def test_url_shape_refused(url: str) -> None:
    with pytest.raises(InvalidInput):
        webhooks.url_host(url)


@pytest.mark.parametrize(
    ("host", "addresses", "allowlist", "allowed"),
    [
        ("hooks.example.org", ["93.184.216.34"], [], True),
        ("hooks.example.org", ["93.184.216.34", "10.0.0.1"], [], False),  # one private answer is enough to refuse
        ("localhost", ["127.0.0.1"], [], False),
        ("x", ["::1"], [], False),
        ("x", ["169.254.169.254"], [], False),
        ("x", ["fe80::1"], [], False),
        ("x", ["192.168.0.2"], [], False),
        ("x", ["172.16.5.4"], [], False),
        ("x", ["0.0.0.0"], [], False),
        ("x", ["::ffff:127.0.0.1"], [], False),
        ("x", ["224.0.0.1"], [], False),
        ("localhost", ["127.0.0.1"], ["127.0.0.1"], True),
        ("localhost", ["127.0.0.1"], ["localhost"], True),
        ("hooks.internal", ["10.1.2.3"], ["10.0.0.0/8"], True),
        ("hooks.internal", ["10.1.2.3"], ["10.9.0.0/16"], False),
        ("x", [], [], False),
    ],
)
def test_address_guard(host: str, addresses: list[str], allowlist: list[str], allowed: bool) -> None:
    if allowed:
        webhooks.check_addresses(host, addresses, allowlist)
    else:
        with pytest.raises(InvalidInput):
            webhooks.check_addresses(host, addresses, allowlist)


@pytest.mark.parametrize(
    ("url", "address", "target", "host", "sni"),
    [
        ("https://hooks.example.org/a?b=1", "93.184.216.34", "https://93.184.216.34/a?b=1", "hooks.example.org", True),
        (
            "http://hooks.example.org:8080/x",
            "93.184.216.34",
            "http://93.184.216.34:8080/x",
            "hooks.example.org:8080",
            False,
        ),
        ("http://localhost:9/x", "::1", "http://[::1]:9/x", "localhost:9", False),
    ],
)
def test_requests_go_to_the_checked_address(url: str, address: str, target: str, host: str, sni: bool) -> None:
    from vies_notifications.channels import pinned_request

    pinned, headers, extensions = pinned_request(url, address)
    assert pinned == target and headers == {"host": host}
    assert extensions == ({"sni_hostname": "hooks.example.org"} if sni else {})
