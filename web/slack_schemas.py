"""What Slack sends to /api/slack/* and what the slash command answers (for the OpenAPI
document; Slack's own docs define the fields)."""

from typing import Literal

from pydantic import BaseModel, Field


class SlackInteractionForm(BaseModel):
    payload: str = Field(description="JSON: a block_actions payload (api.slack.com/interactivity)")


class SlackCommandForm(BaseModel):
    command: str | None = Field(default=None, description="/tocsin")
    text: str | None = Field(default=None, description="e.g. `ack inc_…` or `who Checkout`")
    user_id: str | None = None
    user_name: str | None = None
    team_id: str | None = None
    channel_id: str | None = None
    response_url: str | None = None
    trigger_id: str | None = None


class SlackCommandReply(BaseModel):
    response_type: Literal["ephemeral", "in_channel"]
    text: str
