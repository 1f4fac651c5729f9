"""VIES notifications service: routes platform events to people by email and SMS, and to subscribers by webhook."""
