"""Does this Python environment hold exactly what requirements/lock.txt pins?

scripts/test runs it before pytest (and tests/test_lock.py runs it too), so a package that
pip left behind, upgraded or added on the side cannot quietly change what the tests test.
Standard library only: it must work in an environment that is wrong.

    python scripts/check_lock.py [LOCK]    exit 1 and list the differences if any
"""

import re
import sys
from importlib import metadata
from pathlib import Path

DEFAULT_LOCK = Path(__file__).resolve().parent.parent / "requirements" / "lock.txt"
# The project itself (installed editable, outside the lock) and the installer that every
# virtual environment starts with.
NOT_LOCKED = {"sharpr", "pip"}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


def normalise(name: str) -> str:
    """PEP 503: `Jinja2`, `jinja2` and `typing_extensions`/`typing-extensions` compare equal."""
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_versions(lock_text: str) -> dict[str, str]:
    """name -> version for every `name==version` line of a pip requirements lock."""
    return {
        normalise(match.group(1)): match.group(2)
        for line in lock_text.splitlines()
        if (match := PIN.match(line))
    }


def installed_versions() -> dict[str, str]:
    """name -> version for every distribution this interpreter can import from."""
    return {
        normalise(dist.metadata["Name"]): dist.version
        for dist in metadata.distributions()
    }


def differences(locked: dict[str, str], installed: dict[str, str]) -> list[str]:
    """One line per package that is missing, at another version, or not in the lock."""
    lines = []
    for name in sorted((locked.keys() | installed.keys()) - NOT_LOCKED):
        want, have = locked.get(name), installed.get(name)
        if want == have:
            continue
        if have is None:
            lines.append(f"{name}: locked {want}, not installed")
        elif want is None:
            lines.append(f"{name}: {have} installed, not in the lock")
        else:
            lines.append(f"{name}: locked {want}, installed {have}")
    return lines


def main(argv: list[str]) -> int:
    lock = Path(argv[0]) if argv else DEFAULT_LOCK
    lines = differences(locked_versions(lock.read_text()), installed_versions())
    if lines:
        print(f"{sys.prefix} does not match {lock}:", file=sys.stderr)
        for line in lines:
            print(f"  {line}", file=sys.stderr)
        print("Run `bash scripts/test` (it rebuilds .venv/ from the lock) or, after changing "
              "a version on purpose, `bash scripts/lock`.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
