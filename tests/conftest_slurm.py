"""Fixtures for the tests that need the real local Slurm cluster (slurm/cluster.sh).

Import what you need into a test module: `from tests.conftest_slurm import slurm_cluster`.
The cluster is private (everything under $ATARI100K_SLURM_HOME, default
/var/tmp/atari100k-slurm; its own ports, munged and MariaDB), brought up once per session
(idempotent: `up` on a running cluster takes milliseconds) and left running for later
modules. The fixture sets SLURM_CONF in os.environ, so sbatch/squeue/sacct/scontrol run by
the tests and by their subprocesses (submitit, `atari100k sweep`) talk to it. Skipped, with
the reason, only where it cannot be installed (no apt/dpkg, or not root); a failing `up` is
a test error.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CLUSTER_SH = REPO / "slurm" / "cluster.sh"
# Fast settings for the debug preset: one evaluation episode of at most 250 agent steps.
FAST = ["--set", "eval.episodes=1", "--set", "env.max_episode_frames=1000"]


def _cannot_install() -> str | None:
    if shutil.which("slurmctld") and shutil.which("sbatch"):
        return None if os.geteuid() == 0 else "Slurm daemons need root to start"
    if shutil.which("apt-get") is None or shutil.which("dpkg") is None:
        return "apt-get/dpkg unavailable: cannot install slurm-wlm (run the tests on Debian/Ubuntu as root)"
    if os.geteuid() != 0:
        return "not root: cannot install or start Slurm"
    return None


@pytest.fixture(scope="session")
def slurm_cluster() -> str:
    """A running single-node Slurm cluster with accounting; returns the node's partition."""
    reason = _cannot_install()
    if reason:
        pytest.skip(reason)
    out = subprocess.run(["bash", str(CLUSTER_SH), "up"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, f"slurm/cluster.sh up failed:\n{out.stderr[-3000:]}"
    os.environ["SLURM_CONF"] = cluster_slurm_conf()
    return "debug"


def cluster_slurm_conf(env: dict[str, str] | None = None) -> str:
    """The slurm.conf of the cluster.sh cluster (`cluster.sh env`: `export SLURM_CONF=...`)."""
    out = subprocess.run(["bash", str(CLUSTER_SH), "env"], capture_output=True, text=True, timeout=30, env=env,
                         check=True)
    words = shlex.split(out.stdout)
    assert words[:1] == ["export"] and words[1].startswith("SLURM_CONF="), out.stdout
    return words[1].removeprefix("SLURM_CONF=")


def wait_until(predicate, timeout: float, interval: float = 0.3, what: str = "condition"):
    """Poll `predicate` until truthy (returned) or fail after `timeout` seconds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")
