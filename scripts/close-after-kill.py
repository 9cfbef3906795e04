#!/usr/bin/env python3
"""How long a process keeps its TCP connections open after kill -9.

    scripts/close-after-kill.py PID PORT...

Connects to each PORT on 127.0.0.1 (a broker's client ports), sends SIGKILL to PID, and prints
for each connection the milliseconds until it saw the close (EOF or a reset). A request a
client writes into such a connection in that time is read by nobody and waits out the client's
send timeout. The process is killed: run it against a node you mean to restart.
"""

import os
import signal
import socket
import sys
import time


def main():
    if len(sys.argv) < 3:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    pid = int(sys.argv[1])
    conns = [(int(p), socket.create_connection(("127.0.0.1", int(p)), timeout=10)) for p in sys.argv[2:]]
    t0 = time.monotonic()
    os.kill(pid, signal.SIGKILL)
    for port, s in conns:
        try:
            got = "EOF" if s.recv(1) == b"" else "data"
        except ConnectionResetError:
            got = "reset"
        except socket.timeout:
            got = "still open after 10 s"
        print(f"port {port}: closed {1000 * (time.monotonic() - t0):.1f} ms after SIGKILL ({got})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
