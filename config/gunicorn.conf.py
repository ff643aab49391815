"""gunicorn settings for the web (docker-compose: gunicorn -c config/gunicorn.conf.py …).

With PROMETHEUS_MULTIPROC_DIR set, every worker writes its metric samples to files
there and /metrics adds them up (config/metrics.py): the directory is emptied when the
master starts (stale files would add old counts) and a dead worker's live gauges are
dropped.
"""

import os
import shutil
from pathlib import Path

from prometheus_client import multiprocess


def on_starting(server):
    path = os.getenv("PROMETHEUS_MULTIPROC_DIR")
    if path:
        shutil.rmtree(path, ignore_errors=True)
        Path(path).mkdir(parents=True, exist_ok=True)


def child_exit(server, worker):
    if os.getenv("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(worker.pid)
