"""``[core] hostname_callable`` for the end-to-end suite's Celery workers.

Both workers run on one machine, so the default (the machine's FQDN) would give every task instance the
same hostname; each worker is started with its own name in ``LINKEDIN_CAPI_E2E_WORKER_HOSTNAME``.
"""

from __future__ import annotations

import os
import socket


def hostname() -> str:
    return os.environ.get("LINKEDIN_CAPI_E2E_WORKER_HOSTNAME") or socket.getfqdn()
