# syntax=docker/dockerfile:1.7
# Packager image: RQ worker on queue "package". PyAV's manylinux wheel carries its own
# FFmpeg, so the image needs no system codecs and no torch.
# Build from the repository root:  docker build -f deploy/packager.Dockerfile -t sharpr/packager .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The locked versions, hashes checked (requirements/lock-packager.txt, see README
# "Dependencies"), then the project itself with no dependencies of its own choosing.
# --only-binary: PyAV must come as a wheel; a source build would need FFmpeg headers.
COPY requirements/lock-packager.txt ./requirements/
RUN pip install --require-hashes --only-binary av -r requirements/lock-packager.txt
COPY pyproject.toml README.md ./
COPY services ./services
RUN pip install --no-deps --no-build-isolation .

FROM ${PYTHON_IMAGE}
RUN useradd --system --uid 10001 --user-group --home-dir /app --create-home sharpr \
 && install -d -o sharpr -g sharpr /data
COPY --from=build /opt/venv /opt/venv
COPY deploy/worker_healthcheck.py /opt/sharpr/worker_healthcheck.py
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    SHARPR_DATA_DIR=/data
USER sharpr
WORKDIR /app
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["python", "/opt/sharpr/worker_healthcheck.py", "package"]
CMD ["sharpr", "packager"]
