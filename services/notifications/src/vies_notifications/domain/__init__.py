"""Pure rules of the notifications service: routing table, delivery schedule, webhook signing and URL guard."""
