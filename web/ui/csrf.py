"""CSRF tokens: one random token per session, sent in a hidden field of every form and
compared on every UI POST (SameSite=Lax cookies are the second line, not the only one)."""

import hmac
import secrets

from quart import abort, request, session

TOKEN_KEY = "csrf"
FIELD = "csrf_token"


def csrf_token() -> str:
    token = session.get(TOKEN_KEY)
    if not isinstance(token, str):
        token = secrets.token_urlsafe(32)
        session[TOKEN_KEY] = token
    return token


async def check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    expected = session.get(TOKEN_KEY)
    given = (await request.form).get(FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(expected, given):
        abort(403, "missing or wrong CSRF token; reload the page and try again")
