"""Activity names, shared with workflows without importing any I/O code."""

PROJECT_INCIDENT = "project_incident"
