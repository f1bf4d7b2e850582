"""The chat UI's export of a conversation: `GET /project/thread/{id}/export?format=md|json`, owner only.

The route sits under /project/, so the HTTP guard (agent/ui/security.py) has already checked the login
session and tells the data layer who is acting; here the thread must be that user's (404 otherwise, the
same answer as for a thread that does not exist). The file is sent as an attachment with
`Cache-Control: no-store` (added to every response) and audited (`thread.export`).
"""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from agent.history import Format, load_export, render
from agent.ui.data_layer import PostgresDataLayer, current_actor

PATH = "/project/thread/{thread_id}/export"
_MEDIA = {"md": "text/markdown; charset=utf-8", "json": "application/json"}


def link(thread_id: str, fmt: Format, root: str = "") -> str:
    return f"{root}/project/thread/{thread_id}/export?format={fmt}"


def route(layer: PostgresDataLayer, record: Any) -> APIRoute:
    """The export route; `record` writes an audit record (agent/ui/security.py's `record`)."""

    async def export(thread_id: str, format: Format = "md") -> Response:
        actor = current_actor()
        if not actor:
            return JSONResponse({"detail": "Unauthorized"}, status_code=401)
        found = await load_export(await layer.pool(), thread_id)
        if found is None or found.owner != actor:
            await record("thread.export", actor=actor, target=thread_id[:100], result="denied")
            return JSONResponse({"detail": "Thread not found"}, status_code=404)
        await record("thread.export", actor=actor, target=found.id, detail={"format": format})
        name = f"radassist-{found.id[:8]}.{format}"
        return Response(
            render(found, format),
            media_type=_MEDIA[format],
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    return APIRoute(PATH, export, methods=["GET"])
