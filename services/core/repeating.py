"""A small action repeated from a thread while a block of work runs (a lease re-armed, a
stream kept active), stopped when the block ends."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


@contextmanager
def repeated(every: float, action: Callable[[], bool], name: str) -> Iterator[None]:
    """Call `action` every `every` seconds until the block ends, or until it returns False."""
    done = threading.Event()

    def run() -> None:
        while not done.wait(every) and action():
            pass

    thread = threading.Thread(target=run, name=name, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
