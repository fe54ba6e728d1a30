"""A real Kubernetes v1.20.2 control plane for integration tests: etcd, kube-apiserver, kube-controller-manager.

Real binaries, because gitapply's diff and apply must agree with what the API server stores and what its
controllers do (defaulting, ReplicaSet revisions, rollout conditions). There is no kubelet and no scheduler:
`tests.harness.nodesim.NodeSimulator` plays both.

Rules this harness keeps:
- Everything listens on 127.0.0.1, on ports found free at start, so two runs on one machine never collide;
  a port taken between choosing and binding is retried with fresh ports.
- Each component runs in its own process group (stopped with SIGTERM, then SIGKILL) and, through
  `setpriv --pdeathsig`, dies with the thread that started it, so even a killed test run leaves nothing behind.
- Logs go to `${GITAPPLY_CACHE}/logs/<timestamp>-<pid>`; `stop(keep_logs=...)` keeps them or removes them.
- Missing binaries are an error naming `make controlplane`, never a skip.
"""

from __future__ import annotations

import atexit
import base64
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from .apiclient import ApiClient, ApiError

K8S_VERSION = "v1.20.2"
SERVICE_CIDR = "10.96.0.0/16"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc"
CONTEXT = "gitapply-test"
# The whole plane is ready 5-8 s after start here (etcd on tmpfs); a loaded 2-core machine can need far more.
START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
PORT_ATTEMPTS = 3
# tmpfs keeps etcd's fsyncs off the disk, but Docker's default /dev/shm (64 MiB) is too small for etcd.
MIN_SCRATCH_BYTES = 1 << 30
WORK_DIR_PREFIX = "gitapply-cp-"

T = TypeVar("T")


class ControlPlaneError(RuntimeError):
    """The control plane could not be found, started or reached."""


class _PortTaken(ControlPlaneError):
    """Another process bound a port between our choosing it and the component binding it."""


def cache_dir() -> Path:
    """`${GITAPPLY_CACHE}`, default `~/.cache/gitapply`: where `make controlplane` puts the binaries."""
    return Path(os.environ.get("GITAPPLY_CACHE") or Path.home() / ".cache" / "gitapply")


def default_bin_dir() -> Path:
    return cache_dir() / f"k8s-{K8S_VERSION}" / "bin"


def wait_until(probe: Callable[[], T], *, timeout: float, interval: float = 0.5, message: str) -> T:
    """Return the first truthy result of `probe`, or fail with `message` and the last result after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (after {timeout:.0f} s; last: {result!r})")
        time.sleep(interval)


def free_ports(count: int) -> list[int]:
    """Ports free on 127.0.0.1, held open together while choosing so they are distinct."""
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@dataclass(frozen=True)
class Binaries:
    etcd: Path
    kube_apiserver: Path
    kube_controller_manager: Path
    kubectl: Path

    @classmethod
    def find(cls, bin_dir: Path) -> Binaries:
        """The v1.20.2 binaries in `bin_dir`, and etcd there or on PATH (Debian's etcd-server)."""
        etcd = bin_dir / "etcd" if (bin_dir / "etcd").exists() else Path(shutil.which("etcd") or bin_dir / "etcd")
        found = cls(etcd, bin_dir / "kube-apiserver", bin_dir / "kube-controller-manager", bin_dir / "kubectl")
        missing = [path.name for path in vars(found).values() if not os.access(path, os.X_OK)]
        if missing:
            raise ControlPlaneError(
                f"control plane binaries not found in {bin_dir} (missing: {', '.join(missing)}); "
                "run `make controlplane`"
            )
        return found


@dataclass(frozen=True)
class Pki:
    ca_cert: Path
    serving_cert: Path
    serving_key: Path
    service_account_key: Path
    service_account_pub: Path


_SERVING_EXTENSIONS = """\
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc,IP:10.96.0.1
"""


def generate_pki(directory: Path) -> Pki:
    """A self-signed CA, a serving certificate for 127.0.0.1/localhost and a service-account key pair.

    P-256 keys: generated in milliseconds, where RSA-2048 costs a noticeable part of start-up.
    """
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "serving.ext").write_text(_SERVING_EXTENSIONS)
    ec_key = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl(directory, "req", "-x509", *ec_key, "-keyout", "ca.key", "-out", "ca.crt",
             "-days", "3650", "-subj", "/CN=gitapply-test-ca")
    _openssl(directory, "req", *ec_key, "-keyout", "serving.key", "-out", "serving.csr", "-subj", "/CN=kube-apiserver")
    _openssl(directory, "x509", "-req", "-in", "serving.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-days", "3650", "-extfile", "serving.ext", "-out", "serving.crt")
    _openssl(directory, "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "sa.key")
    _openssl(directory, "ec", "-in", "sa.key", "-pubout", "-out", "sa.pub")
    return Pki(directory / "ca.crt", directory / "serving.crt", directory / "serving.key",
               directory / "sa.key", directory / "sa.pub")


def _openssl(cwd: Path, *args: str) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ControlPlaneError("openssl not found; run `make controlplane`")
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


@dataclass
class _Component:
    name: str
    process: subprocess.Popen[bytes]
    log: Path
    argv: list[str]

    def check_running(self) -> None:
        """Raise with the log's tail if the process has exited; `_PortTaken` if it lost a port race."""
        code = self.process.poll()
        if code is None:
            return
        tail = "\n".join(self.log.read_text(errors="replace").splitlines()[-25:])
        error = _PortTaken if "address already in use" in tail else ControlPlaneError
        raise error(f"{self.name} exited with code {code}; log: {self.log}\n{tail}")

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if it has not exited within STOP_TIMEOUT."""
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, None)):
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


# Kills the component if the Python thread that started it dies, even by SIGKILL.
_PDEATHSIG = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager v1.20.2 on 127.0.0.1, with a kubeconfig for clients.

    Use as a context manager, or call `start()` and `stop(keep_logs=...)`. After start: `server` (URL),
    `kubeconfig` (path; context `gitapply-test`, namespace `default`, admin token in `system:masters`),
    `token`, `logs_dir`, `startup_seconds`.
    """

    def __init__(self, *, bin_dir: Path | str | None = None, controller_manager: bool = True) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else default_bin_dir()
        self.kubectl_path = str(self.bin_dir / "kubectl")
        self.token = secrets.token_hex(16)
        self.server = ""
        self.kubeconfig = ""
        self.logs_dir: Path | None = None
        self.startup_seconds: float | None = None
        self._with_controller_manager = controller_manager
        self._work_dir: Path | None = None
        self._pki: Pki | None = None
        self._components: list[_Component] = []
        self._client: ApiClient | None = None
        self._client_lock = threading.Lock()

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        kept = self.stop(keep_logs=exc_type is not None)
        if kept is not None:
            print(f"control plane logs kept in {kept}", file=sys.stderr)

    def start(self) -> ControlPlane:
        """Start all components and wait until the API server is ready and controllers are working."""
        binaries = Binaries.find(self.bin_dir)
        began = time.monotonic()
        self.logs_dir = _new_logs_dir()
        self._work_dir = _new_work_dir()
        atexit.register(self._stop_components)
        try:
            self._pki = generate_pki(self._work_dir / "pki")
            self._start_with_fresh_ports(binaries)
        except BaseException:
            self.stop(keep_logs=True)
            raise
        self.startup_seconds = time.monotonic() - began
        return self

    def stop(self, *, keep_logs: bool = False) -> Path | None:
        """Stop every component and remove the scratch directory; return the logs directory if kept."""
        self._stop_components()
        atexit.unregister(self._stop_components)
        if self._client is not None:
            self._client.close()
            self._client = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None
        logs, self.logs_dir = self.logs_dir, None
        if logs is not None and not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
            return None
        return logs

    @property
    def ca_file(self) -> str:
        """The CA that signed the API server's serving certificate (also embedded in the kubeconfig)."""
        if self._pki is None:
            raise ControlPlaneError("the control plane is not started")
        return str(self._pki.ca_cert)

    def component_pids(self) -> dict[str, int]:
        """The running components' process ids by name (etcd, kube-apiserver, kube-controller-manager)."""
        return {component.name: component.process.pid for component in self._components}

    @property
    def serving_certificate(self) -> tuple[str, str]:
        """The API server's serving certificate and key (for 127.0.0.1), to stand a proxy in its place."""
        if self._pki is None:
            raise ControlPlaneError("the control plane is not started")
        return str(self._pki.serving_cert), str(self._pki.serving_key)

    def api(self) -> ApiClient:
        """A new HTTP client for the API server: one per thread, as it is not thread-safe."""
        return ApiClient(self.server, self.token, self.ca_file)

    def request(self, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
        """One request through a client shared (under a lock) by every thread; errors raise `ApiError`."""
        with self._client_lock:
            if self._client is None:
                self._client = self.api()
            return self._client.request(method, path, body, **kwargs)

    def ready(self) -> bool:
        """Whether the API server answers /readyz with 200."""
        try:
            self.request("GET", "/readyz")
        except (ApiError, OSError, http.client.HTTPException):
            return False
        return True

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        """Run the v1.20.2 kubectl against this control plane; with `check`, fail with its output."""
        cache = (self._work_dir or Path(tempfile.gettempdir())) / "kubectl-cache"
        argv = [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", f"--cache-dir={cache}", *args]
        try:
            result = subprocess.run(argv, input=input, text=True, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"kubectl {' '.join(args)} timed out after {timeout} s\n"
                                 f"stdout:\n{exc.stdout}\nstderr:\n{exc.stderr}") from exc
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} exited with {result.returncode}\n"
                                 f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}")
        return result

    def new_namespace(self, prefix: str = "test") -> str:
        """Create a uniquely named namespace, so tests sharing one control plane stay isolated."""
        name = f"{prefix[:50].rstrip('-')}-{uuid.uuid4().hex[:8]}"
        body = {"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": name, "labels": {"gitapply.test/namespace": "true"}}}
        self.request("POST", "/api/v1/namespaces", body)
        return name

    def service_account_token(self, namespace: str, name: str) -> str:
        """Create a ServiceAccount and return a bearer token for it (an hour), to act as a user with only the
        rights a test binds to it."""
        self.kubectl("create", "serviceaccount", name, "-n", namespace)
        answer = self.request("POST", f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                              {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                               "spec": {"expirationSeconds": 3600}})
        return str(answer["status"]["token"])

    def delete_namespace(self, name: str) -> None:
        """Start deleting a namespace without waiting: the namespace controller finishes the job."""
        self.request("DELETE", f"/api/v1/namespaces/{name}")

    def restart_apiserver(self) -> None:
        """Stop the kube-apiserver alone (SIGTERM, as a rolling upgrade does) and start it again with the same
        flags and port, returning once /readyz answers; etcd keeps the data. Clients meanwhile see refused
        connections; the controllers and the node simulator reconnect by themselves. Call it from a thread that
        lives as long as the control plane: like every component, the new process dies with the thread that
        started it."""
        index = next(i for i, component in enumerate(self._components) if component.name == "kube-apiserver")
        old = self._components.pop(index)
        old.stop()
        with self._client_lock:  # its kept-alive connection went with the old process
            if self._client is not None:
                self._client.close()
                self._client = None
        self._spawn(old.name, old.argv)
        self._components.insert(index, self._components.pop())  # keep start order: stopped before etcd
        self._wait_ready(old.name, self.ready)

    def _start_with_fresh_ports(self, binaries: Binaries) -> None:
        for attempt in range(1, PORT_ATTEMPTS + 1):
            try:
                self._start_components(binaries, *free_ports(3), attempt=attempt)
                return
            except _PortTaken:
                self._stop_components()
                if attempt == PORT_ATTEMPTS:
                    raise

    def _start_components(self, binaries: Binaries, etcd_port: int, peer_port: int, api_port: int,
                          *, attempt: int) -> None:
        assert self._work_dir is not None and self._pki is not None
        self._spawn("etcd", _etcd_argv(binaries.etcd, self._work_dir / f"etcd-{attempt}", etcd_port, peer_port))
        self._wait_ready("etcd", lambda: _etcd_healthy(etcd_port))
        self.server = f"https://127.0.0.1:{api_port}"
        self.kubeconfig = str(self._write_kubeconfig())
        tokens = self._work_dir / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin,"system:masters"\n')
        self._spawn("kube-apiserver", _apiserver_argv(binaries.kube_apiserver, self._pki, tokens, etcd_port, api_port))
        self._wait_ready("kube-apiserver", self.ready)
        if self._with_controller_manager:
            self._spawn("kube-controller-manager",
                        _controller_manager_argv(binaries.kube_controller_manager, self._pki, self.kubeconfig))
            # The ServiceAccount controller creating `default` proves the controllers are syncing.
            self._wait_ready("kube-controller-manager", self._has_default_service_account)

    def _spawn(self, name: str, argv: list[str]) -> None:
        assert self.logs_dir is not None
        log = self.logs_dir / f"{name}.log"
        with log.open("ab") as sink:
            process = subprocess.Popen([*_PDEATHSIG, *argv], stdin=subprocess.DEVNULL, stdout=sink,
                                       stderr=subprocess.STDOUT, start_new_session=True, cwd=self._work_dir)
        self._components.append(_Component(name, process, log, argv))

    def _wait_ready(self, name: str, probe: Callable[[], bool]) -> None:
        """Poll `probe` until true, failing fast (with the log's tail) if any component has exited."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            for component in self._components:
                component.check_running()
            if probe():
                return
            time.sleep(0.2)
        raise ControlPlaneError(f"{name} not ready after {START_TIMEOUT:.0f} s; logs: {self.logs_dir}")

    def _has_default_service_account(self) -> bool:
        try:
            self.request("GET", "/api/v1/namespaces/default/serviceaccounts/default")
        except ApiError as error:
            if error.status == 404:
                return False
            raise
        return True

    def _stop_components(self) -> None:
        """Stop in reverse start order: controllers and the API server before etcd, which they depend on."""
        while self._components:
            self._components.pop().stop()

    def _write_kubeconfig(self) -> Path:
        """A self-contained kubeconfig (CA embedded), JSON being valid YAML for every client."""
        assert self._work_dir is not None and self._pki is not None
        ca_data = base64.b64encode(self._pki.ca_cert.read_bytes()).decode()
        config = {
            "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": CONTEXT,
            "clusters": [{"name": CONTEXT, "cluster": {"server": self.server, "certificate-authority-data": ca_data}}],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": CONTEXT, "context": {"cluster": CONTEXT, "user": "admin", "namespace": "default"}}],
        }
        path = self._work_dir / "kubeconfig"
        path.write_text(json.dumps(config, indent=2))
        return path


def _etcd_argv(etcd: Path, data_dir: Path, client_port: int, peer_port: int) -> list[str]:
    client, peer = f"http://127.0.0.1:{client_port}", f"http://127.0.0.1:{peer_port}"
    return [str(etcd), "--name=gitapply", f"--data-dir={data_dir}",
            f"--listen-client-urls={client}", f"--advertise-client-urls={client}",
            f"--listen-peer-urls={peer}", f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=gitapply={peer}", "--initial-cluster-state=new",
            "--logger=zap", "--log-outputs=stderr"]


def _apiserver_argv(binary: Path, pki: Pki, tokens: Path, etcd_port: int, port: int) -> list[str]:
    """Flags for a loopback-only API server.

    `--advertise-address` is explicit because, for a loopback bind address, the server otherwise looks up the
    host's default route (and fails to start without one); `--endpoint-reconciler-type=none` because the
    `kubernetes` Endpoints may not hold a loopback address.
    """
    return [str(binary), "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}", "--endpoint-reconciler-type=none",
            f"--tls-cert-file={pki.serving_cert}", f"--tls-private-key-file={pki.serving_key}",
            f"--client-ca-file={pki.ca_cert}", f"--cert-dir={pki.ca_cert.parent}",
            f"--token-auth-file={tokens}", "--authorization-mode=RBAC",
            f"--service-account-key-file={pki.service_account_pub}",
            f"--service-account-signing-key-file={pki.service_account_key}",
            f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
            "--disable-admission-plugins=ServiceAccount", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--profiling=false"]


def _controller_manager_argv(binary: Path, pki: Pki, kubeconfig: str) -> list[str]:
    """All default controllers but the token controller; no serving ports, so instances never collide.

    The node lifecycle controller stays on: the node simulator renews its node's heartbeat. The HPA controller
    syncs every 2 s (default 15 s) so that hand-off tests see it act within seconds.
    """
    return [str(binary), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
            "--controllers=*,-serviceaccount-token", "--use-service-account-credentials=false",
            "--horizontal-pod-autoscaler-sync-period=2s",
            f"--service-account-private-key-file={pki.service_account_key}", f"--root-ca-file={pki.ca_cert}",
            "--secure-port=0", "--port=0", "--profiling=false"]


def _etcd_healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return json.loads(response.read()).get("health") == "true"
    except (OSError, ValueError):
        return False


def _new_logs_dir() -> Path:
    logs = cache_dir() / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}-{uuid.uuid4().hex[:4]}"
    logs.mkdir(parents=True)
    return logs


def _new_work_dir() -> Path:
    """A scratch directory named after this process, after removing those of processes that no longer run.

    A SIGKILLed run cannot clean up, and on tmpfs its etcd data would hold memory until reboot.
    """
    root = _scratch_root()
    for stale in root.glob(f"{WORK_DIR_PREFIX}*"):
        pid = stale.name.removeprefix(WORK_DIR_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{WORK_DIR_PREFIX}{os.getpid()}-", dir=root))


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def _scratch_root() -> Path:
    """/dev/shm when it is roomy (etcd on tmpfs skips disk fsyncs), else the default temp directory."""
    shm = Path("/dev/shm")
    if os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= MIN_SCRATCH_BYTES:
        return shm
    return Path(tempfile.gettempdir())
