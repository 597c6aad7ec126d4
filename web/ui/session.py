"""Who is signed in: the session cookie holds only the user id; role and teams are read
again on every request, so a demotion or deletion takes effect at once."""

from quart import abort, session

from web.auth import Principal, user_principal
from web.runtime import runtime

USER_KEY = "user_id"


async def require_secret_key() -> None:
    if runtime().settings.secret_key is None:
        abort(503, "the web UI needs TOCSIN_SECRET_KEY (docs/ui.md)")


async def signed_in() -> Principal | None:
    user_id = session.get(USER_KEY)
    if not isinstance(user_id, str):
        return None
    principal = await user_principal(runtime().engine, user_id)
    if principal is None:
        session.clear()
    return principal
