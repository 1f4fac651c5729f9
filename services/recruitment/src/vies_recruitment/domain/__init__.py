"""Pure recruitment rules: eligibility per scheme, application and position life cycles, matching."""
