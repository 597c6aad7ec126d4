"""HTTP: parse, authenticate, authorize, rate-limit, then signal the incident workflow."""
