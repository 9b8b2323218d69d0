"""The suite runs on the lock: this environment holds exactly requirements/lock.txt
(scripts/check_lock.py, which scripts/test also runs before pytest), and every image's lock
is a part of it, the same versions with the same hashes.
"""

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIREMENTS = ROOT / "requirements"
CHECK_LOCK = ROOT / "scripts" / "check_lock.py"
IMAGE_LOCKS = sorted(REQUIREMENTS.glob("lock-*.txt"))

_spec = importlib.util.spec_from_file_location("check_lock", CHECK_LOCK)
check_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_lock)


def pins_with_hashes(lock: Path) -> dict[str, tuple[str, frozenset[str]]]:
    """name -> (version, hashes) for every pin of a `--generate-hashes` lock."""
    pins: dict[str, tuple[str, set[str]]] = {}
    hashes: set[str] = set()
    for line in lock.read_text().splitlines():
        if match := check_lock.PIN.match(line):
            hashes = set()
            pins[check_lock.normalise(match.group(1))] = (match.group(2), hashes)
        elif match := re.search(r"--hash=(\S+)", line):
            hashes.add(match.group(1))
    return {name: (version, frozenset(found)) for name, (version, found) in pins.items()}


def test_this_environment_is_the_lock():
    locked = check_lock.locked_versions((REQUIREMENTS / "lock.txt").read_text())
    assert check_lock.differences(locked, check_lock.installed_versions()) == []


def test_differences_name_missing_other_and_unlocked_packages():
    locked = {"jinja2": "3.1.6", "typing-extensions": "4.16.0", "redis": "8.1.0", "rq": "2.12.0"}
    installed = {"jinja2": "3.1.6", "typing-extensions": "4.16.0", "redis": "8.0.1",
                 "pytest-randomly": "4.0.1", "sharpr": "0.1.0", "pip": "24.0"}
    assert check_lock.differences(locked, installed) == [
        "pytest-randomly: 4.0.1 installed, not in the lock",
        "redis: locked 8.1.0, installed 8.0.1",
        "rq: locked 2.12.0, not installed",
    ]


def test_names_compare_as_pep_503_normalises_them():
    lock = "Jinja2==3.1.6 \\\n    --hash=sha256:00\ntyping_extensions==4.16.0\n# via x\n"
    assert check_lock.locked_versions(lock) == {"jinja2": "3.1.6", "typing-extensions": "4.16.0"}


def test_a_mismatch_fails_and_lists_each_package(tmp_path: Path):
    lock = tmp_path / "lock.txt"
    text = re.sub(r"^redis==\S+", "redis==0.0.1", (REQUIREMENTS / "lock.txt").read_text(),
                  flags=re.MULTILINE)
    lock.write_text(text + "no-such-package==1.0 \\\n    --hash=sha256:00\n")
    result = subprocess.run([sys.executable, str(CHECK_LOCK), str(lock)],
                            check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "no-such-package: locked 1.0, not installed" in result.stderr
    assert "redis: locked 0.0.1, installed " in result.stderr


def test_every_lock_pins_every_package_with_hashes():
    for lock in [REQUIREMENTS / "lock.txt", *IMAGE_LOCKS]:
        unhashed = [name for name, (_, hashes) in pins_with_hashes(lock).items() if not hashes]
        assert unhashed == [], lock.name


@pytest.mark.parametrize("lock", IMAGE_LOCKS, ids=lambda path: path.name)
def test_image_locks_take_their_versions_and_hashes_from_the_lock(lock: Path):
    everything = pins_with_hashes(REQUIREMENTS / "lock.txt")
    pins = pins_with_hashes(lock)
    assert pins and {name: everything.get(name) for name in pins} == pins


def test_the_cpu_worker_gets_the_cpu_torch_and_the_api_no_torch():
    assert pins_with_hashes(REQUIREMENTS / "lock-worker-cpu.txt")["torch"][0] == "2.13.0+cpu"
    assert "torch" not in pins_with_hashes(REQUIREMENTS / "lock-api.txt")
    assert {path.name for path in IMAGE_LOCKS} == {
        "lock-api.txt", "lock-packager.txt", "lock-ingest.txt", "lock-worker-cpu.txt"}
