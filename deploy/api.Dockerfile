# syntax=docker/dockerfile:1.7
# API image: FastAPI + uvicorn and the S3/Redis clients. No torch, no PyAV.
# Build from the repository root:  docker build -f deploy/api.Dockerfile -t sharpr/api .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked versions, hashes checked (requirements/lock-api.txt, see README "Dependencies"),
# then the project itself with no dependencies of its own choosing.
COPY requirements/lock-api.txt ./requirements/
RUN pip install --require-hashes -r requirements/lock-api.txt
COPY pyproject.toml README.md ./
# The API's code and what it imports: the entry point and core. Never services/media, the
# worker or the packager: they need PyAV or torch, which this image does not install.
COPY services/__init__.py services/cli.py ./services/
COPY services/core ./services/core
COPY services/api ./services/api
RUN pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home sharpr \
 && install -d -o sharpr -g sharpr /data
COPY --from=build /opt/venv /opt/venv
# Containers must listen on every interface; the settings default is loopback only.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHARPR_API_HOST=0.0.0.0 \
    SHARPR_API_PORT=8000 \
    SHARPR_DATA_DIR=/data
USER sharpr
WORKDIR /app
EXPOSE 8000
# Liveness only (/healthz); /readyz also needs Redis and S3, which is the orchestrator's
# readiness question, not a reason to restart this container.
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
  CMD python -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)" \
      "http://127.0.0.1:${SHARPR_API_PORT}/healthz"
CMD ["sharpr", "api"]
