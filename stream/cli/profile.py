"""``python -m streamrec.stream.cli.profile OUT``: `streamrec worker` under cProfile on a CPU clock.

On a shared machine a wall-clock profile charges time spent descheduled to whatever ran
last (a socket send, an epoll wait); the main thread's CPU clock shows what the worker
itself spends. The step thread is not in it (its time is the worker's step histogram).
"""

from __future__ import annotations

import cProfile
import sys
import time


def main() -> None:
    """Profile the worker until it exits (SIGTERM included) and write the stats to argv[1]."""
    out = sys.argv[1]
    profiler = cProfile.Profile(time.thread_time)
    profiler.enable()
    try:
        from streamrec.stream.cli.main import main as cli_main

        cli_main(["worker"])
    finally:
        profiler.disable()
        profiler.dump_stats(out)


if __name__ == "__main__":
    main()
