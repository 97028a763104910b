"""Server worker processes that die with their parent (``datamint server run --workers N``).

uvicorn's supervisor starts the workers and hands them the listening socket. If the supervisor
is killed with ``kill -9`` it cannot stop them: they keep serving on the inherited socket and a
new server on the same port fails with ``EADDRINUSE``. On Linux each worker therefore asks the
kernel (``prctl(PR_SET_PDEATHSIG, SIGTERM)``) to send it SIGTERM when its parent dies; uvicorn
then closes the listening socket at once and finishes the requests in flight. Elsewhere, run the
server under a supervisor that stops the whole process group (systemd's default
``KillMode=control-group`` does).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import signal
import sys

#: The CLI puts the supervisor's pid here before it starts the workers.
ENV_PARENT = "DATAMINT_SERVER_SUPERVISOR_PID"
_PR_SET_PDEATHSIG = 1
_LOG = logging.getLogger("datamint.server")


def die_with_parent() -> bool:
    """Make this process receive SIGTERM when its parent process dies (Linux).

    If the parent named by ``DATAMINT_SERVER_SUPERVISOR_PID`` is already gone (it died before the
    request could be made), the process terminates itself at once.

    Returns:
        Whether the kernel took the request (``False`` on systems without ``prctl``).
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        _LOG.warning("prctl(PR_SET_PDEATHSIG) failed (errno %d): workers will outlive a killed supervisor",
                     ctypes.get_errno())
        return False
    expected = os.environ.get(ENV_PARENT)
    if expected and expected.isdigit() and os.getppid() != int(expected):
        os.kill(os.getpid(), signal.SIGTERM)  # the supervisor died before we could ask
    return True
