#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""The wall time of a successful send with the queue on, against the
harness's Postfix (tests/harness.py): the median of N sends (30 by
default) of each binary given, run in turn so that the machine's load
falls on each alike.  The queue is on (the default): since issue 6 a
send publishes its message into the queue before connecting, and this
shows what that costs.

    scripts/send_cost.py [-n N] MAILHOP [MAILHOP...]

Run as root, as the integration tests are (the harness starts Postfix,
Dovecot and rsyslogd).  On the development VM (ext4 on virtio), a run of
mailhop before issue 6's held message, after it, and a variant that
fsyncs the message before connecting gave medians of 16.0, 17.3 and
18.4 ms.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))), "tests"))

import harness  # noqa: E402

MESSAGE = (b"From: alice@example.org\r\nTo: bob@example.org\r\n"
           b"Subject: cost\r\n\r\n" + b"body line\r\n" * 40)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=30)
    ap.add_argument("binaries", nargs="+")
    a = ap.parse_args()
    times = {b: [] for b in a.binaries}
    h = harness.Harness()
    with h:
        to = h.add_mailbox("cost@example.org")
        conf = h.write_config(queue=True)
        home = tempfile.mkdtemp(prefix="send-cost-", dir=h.base)
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8",
               "XDG_STATE_HOME": os.path.join(home, "state")}
        for i in range(a.n + 1):
            for b in a.binaries:
                t = time.monotonic()
                p = h.popen([b, "-C", conf, "--", to],
                            stdin=subprocess.PIPE, env=env)
                p.communicate(MESSAGE)
                dt = time.monotonic() - t
                if p.returncode != 0:
                    sys.exit("%s exited %d" % (b, p.returncode))
                if i > 0:  # the first of each warms the caches
                    times[b].append(dt)
        h.wait_queue_empty()
    for b in a.binaries:
        print("%s: median %.1f ms of %d sends (min %.1f, max %.1f)" % (
            b, 1000 * statistics.median(times[b]), len(times[b]),
            1000 * min(times[b]), 1000 * max(times[b])))


if __name__ == "__main__":
    main()
