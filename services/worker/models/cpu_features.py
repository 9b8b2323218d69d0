"""What the CPU can do fast, read from /proc/cpuinfo rather than assumed.

bfloat16 convolutions pay off only where the CPU has native bf16 dot products (AVX512-BF16
or AMX); elsewhere oneDNN emulates them and float32 is faster.
"""

from functools import lru_cache
from pathlib import Path

BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


@lru_cache
def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    try:
        text = cpuinfo.read_text()
    except OSError:
        return frozenset()
    for line in text.splitlines():
        if line.startswith("flags"):
            return frozenset(line.split(":", 1)[1].split())
    return frozenset()


def cpu_has_bf16() -> bool:
    return bool(BF16_FLAGS & cpu_flags())
