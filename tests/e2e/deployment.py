"""A real Airflow deployment for the end-to-end suite: CeleryExecutor, two workers, every Airflow service.

Each service is a child process in its own process group (``start_new_session``), started from the same
environment as the test run (the locked ``.venv``), with logs in the deployment's directory. ``stop()``
ends every group it started and checks, with psutil, that no process of it is left.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import requests

REPO_ROOT = Path(__file__).resolve().parents[2]
AIRFLOW = str(Path(sys.executable).parent / "airflow")
#: Task-instance hostnames of the two Celery workers (their Celery node names are ``<name>@127.0.0.1``).
WORKER_HOSTNAMES = ("e2e-worker-a", "e2e-worker-b")
PG_SERVER = "postgres@127.0.0.1:5432"
EXAMPLES = REPO_ROOT / "example_dags"
REDIS_URL = "redis://127.0.0.1:6379/7"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, check: Callable[[], object], timeout: float, interval: float = 0.5, hint=None):
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # the service may not be up yet; keep polling until the deadline
            last_error = exc
        time.sleep(interval)
    detail = f" (last error: {last_error!r})" if last_error else ""
    extra = f"\n{hint()}" if hint else ""
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}{detail}{extra}")


@dataclass
class Service:
    name: str
    args: list[str]
    process: subprocess.Popen | None = None
    log_path: Path | None = None
    #: Killed on purpose by a scenario: not an unexpected exit.
    killed: bool = False


@dataclass
class Deployment:
    """The services, their environment and how to reach the REST API."""

    home: Path
    database: str
    extra_dags: Path
    api_port: int = field(default_factory=free_port)
    worker_log_ports: tuple[int, int] = field(default_factory=lambda: (free_port(), free_port()))
    services: dict[str, Service] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    _token: str | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def db_url(self) -> str:
        return f"postgresql+psycopg2://{PG_SERVER}/{self.database}"

    def build_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "CI_"))}
        local_bundle = "airflow.dag_processing.bundles.local.LocalDagBundle"
        bundles = json.dumps(
            [
                {"name": "provider_examples", "classpath": local_bundle, "kwargs": {"path": str(EXAMPLES)}},
                {"name": "e2e_dags", "classpath": local_bundle, "kwargs": {"path": str(self.extra_dags)}},
            ]
        )
        env.update(
            {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "example_dags"),
                "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST": bundles,
                "AIRFLOW__CORE__FERNET_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
                "AIRFLOW__CORE__TEST_CONNECTION": "Enabled",
                "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
                "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
                "AIRFLOW__CORE__AUTH_MANAGER": (
                    "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
                ),
                "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.db_url,
                "AIRFLOW__CELERY__BROKER_URL": REDIS_URL,
                "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql://{PG_SERVER}/{self.database}",
                # One task at a time per worker: two pool slots then need both workers.
                "AIRFLOW__CELERY__WORKER_CONCURRENCY": "1",
                # A queue of this deployment's own: another test session sharing the Redis database
                # neither takes nor is given its tasks.
                "AIRFLOW__OPERATORS__DEFAULT_QUEUE": self.database,
                "AIRFLOW__API__HOST": "127.0.0.1",
                "AIRFLOW__API__PORT": str(self.api_port),
                "AIRFLOW__API__BASE_URL": self.api_url,
                "AIRFLOW__API__WORKERS": "1",
                "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
                "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
                "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
                # A killed worker's task is noticed in seconds, not the default five minutes.
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
                "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
                "AIRFLOW__DAG_PROCESSOR__PARSING_PROCESSES": "1",
                "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
                "SCARF_ANALYTICS": "false",
                "DO_NOT_TRACK": "1",
                "PYTHONPATH": str(REPO_ROOT),
            }
        )
        return env

    # ---- processes ---------------------------------------------------------------------------------------

    def airflow(self, *args: str, timeout: float = 300) -> str:
        result = subprocess.run(
            [AIRFLOW, *args], env=self.env, capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise AssertionError(
                f"airflow {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
            )
        return result.stdout

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> Service:
        log_path = self.home / "service-logs" / f"{name}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("ab") as log:
            process = subprocess.Popen(
                [AIRFLOW, *args],
                env={**self.env, **(env or {})},
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.home,
            )
        service = Service(name, list(args), process, log_path)
        self.services[name] = service
        return service

    def start_worker(self, index: int) -> Service:
        name = WORKER_HOSTNAMES[index]
        env = {
            "AIRFLOW__CORE__HOSTNAME_CALLABLE": "tests.e2e.worker_hostname.hostname",
            "LINKEDIN_CAPI_E2E_WORKER_HOSTNAME": name,
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(self.worker_log_ports[index]),
        }
        return self.start(f"worker-{index}", "celery", "worker", "-H", f"{name}@127.0.0.1", env=env)

    def kill_service(self, name: str) -> None:
        """SIGKILL a service's whole process group: the process and every child it runs a task in."""
        service = self.services[name]
        assert service.process is not None
        service.killed = True
        try:
            children = psutil.Process(service.process.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        _signal_group(service.process.pid, signal.SIGKILL)
        for child in children:  # a task's supervisor may have left the group with setsid()
            with contextlib.suppress(psutil.NoSuchProcess):
                child.kill()
        service.process.wait(30)

    def log_tail(self, name: str, lines: int = 40) -> str:
        service = self.services.get(name)
        if service is None or service.log_path is None or not service.log_path.exists():
            return f"(no log for {name})"
        text = service.log_path.read_text(errors="replace").splitlines()[-lines:]
        return f"--- last {len(text)} lines of {service.log_path} ---\n" + "\n".join(text)

    def all_log_tails(self, lines: int = 15) -> str:
        return "\n".join(self.log_tail(name, lines) for name in self.services)

    def check_alive(self) -> None:
        for name, service in self.services.items():
            if service.process is not None and not service.killed and service.process.poll() is not None:
                raise AssertionError(
                    f"{name} exited with {service.process.returncode}\n{self.log_tail(name)}"
                )

    def stop(self) -> list[str]:
        """Stop every service group (TERM, then KILL); return descriptions of any process left behind."""
        groups = []
        for service in self.services.values():
            if service.process is not None:
                groups.append(service.process.pid)
                _signal_group(service.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for service in self.services.values():
            if service.process is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    service.process.wait(max(0.1, deadline - time.monotonic()))
        for pgid in groups:
            _signal_group(pgid, signal.SIGKILL)
        for service in self.services.values():
            if service.process is not None and service.process.poll() is None:
                service.process.wait(10)
        time.sleep(0.5)
        left = []
        for proc in psutil.process_iter(["pid", "cmdline"]):
            try:
                if os.getpgid(proc.pid) in groups:
                    left.append(f"{proc.pid}: {' '.join(proc.info['cmdline'] or [])}")
            except (ProcessLookupError, psutil.Error):
                continue
        return left

    # ---- REST API ----------------------------------------------------------------------------------------

    def token(self) -> str:
        """A JWT from the simple auth manager (all users are admins in this deployment)."""
        if self._token is None:
            response = requests.get(f"{self.api_url}/auth/token", timeout=10)
            response.raise_for_status()
            self._token = response.json()["access_token"]
        return self._token

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token()}", **kwargs.pop("headers", {})}
        return requests.request(
            method, f"{self.api_url}/api/v2/{path.lstrip('/')}", headers=headers, timeout=30, **kwargs
        )

    def get(self, path: str, **params) -> dict:
        response = self.api("GET", path, params=params)
        assert response.ok, f"GET {path} -> {response.status_code} {response.text[:500]}"
        return response.json()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)
