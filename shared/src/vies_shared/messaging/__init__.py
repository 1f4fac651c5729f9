"""Outbox, relay, idempotent consumers (inbox), retries and dead letters."""
