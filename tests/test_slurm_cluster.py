"""slurm/cluster.sh keeps its cluster private: it comes up beside a host that has its own Slurm
config and its own MariaDB with a `slurm` user of another password, leaves both as they
were, and a failed `up` stops what it started and names the daemon's own error.

Each test runs a second cluster in a home and on ports of its own (the session cluster of
the other Slurm tests keeps running) and purges it afterwards.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest_slurm import CLUSTER_SH, slurm_cluster, wait_until  # noqa: F401

pytestmark = pytest.mark.slurm

TEST_HOME = Path("/var/tmp/atari100k-slurm-test")
FAIL_HOME = Path("/var/tmp/atari100k-slurm-testfail")
HOST_FILES = [Path("/etc/slurm/slurm.conf"), Path("/etc/slurm/slurmdbd.conf"), Path("/etc/munge/munge.key")]


def port_free(port: int, host: str = "0.0.0.0") -> bool:
    with socket.socket() as s:
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def free_port_base(start: int) -> int:
    """The first base >= start with base..base+3 free (cluster.sh uses 4 ports)."""
    for base in range(start, start + 400, 10):
        if all(port_free(p) for p in range(base, base + 4)):
            return base
    raise AssertionError(f"no 4 free ports from {start}")


def cluster_env(home: Path, port_base: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATARI100K_SLURM_")}
    env.update(ATARI100K_SLURM_HOME=str(home), ATARI100K_SLURM_PORT_BASE=str(port_base),
               SLURM_CONF=str(home / "slurm.conf"), **extra)
    return env


def cluster(command: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(CLUSTER_SH), command], env=env, capture_output=True, text=True,
                          timeout=timeout)


def processes_of(home: Path) -> list[str]:
    """Live processes whose command line or environment names a path under `home`."""
    needle = (str(home) + "/").encode()
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "cmdline").read_bytes() or needle in (proc / "environ").read_bytes():
                found.append(f"{proc.name} {(proc / 'comm').read_text().strip()}")
        except OSError:
            continue
    return found


def purge(home: Path, env: dict[str, str]) -> None:
    out = cluster("purge", env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert not home.exists() and processes_of(home) == []


@pytest.fixture
def host_files():
    """The host's Slurm/munge files as they are; a /etc/slurm/slurm.conf made here if none."""
    made: list[Path] = []
    conf = HOST_FILES[0]
    if not conf.parent.exists():
        conf.parent.mkdir(parents=True)
        made.append(conf.parent)
    if not conf.exists():
        conf.write_text("# host slurm.conf written by tests/test_slurm_cluster.py; cluster.sh must not touch it\n")
        made.insert(0, conf)
    before = {p: p.read_bytes() if p.exists() else None for p in HOST_FILES}
    yield before
    for p, content in before.items():  # a failed test still leaves the host as it was
        if content is not None and p.exists() and p.read_bytes() != content:
            p.write_bytes(content)
    for p in made:
        p.unlink() if p.is_file() else p.rmdir()


@pytest.fixture
def host_mariadb(tmp_path):
    """A host MariaDB (its own datadir) with a `slurm` user whose password is 'host-password',
    on the default socket and port where they are free, else on others."""
    default_socket = Path("/run/mysqld/mysqld.sock")
    # The default socket only where no file is there (not even a stale one: it would be removed).
    if default_socket.parent.is_dir() and not os.path.lexists(default_socket):
        sock = default_socket
    else:
        sock = tmp_path / "hostdb.sock"
    port = 3306 if port_free(3306, "127.0.0.1") and port_free(3306) else free_port_base(3310)
    data = tmp_path / "hostdb"
    opts = ["--no-defaults", "--user=root", f"--datadir={data}", f"--socket={sock}", f"--port={port}",
            "--bind-address=127.0.0.1", f"--pid-file={tmp_path / 'hostdb.pid'}",
            f"--log-error={tmp_path / 'hostdb.log'}"]
    subprocess.run(["mariadb-install-db", *opts, "--auth-root-authentication-method=socket", "--skip-test-db"],
                   check=True, capture_output=True, timeout=120)
    server = subprocess.Popen(["mariadbd", *opts], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = ["mariadb", "--no-defaults", f"--socket={sock}", "-u", "root"]
    try:
        wait_until(lambda: server.poll() is None and subprocess.run([*root, "-e", "SELECT 1"],
                                                                     capture_output=True).returncode == 0,
                   60, 0.3, "the host MariaDB")
        subprocess.run([*root, "-e", "CREATE USER 'slurm'@'localhost' IDENTIFIED BY 'host-password';"
                                     "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"], check=True, timeout=30)
        yield {"server": server, "socket": sock, "port": port}
    finally:
        server.terminate()
        server.wait(timeout=60)


def host_login_works(db: dict) -> bool:
    out = subprocess.run(["mariadb", "--no-defaults", f"--socket={db['socket']}", "-u", "slurm", "-phost-password",
                          "-N", "-e", "SELECT CURRENT_USER()"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0 and out.stdout.strip() == "slurm@localhost"


def test_private_cluster_runs_beside_host_slurm_and_mariadb(slurm_cluster, host_files, host_mariadb, tmp_path):
    assert host_login_works(host_mariadb)
    env = cluster_env(TEST_HOME, free_port_base(6937))
    if TEST_HOME.exists():  # left by an interrupted run
        purge(TEST_HOME, env)
    try:
        t0 = time.monotonic()
        up = cluster("up", env)
        assert up.returncode == 0, up.stderr
        up_s = time.monotonic() - t0
        assert cluster("env", env).stdout.strip() == f"export SLURM_CONF={TEST_HOME / 'slurm.conf'}"
        # Everything of the new cluster runs from its home.
        comms = {p.split()[1] for p in processes_of(TEST_HOME)}
        assert {"munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd"} <= comms, comms

        job = subprocess.run(["sbatch", "--parsable", "-o", str(tmp_path / "job.out"), "--wrap", "echo private"],
                             env=env, capture_output=True, text=True, timeout=60)
        assert job.returncode == 0, job.stderr
        job_id = job.stdout.strip().split(";")[0]

        def state() -> str:
            out = subprocess.run(["sacct", "-n", "-X", "-P", "-o", "State", "-j", job_id], env=env,
                                 capture_output=True, text=True, timeout=30)
            return out.stdout.strip() if out.stdout.strip() == "COMPLETED" else ""

        wait_until(state, 90, 0.5, f"job {job_id} COMPLETED in sacct (took {up_s:.0f}s to come up)")
        assert (tmp_path / "job.out").read_text().strip() == "private"

        # The host is as it was: its Slurm/munge files, its database server and user.
        assert {p: p.read_bytes() if p.exists() else None for p in HOST_FILES} == host_files
        assert host_mariadb["server"].poll() is None
        assert host_login_works(host_mariadb)
        # And the session cluster (default home) still answers.
        assert cluster("status", {k: v for k, v in os.environ.items() if k != "SLURM_CONF"}).returncode == 0
    finally:
        purge(TEST_HOME, env)
    assert host_mariadb["server"].poll() is None and host_login_works(host_mariadb)


def test_failed_up_stops_what_it_started_and_names_the_cause(slurm_cluster):
    env = cluster_env(FAIL_HOME, free_port_base(6947))
    if FAIL_HOME.exists():
        purge(FAIL_HOME, env)
    try:
        # slurmdbd gets a password the (private) database does not know: it is refused.
        up = cluster("up", dict(env, ATARI100K_SLURM_DB_PASS_FOR_SLURMDBD="not-the-password"))
        assert up.returncode != 0
        assert "slurmdbd" in up.stderr and "Access denied for user 'slurm'" in up.stderr, up.stderr
        assert processes_of(FAIL_HOME) == [], up.stderr
        pids = [p.read_text().strip() for p in FAIL_HOME.rglob("*.pid")]
        assert not [p for p in pids if p and Path(f"/proc/{p}").exists()], pids

        # The database user now has a stale password (not the one asked for): `up` fixes it.
        up = cluster("up", dict(env, ATARI100K_SLURM_DB_PASS="not-the-password"))
        assert up.returncode == 0, up.stderr
        assert cluster("status", env).returncode == 0
    finally:
        purge(FAIL_HOME, env)
