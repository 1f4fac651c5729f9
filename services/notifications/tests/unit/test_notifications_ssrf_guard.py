"""The webhook SSRF guard: only globally routable addresses, and no word of what a name resolves to."""

from __future__ import annotations

import pytest

from vies_notifications.domain import webhooks
from vies_shared.errors import InvalidInput

DENIED = [
    ("100.64.0.1", "shared address space"),  # carrier-grade NAT: no ipaddress flag is set on it
    ("100.100.100.200", "shared address space"),  # a cloud's metadata service
    ("100.127.255.254", "shared address space"),
    ("::ffff:100.64.0.1", "shared address space"),  # IPv4-mapped: judged as the IPv4 address
    ("2002:a00:1::1", "6to4"),  # 6to4 around 10.0.1.0: "global" for ipaddress
    ("2002:7f00:1::1", "6to4"),
    ("64:ff9b::a00:1", "NAT64"),  # NAT64 of 10.0.0.1
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.0.2", "private"),
    ("fc00::1", "private"),
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("0.0.0.0", "private"),
    ("224.0.0.1", "reserved"),
    ("240.0.0.1", "private"),
    ("192.0.2.10", "private"),  # documentation
    ("198.18.0.1", "private"),  # benchmarking
    ("2001:db8::1", "private"),
]


@pytest.mark.parametrize(("address", "rule"), DENIED)
def test_a_non_global_address_is_refused_by_its_rule_never_by_its_value(address: str, rule: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        webhooks.check_addresses("hooks.vies.svc.cluster.local", ["93.184.216.34", address], [])
    message = str(refused.value)
    assert f"a {rule} address" in message
    assert address not in message
    assert "93.184.216.34" not in message


@pytest.mark.parametrize("address", ["93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "::ffff:93.184.216.34"])
def test_a_globally_routable_address_is_accepted(address: str) -> None:
    webhooks.check_addresses("hooks.example.org", [address], [])


def test_the_allowlist_still_admits_a_denied_range_on_purpose() -> None:
    webhooks.check_addresses("hooks.internal", ["100.64.3.4"], ["100.64.0.0/10"])
    with pytest.raises(InvalidInput):
        webhooks.check_addresses("hooks.internal", ["100.64.3.4"], ["10.0.0.0/8"])
