"""The worker service: upscales clips with the model (contracts: docs/DESIGN.md).

OpenMP threads sleep between parallel regions here (OMP_WAIT_POLICY=PASSIVE, unless the
environment says otherwise). Spinning, as they do by default, they keep both cores busy
after each oneDNN call and take them from the Winograd kernel's own threads: on 2 cores a
256x144 frame took 100 ms instead of 90, a 4-s clip 7.6 CPU seconds instead of 5.7, and
the CPU placement race picked bf16 on the slowed kernel. libgomp reads the variable once,
when torch loads, so it is set in this package's first module, before any worker module
imports torch.
"""

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
