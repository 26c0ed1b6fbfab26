"""Real servers for the template's tests, on 127.0.0.1 only: PostgreSQL, an S3-compatible server (moto)
and `mlflow server`. Each runs in its own session, is polled until ready within a bound, and is stopped
by its process group when its `with` block ends, so nothing outlives the test run."""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import string
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.processes import WRITE_BYTECODE_ON_IMPORT, Started, answers_ok, free_port, started
from harness.tools import run

# The servers' own environment: never the one that holds the projects' dvc[s3] (together the resolver
# backtracks for minutes). SQLAlchemy 2.1 maps postgresql:// to psycopg 3, hence psycopg, not psycopg2.
SERVER_REQUIREMENTS = ["mlflow>=3.5", "psycopg[binary]>=3.2", "boto3>=1.35", "moto[server]>=5.1"]
REGION = "us-east-1"


def postgres_bindir() -> Path | None:
    """Debian's PostgreSQL binaries (initdb, postgres, pg_isready), newest major version first."""
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda path: int(path.parts[-3]), reverse=True
    )
    if found:
        return found[0].parent
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


def server_tools(venv: Path) -> Path:
    """An environment with mlflow (and its PostgreSQL driver and boto3) and moto's server; returns it.

    Bytecode is not compiled at install (it would take ~20 s for all of mlflow): Python writes it for
    what a server imports on its first start (the servers run with WRITE_BYTECODE_ON_IMPORT).
    """
    env = {"UV_PYTHON_DOWNLOADS": "never", **WRITE_BYTECODE_ON_IMPORT}
    for command in (
        ["uv", "venv", "--quiet", "--python", sys.executable, str(venv)],
        ["uv", "pip", "install", "--quiet", "--python", str(venv / "bin/python"), *SERVER_REQUIREMENTS],
    ):
        result = run(command, venv.parent, env)
        assert result.returncode == 0, str(result)
    return venv


@contextlib.contextmanager
def postgres(bindir: Path, log: Path, database: str = "mlflow") -> Iterator[Started]:
    """A throwaway PostgreSQL cluster on a free loopback port, TCP only, password authentication.

    Yields its SQLAlchemy URI (user `mlflow`, random password). initdb refuses to run as root, so as
    root the cluster belongs to the `postgres` user Debian's package creates (or `nobody`), in a folder
    of its own outside pytest's root-only temporary tree.
    """
    password = secrets.token_hex(16)
    folder = Path(tempfile.mkdtemp(prefix="pg-"))
    as_owner: list[str] = []
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres" if _user_exists("postgres") else "nobody")
        os.chown(folder, owner.pw_uid, owner.pw_gid)
        as_owner = ["setpriv", f"--reuid={owner.pw_uid}", f"--regid={owner.pw_gid}", "--init-groups"]
    try:
        password_file = folder / "password"
        password_file.write_text(password + "\n")
        if as_owner:
            os.chown(password_file, owner.pw_uid, owner.pw_gid)
        data = folder / "data"
        initdb = run(
            [*as_owner, str(bindir / "initdb"), "-D", str(data), "-U", "mlflow", "--auth=scram-sha-256",
             f"--pwfile={password_file}", "-E", "UTF8", "--no-locale", "--no-sync"],
            folder,
        )  # fmt: skip
        assert initdb.returncode == 0, str(initdb)
        port = free_port()
        client = ["-h", "127.0.0.1", "-p", str(port), "-U", "mlflow"]

        def ready() -> bool:
            return run([str(bindir / "pg_isready"), "-q", *client], folder).returncode == 0

        # -k '': no Unix socket; -F: no fsync (a test database).
        command = [*as_owner, str(bindir / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
                   "-k", "", "-F"]  # fmt: skip
        uri = f"postgresql+psycopg://mlflow:{password}@127.0.0.1:{port}/{database}"
        # SIGINT is PostgreSQL's fast shutdown: clients are disconnected rather than waited for.
        with started("postgres", command, log, ready, url=uri, stop_with=signal.SIGINT) as server:
            created = run([str(bindir / "createdb"), *client, database], folder, {"PGPASSWORD": password})
            assert created.returncode == 0, str(created)
            yield server
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@dataclass(frozen=True)
class Credentials:
    """Test keys for the S3-compatible server, new each run and shaped like AWS's, so a scan can find
    both the exact values and the generic pattern."""

    key_id: str
    secret: str

    @classmethod
    def generate(cls) -> Credentials:
        alphabet = string.ascii_uppercase + string.digits
        key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
        # 40 characters of base64's alphabet, as AWS's secrets are. Not token_urlsafe: one secret in 64
        # began with "-", which `dvc remote modify` took for an option and refused.
        secret = "".join(secrets.choice(string.ascii_letters + string.digits + "+/") for _ in range(40))
        return cls(key_id, secret)

    def env(self, endpoint: str) -> dict[str, str]:
        """What an S3 client (boto3, mlflow's artifact store) reads from the environment."""
        return {
            "AWS_ACCESS_KEY_ID": self.key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret,
            "AWS_DEFAULT_REGION": REGION,
            "MLFLOW_S3_ENDPOINT_URL": endpoint,
        }


class S3:
    """Just enough of the S3 API over plain HTTP for the tests to set up and inspect buckets (moto's
    server does not check signatures, so the test process needs no boto3)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint

    def create_bucket(self, bucket: str) -> None:
        request = urllib.request.Request(f"{self.endpoint}/{bucket}", method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def put(self, bucket: str, key: str, data: bytes) -> None:
        # Without a content type urllib sends a form's, and moto stores the object empty.
        headers = {"content-type": "application/octet-stream"}
        url = f"{self.endpoint}/{bucket}/{key}"
        request = urllib.request.Request(url, data=data, headers=headers, method="PUT")
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200

    def objects(self, bucket: str, prefix: str = "") -> dict[str, int]:
        """Key -> size of every object under `prefix` (ListObjectsV2, following continuation tokens)."""
        found: dict[str, int] = {}
        query = {"list-type": "2", "prefix": prefix}
        while True:
            url = f"{self.endpoint}/{bucket}?{urllib.parse.urlencode(query)}"
            with urllib.request.urlopen(url, timeout=10) as answer:
                root = ET.fromstring(answer.read())
            namespace = re.match(r"\{.*\}", root.tag).group(0) if root.tag.startswith("{") else ""
            for item in root.iter(f"{namespace}Contents"):
                found[item.findtext(f"{namespace}Key")] = int(item.findtext(f"{namespace}Size"))
            token = root.findtext(f"{namespace}NextContinuationToken")
            if root.findtext(f"{namespace}IsTruncated") != "true" or not token:
                return found
            query["continuation-token"] = token


@contextlib.contextmanager
def s3_server(tools: Path, log: Path) -> Iterator[Started]:
    """moto's S3-compatible server on a free loopback port; yields its endpoint."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    command = [str(tools / "bin/moto_server"), "-H", "127.0.0.1", "-p", str(port)]
    ready = answers_ok(f"{endpoint}/moto-api/")
    with started("moto_server", command, log, ready, url=endpoint, env=WRITE_BYTECODE_ON_IMPORT) as server:
        yield server


@contextlib.contextmanager
def mlflow_server(
    mlflow: Path,
    folder: Path,
    *,
    backend_store_uri: str | None = None,
    artifacts_destination: str | None = None,
    env: dict[str, str] | None = None,
    ready_within: float = 120,
) -> Iterator[Started]:
    """A real `mlflow server` on a free loopback port, proxying artifacts (clients need no S3 library).

    By default a SQLite file and a folder in `folder`. Its host check stays on, limited to the address
    the clients use. Job execution (GenAI jobs; seven more worker processes) is off: nothing here uses it.
    It forks workers, so it runs in its own session and the whole process group is stopped at the end.
    """
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    host = f"127.0.0.1:{port}"
    command = [
        str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
        "--backend-store-uri", backend_store_uri or f"sqlite:///{folder / 'mlflow.db'}",
        "--artifacts-destination", artifacts_destination or (folder / "artifacts").as_uri(),
        "--allowed-hosts", host,
    ]  # fmt: skip
    server_env = {
        **WRITE_BYTECODE_ON_IMPORT,
        **(env or {}),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    uri = f"http://{host}"
    with started(
        "mlflow server",
        command,
        folder / "mlflow-server.log",
        answers_ok(f"{uri}/health"),
        url=uri,
        env=server_env,
        ready_within=ready_within,
    ) as server:
        yield server


def status_with_host(url: str, host: str) -> int:
    """The HTTP status `url` answers when asked with another Host header (a DNS-rebinding attempt)."""
    request = urllib.request.Request(url, headers={"Host": host})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
