"""VIES partners service: directory, vetting, matching, partnerships, the Territoires Volontaires journey."""
