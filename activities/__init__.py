"""Side effects of the incident workflow: read-side projection, notifications."""
