#!/usr/bin/env python3
"""Runs Postfix's smtp-sink with -c and time-stamps its message counter.

Usage: sink_counter.py LOG -- smtp-sink [options] 127.0.0.1:PORT BACKLOG

smtp-sink -c rewrites a status line ("sess=N quit=N mesg=N", separated by
carriage returns) whenever a session ends, QUIT arrives or a "." is received.
This wrapper reads that stream and appends "UNIX_TIME COUNT" to LOG each time
mesg= grows, so a benchmark can tell when the Nth message reached the sink
(smtp-sink counts a message when it has read the final "."). smtp-sink stays
the C program that measures the loopback ceiling; the wrapper only reads a few
bytes per message. Stops smtp-sink on SIGTERM/SIGINT and exits when it does.
"""

import os
import re
import signal
import subprocess
import sys
import time

MESG = re.compile(rb"mesg=(\d+)")


def main() -> int:
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        print(__doc__, file=sys.stderr)
        return 2
    log_path = sys.argv[1]
    child = subprocess.Popen(sys.argv[3:], stdout=subprocess.PIPE)

    def stop(_signum, _frame):
        if child.poll() is None:
            child.terminate()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    last = 0
    pending = b""
    with open(log_path, "a", buffering=1) as log:
        log.write(f"{time.time():.6f} 0\n")
        fd = child.stdout.fileno()
        while True:
            try:
                chunk = os.read(fd, 65536)
            except InterruptedError:
                continue
            if not chunk:
                break
            now = time.time()
            data = pending + chunk
            # Keep an incomplete trailing record for the next read.
            cut = max(data.rfind(b"\r"), data.rfind(b"\n"))
            pending = data[cut + 1:] if cut >= 0 else data
            complete = data[:cut + 1] if cut >= 0 else b""
            found = MESG.findall(complete)
            if found:
                count = int(found[-1])
                if count != last:
                    # One line per read: every message of the chunk reached the
                    # sink no later than `now`.
                    log.write(f"{now:.6f} {count}\n")
                    last = count
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
