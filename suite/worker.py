"""The local executor's worker process: `python -m suite.worker RUN_DIR SPEC_JSON [TRAINER]`.

A module of its own (not imported by the `suite` package) so that `-m` runs it cleanly.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import traceback
from pathlib import Path

from atari100k.fileio import atomic_write_json
from suite.job import DEFAULT_TRAINER, _now, run_one
from suite.processes import process_identity
from suite.runfolder import JOB


def worker_main(argv: list[str] | None = None) -> int:
    """Local worker: `python -m suite.worker RUN_DIR SPEC_JSON [TRAINER]`.

    SIGTERM/SIGINT set the stop event: the agent checkpoints and returns. Records its pid
    in job.json so that `status` can tell running from pending.
    """
    args = sys.argv[1:] if argv is None else argv
    run_dir, spec = Path(args[0]), json.loads(args[1])
    trainer = args[2] if len(args) > 2 else DEFAULT_TRAINER
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    job_path = run_dir / JOB
    try:
        record = json.loads(job_path.read_text())
    except (OSError, ValueError):
        record = {"executor": "local", "job_id": f"local-{os.getpid()}"}  # job.json unreadable: still a job
    record.update(worker_pid=os.getpid(), worker_identity=process_identity(os.getpid()), worker_started_at=_now())
    atomic_write_json(job_path, record)
    try:
        status = run_one(spec, run_dir, stop, trainer, record.get("job_id"))
    except Exception:
        traceback.print_exc()
        return 1
    return 0 if status in ("done", "already_done") else 3




if __name__ == "__main__":
    sys.exit(worker_main())
