"""Run the fake provider standalone: prints its URL on one line, serves until killed."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from .server import FakeProviderServer


def main(argv: list[str] | None = None) -> int:
    """Parse options, start the server, print its URL and block until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(prog="python -m tests.fakeprovider", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="Address to bind")
    parser.add_argument("--port", type=int, default=0, help="Port to bind (0 picks a free one)")
    parser.add_argument("--latency", type=float, default=0.0, help="Seconds before each response")
    parser.add_argument(
        "--event-delay", type=float, default=0.0, help="Seconds before each streamed event"
    )
    options = parser.parse_args(argv)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    with FakeProviderServer(
        host=options.host,
        port=options.port,
        latency=options.latency,
        event_delay=options.event_delay,
    ) as server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
