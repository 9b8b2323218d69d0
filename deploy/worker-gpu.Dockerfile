# syntax=docker/dockerfile:1.7
# GPU worker image: RQ worker on queue "upscale" with torch + torch-tensorrt (fp16 engines).
# Build from the repository root:  docker build -f deploy/worker-gpu.Dockerfile -t sharpr/worker-gpu .
#
# The versions move together: torch-tensorrt 2.13.0 requires torch >=2.13,<2.14 and
# TensorRT 11.0 for CUDA 13 (tensorrt-cu13), so torch is the cu130 build and the base image
# is CUDA 13.0. Change all three at once, or none.
# They live here and not in requirements/ (README, "Dependencies"): the CUDA builds cannot be
# resolved on the CPU machines that write the locks, so this image alone is not hash-locked.
ARG CUDA_IMAGE=nvidia/cuda:13.0.2-runtime-ubuntu24.04
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.9

FROM ${UV_IMAGE} AS uv

FROM ${CUDA_IMAGE} AS build
ARG TORCH_VERSION=2.13.0
ARG TORCH_TENSORRT_VERSION=2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu130
COPY --from=uv /uv /usr/local/bin/uv
# Ubuntu 24.04 ships Python 3.12; uv installs the project's Python 3.11 under /opt/python,
# which the runtime stage copies as it is (same path, so the venv's links stay valid).
ENV UV_PYTHON_INSTALL_DIR=/opt/python UV_COMPILE_BYTECODE=1 UV_LINK_MODE=copy UV_NO_CACHE=1
RUN uv venv --python 3.11 /opt/venv
WORKDIR /src
COPY pyproject.toml README.md ./
COPY services ./services
# One resolution with both indexes: torch from PyTorch's CUDA 13 index, the rest from PyPI.
RUN uv pip install --python /opt/venv \
      --index-url "${TORCH_INDEX}" --extra-index-url https://pypi.org/simple \
      --index-strategy unsafe-best-match --only-binary av \
      "torch==${TORCH_VERSION}" "torch-tensorrt==${TORCH_TENSORRT_VERSION}" ".[worker,gpu]"

FROM ${CUDA_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home sharpr \
 && install -d -o sharpr -g sharpr /data
COPY --from=build /opt/python /opt/python
COPY --from=build /opt/venv /opt/venv
COPY deploy/worker_healthcheck.py /opt/sharpr/worker_healthcheck.py
# SHARPR_DATA_DIR holds the TensorRT engine cache: mount a volume there so a restarted or
# rescheduled worker deserializes its engines instead of rebuilding them (minutes).
# SHARPR_BACKEND=tensorrt, not auto: a worker that cannot see its GPU then logs
# event=model_unavailable loudly (clips get the plain-resize fallback) instead of quietly
# taking the CPU path at a hundredth of the speed and backing up the queue.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHARPR_DATA_DIR=/data \
    SHARPR_BACKEND=tensorrt \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
USER sharpr
WORKDIR /app
VOLUME ["/data"]
# The worker registers with RQ only after the model (and its engine) is loaded.
HEALTHCHECK --interval=30s --timeout=5s --start-period=300s --retries=3 \
  CMD ["python", "/opt/sharpr/worker_healthcheck.py", "upscale"]
# SIGTERM starts RQ's warm shutdown: the current clip finishes, then the process exits.
STOPSIGNAL SIGTERM
CMD ["sharpr", "worker"]
