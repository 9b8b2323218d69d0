"""The web hub: the page at `/` and its files under `/hub/` (ES modules, CSS, the vendored
hls.js).

No build step: the files in `services/api/static/` are served as they are, so a clean
checkout after `pip install -e .` serves a working page.
"""

import os
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from starlette.responses import Response
from starlette.staticfiles import PathLike, StaticFiles
from starlette.types import Scope

router = APIRouter(tags=["hub"], include_in_schema=False)

STATIC = Path(__file__).resolve().parent.parent / "static"
# The browser asks again every time (a 304 when unchanged), so after an upgrade the page
# never runs new modules beside cached old ones.
REVALIDATE = {"Cache-Control": "no-cache"}


class HubFiles(StaticFiles):
    """Starlette's static files (content type, ETag, 304, no path outside the folder),
    every answer marked to be revalidated."""

    def file_response(
        self, full_path: PathLike, stat_result: os.stat_result, scope: Scope, status_code: int = 200
    ) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)
        response.headers.update(REVALIDATE)
        return response


files = HubFiles(directory=STATIC)


@router.get("/")
def hub_page() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=REVALIDATE)
