"""Logging set-up shared by every process: one line per event, key=value fields."""

import logging


def configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
        datefmt="%H:%M:%S",
        force=True,
    )
    # botocore and RQ are chatty at INFO; their warnings still show.
    logging.getLogger("botocore").setLevel(logging.WARNING)
    logging.getLogger("aiobotocore").setLevel(logging.WARNING)
    logging.getLogger("httpx").setLevel(logging.WARNING)
