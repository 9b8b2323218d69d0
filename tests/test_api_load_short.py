"""The API load benchmark in its short mode: a real `sharpr api` process under 20 streams, zero errors.

Latency is printed, not asserted: the machine is shared, so only correctness under
concurrency is a pass/fail matter here; bench/RESULTS.md records the full run's figures.
"""

import subprocess
import sys
from pathlib import Path

from tests.conftest import TEST_REDIS_DB

ROOT = Path(__file__).resolve().parent.parent


def test_short_api_load_has_no_errors():
    run = subprocess.run(
        [sys.executable, "-m", "bench.api_load", "--short", "--redis-db", str(TEST_REDIS_DB)],
        cwd=ROOT, check=False, capture_output=True, text=True, timeout=180,
    )
    print(run.stdout)
    assert run.returncode == 0, run.stdout + run.stderr
    total = next(line for line in run.stdout.splitlines() if line.startswith("| all "))
    count, errors = int(total.split("|")[2]), int(total.split("|")[7])
    assert count > 100 and errors == 0
