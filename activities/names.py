"""Activity names, shared by the workflow (which must not import activity code) and worker."""

PROJECT_INCIDENT = "project_incident"
DELIVER = "deliver"
LOAD_ESCALATION_POLICY = "load_escalation_policy"
FIND_RECIPIENTS = "find_recipients"
SERVICE_CHANNELS = "service_channels"
OPEN_INCIDENT_ROOM = "open_incident_room"
CLOSE_INCIDENT_ROOM = "close_incident_room"
