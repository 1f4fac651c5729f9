"""Pure rules of the partners service: directory, vetting, matching, partnerships, journey, indicators."""
