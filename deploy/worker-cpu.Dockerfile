# syntax=docker/dockerfile:1.7
# CPU worker image: RQ worker on queue "upscale" with the CPU build of torch, for machines
# without a GPU (slow: size it with bench/RESULTS.md, see docs/DEPLOY.md).
# Build from the repository root:  docker build -f deploy/worker-cpu.Dockerfile -t sharpr/worker-cpu .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked versions, hashes checked (requirements/lock-worker-cpu.txt, see README
# "Dependencies"), then the project itself with no dependencies of its own choosing. The lock
# pins the CPU build of torch (torch==2.13.0+cpu), which only PyTorch's CPU index serves;
# the hashes keep that index from supplying anything but the locked files.
COPY requirements/lock-worker-cpu.txt ./requirements/
RUN pip install --require-hashes --only-binary av -r requirements/lock-worker-cpu.txt \
      --extra-index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
# g++ builds the Winograd convolution kernel for the CPU the container runs on (-march=native,
# at first start, cached under /data/kernels): ~2x the model's CPU speed.
RUN apt-get update \
 && apt-get install -y --no-install-recommends g++ \
 && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home sharpr \
 && install -d -o sharpr -g sharpr /data
COPY --from=build /opt/venv /opt/venv
COPY deploy/worker_healthcheck.py /opt/sharpr/worker_healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHARPR_DATA_DIR=/data \
    SHARPR_BACKEND=torch
USER sharpr
WORKDIR /app
VOLUME ["/data"]
# The worker registers with RQ only after the model is loaded, hence the long start period.
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD ["python", "/opt/sharpr/worker_healthcheck.py", "upscale"]
# SIGTERM starts RQ's warm shutdown: the current clip finishes, then the process exits.
STOPSIGNAL SIGTERM
CMD ["sharpr", "worker"]
