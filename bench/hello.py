"""Ceiling (b): the smallest Quart app on Hypercorn, configured like ``tocsin api``.

One POST endpoint that reads a JSON body and answers 202 with a small JSON object: what the
HTTP stack alone costs per request. Run: ``python -m bench.hello PORT [WORKERS]``; with more
than one worker Hypercorn runs that many processes, as ``TOCSIN_API_WORKERS`` would.
"""

import sys
from typing import Any

from hypercorn.config import Config
from hypercorn.run import run
from quart import Quart, request

app = Quart(__name__)


@app.post("/api/events")
async def events() -> tuple[dict[str, Any], int]:
    body = await request.get_json()
    return {"status": "success", "dedup_key": body.get("dedup_key")}, 202


def main() -> None:
    port = int(sys.argv[1])
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    config.application_path = "bench.hello:app"
    # 0: serve in this process, as ``tocsin api`` does; more: Hypercorn's worker processes.
    config.workers = 0 if workers <= 1 else workers
    sys.exit(run(config))


if __name__ == "__main__":
    main()
