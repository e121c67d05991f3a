"""Avatars for the people in a chat: Chainlit shows `/avatars/<author>` beside each message, and falls back to
the app's logo for a name without a file in public/avatars. A human colleague who joins a conversation gets
their initials instead, so the customer sees at a glance that a person, not the assistant, is writing."""

from __future__ import annotations

import hashlib
import re
from html import escape
from pathlib import Path

from chainlit import server as chainlit_server
from chainlit.config import APP_ROOT
from fastapi import APIRouter, Response

AVATARS = Path(APP_ROOT) / "public" / "avatars"  # Chainlit's own folder
_NAME = re.compile(r"^[A-Za-z0-9_ .-]+$")  # Chainlit's own check of an avatar id, before it globs a file name
HUES = 360  # degrees of the colour wheel
_SVG = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 40 40">'
    '<circle cx="20" cy="20" r="20" fill="hsl({hue} 45% 45%)"/>'
    '<text x="20" y="25" font-family="system-ui, sans-serif" font-size="15" font-weight="600" fill="#fff" '
    'text-anchor="middle">{initials}</text></svg>'
)


def initials(name: str) -> str:
    words = re.findall(r"[^\W_]+", name)  # letters and digits: "Lee (demo lead)" is Lee, demo, lead
    return "".join(word[0] for word in words[:2]).upper() or "?"


def has_file(avatar_id: str, root: Path = AVATARS) -> bool:
    stem = avatar_id.strip().lower().replace(" ", "_").replace(".", "_")
    return any(root.glob(f"{stem}.*"))


def avatar_routes(own_names: set[str]) -> APIRouter:
    """`own_names`: the app's own authors (assistant, default), which keep Chainlit's avatar."""
    router = APIRouter()

    @router.get("/avatars/{avatar_id:str}", include_in_schema=False)
    async def avatar(avatar_id: str) -> Response:
        if avatar_id in own_names or (_NAME.match(avatar_id) and has_file(avatar_id)):
            return await chainlit_server.get_avatar(avatar_id)
        hue = int.from_bytes(hashlib.sha256(avatar_id.encode()).digest()[:2]) % HUES  # one colour per person
        svg = _SVG.format(hue=hue, initials=escape(initials(avatar_id)))
        return Response(svg, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=3600"})

    return router
