"""``python tests/clock_ahead.py SECONDS ARGS…``: ``whalefall ARGS…`` with its clock SECONDS ahead.

time-machine moves every "now" of the process forward (``whalefall.clock``, APScheduler's own
``datetime.now`` and ``time.time`` alike, in every thread) and lets it tick on: the process lives
as if it had started SECONDS later. Waits and timeouts (``time.monotonic``, ``Event.wait``) keep
real time. A test uses it for a downtime across due times without sleeping through it.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta

import time_machine

from whalefall.cli import main

if __name__ == "__main__":
    seconds = float(sys.argv[1])
    sys.argv = ["whalefall", *sys.argv[2:]]
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=seconds), tick=True):
        main()
