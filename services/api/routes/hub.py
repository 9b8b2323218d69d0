"""The web hub: the page at `/` and its files (ES modules, CSS, the vendored hls.js).

No build step: the files in `services/api/static/` are served as they are, so a clean
checkout after `pip install -e .` serves a working page.
"""

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from services.core.errors import NotFound

router = APIRouter(tags=["hub"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
MEDIA_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html"}


@router.get("/")
def hub_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers={"Cache-Control": "no-cache"})


@router.get("/hub/{path:path}")
def hub_file(path: str) -> FileResponse:
    """A file of the page; nothing outside the static folder, whatever `..` it holds."""
    file = (STATIC / path).resolve()
    if not file.is_relative_to(STATIC) or not file.is_file():
        raise NotFound(f"no hub file {path!r}", code="not_found")
    return FileResponse(file, media_type=MEDIA_TYPES.get(file.suffix, "application/octet-stream"),
                        headers={"Cache-Control": "no-cache"})
