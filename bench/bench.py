# SPDX-License-Identifier: ISC
"""make bench: mailhop side by side with msmtp on the same server.

    /usr/bin/python3 bench/bench.py MAILHOP DELAY_HELPER

Runs as root.  The whole run happens in a network namespace of its own
(and a mount namespace of its own): bench.py starts itself again under
`unshare --net --mount`, brings lo up there, and starts tests/harness.py's
Postfix + Dovecot + CA on that namespace's loopback.  So the iptables
rules below touch no other program on the machine, and every packet stays
on 127.0.0.1.  The harness's rsyslogd socket is bind-mounted over
/dev/log in that mount namespace, so mailhop and msmtp both log their one
line per message to it and run directly, with no wrapper to time.

Both clients send the same message files to the same server, configured
alike: host localhost, the same port and TLS mode, the test CA as the
only trust anchor, user alice, the same SASL mechanism, the same From,
a 10 s timeout, one syslog line per message.  Against Postfix mailhop
keeps its default queue = on (its queue is a private XDG_STATE_HOME);
against the fault server it has queue = off, so that a send that fails
says so rather than being queued.  Sends alternate
between the two clients, so a busy moment on the machine hits both.

The figures (see README, "make bench"):
 1. wall time per small message, STARTTLS + PLAIN: median of 50 sends;
 2. round trips per message: every client-to-server packet is held 25 ms
    (iptables -j NFQUEUE on lo for the server's port, bench/delay.c
    holding each packet); (median at 25 ms - median at 0 ms) / 25 ms, the
    0 ms runs going through the same queue with no hold; against Postfix,
    and against tests/faultserver.py, which adds no wait of its own
    (Postfix holds its reply after the TLS 1.3 session ticket until the
    client's ACK of the ticket arrives: one round trip for any client);
 3. CPU instructions of one send, whole process (callgrind's total Ir);
 4. peak resident memory (GNU time's %M, the client's own ru_maxrss)
    sending a small, a 1 MiB and a 50 MiB message;
 5. flushing 1000 queued messages: `mailhop -q` against msmtpq's
    `--q-mgmt -r`, each queue filled by real sends while an iptables
    REJECT rule refuses the server's port.
At the end the server's mailboxes must hold every message each client
said it sent.

Environment: BENCH_SENDS (50), BENCH_RTT_SENDS (15), BENCH_FLUSH (1000)
change the counts; BENCH_KEEP=1 keeps the work directory.
"""

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))

from harness import Harness  # noqa: E402
from faultserver import FaultServer, Scenario  # noqa: E402

MSMTP = "/usr/bin/msmtp"
MSMTPQ = "/usr/libexec/msmtp/msmtpq/msmtpq"
NS_MARK = "MAILHOP_BENCH_NS"
DELAY_MS = 25
QUEUE_NUM = 7
RCPT = {"mailhop": "bench-mailhop@example.org",
        "msmtp": "bench-msmtp@example.org"}
MODES = [("STARTTLS+PLAIN", "starttls", "plain"),
         ("STARTTLS+SCRAM-SHA-256", "starttls", "scram-sha-256"),
         ("implicit TLS+PLAIN", "implicit", "plain")]
FLOOR = {"STARTTLS+PLAIN": 8, "STARTTLS+SCRAM-SHA-256": 10,
         "implicit TLS+PLAIN": 6}
MIB = 1024 * 1024
# Why the Postfix rows are met at the floor + 1 (README, "make bench").
POSTFIX_WAIT = (
    "round trips against Postfix are met at the floor + 1 (server): after "
    "the TLS 1.3 handshake Postfix writes a session ticket, and with Nagle "
    "on its next reply (250 to EHLO, or the 220 with implicit TLS) leaves "
    "only when the client's ACK of the ticket arrives, one held packet "
    "later, for either client (packet capture).  smtpd_tls_session_cache_"
    "timeout = 0 or an empty tls_session_ticket_cipher does not remove it: "
    "OpenSSL then sends a stateful ticket, and the reply waits the same.  "
    "The fault server adds no wait (TCP_NODELAY): its rows are met at the "
    "floor")


class BenchError(Exception):
    pass


STARTED = time.monotonic()


def note(text):
    sys.stderr.write("bench: [%3.0f s] %s\n" % (time.monotonic() - STARTED,
                                                 text))
    sys.stderr.flush()


def sh(*argv):
    r = subprocess.run(argv, capture_output=True, text=True)
    if r.returncode != 0:
        raise BenchError("%s: exit %d\n%s" % (" ".join(argv), r.returncode,
                                              r.stderr))
    return r.stdout


# What the run needs besides Python, and the Debian package with it
# (scripts/deps.sh bench installs them); git is optional (versions()).
TOOLS = [(MSMTP, "msmtp"), (MSMTPQ, "msmtp"), ("valgrind", "valgrind"),
         ("/usr/bin/time", "time"), ("iptables", "iptables"),
         ("unshare", "util-linux"), ("ip", "iproute2"),
         ("postfix", "postfix"), ("dovecot", "dovecot-core"),
         ("rsyslogd", "rsyslog")]


def check_tools(paths):
    """Stop before anything starts if a tool, or a program given on the
    command line, is missing: one line naming all of them."""
    missing = []
    for tool, pkg in TOOLS:
        if os.path.isabs(tool):
            found = os.access(tool, os.X_OK)
        else:
            found = shutil.which(tool) is not None
        if not found:
            missing.append("%s (%s)" % (tool, pkg))
    for p in paths:
        if not os.access(p, os.X_OK):
            missing.append(p)
    if missing:
        raise BenchError("missing %s; 'sh scripts/deps.sh bench' as root "
                         "installs the packages" % ", ".join(missing))


def enter_namespaces():
    """Run again in a network and mount namespace of our own."""
    if os.environ.get(NS_MARK) == "1":
        sh("ip", "link", "set", "lo", "up")
        return
    env = dict(os.environ, **{NS_MARK: "1"})
    argv = ["unshare", "--net", "--mount", "--propagation", "private",
            "--", sys.executable, os.path.abspath(__file__)] + sys.argv[1:]
    os.execvpe("unshare", argv, env)


# ------------------------------------------------------------ messages

def write_message(path, who, body_bytes, n):
    """A message with every header either client might add, so neither
    adds one; body of about body_bytes in 76-column lines."""
    head = ("From: Alice <alice@example.org>\r\n"
            "To: <%s>\r\n"
            "Subject: bench %s %d bytes\r\n"
            "Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n"
            "Message-ID: <bench-%s-%d@example.org>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=us-ascii\r\n"
            "\r\n" % (RCPT[who], who, body_bytes, who, n))
    line = ("0123456789" * 8)[:76] + "\r\n"
    with open(path, "wb") as f:
        f.write(head.encode())
        left = body_bytes
        chunk = (line * 4096).encode()
        while left > 0:
            f.write(chunk[:left] if left < len(chunk) else chunk)
            left -= len(chunk)
        if body_bytes % len(line) != 0:
            f.write(b"\r\n")
    return path


# ------------------------------------------------------------- clients

class Client:
    """One client: its command lines for a mode, how many messages it
    says it sent (checked against the server's mailbox at the end)."""

    def __init__(self, name, bench):
        self.name = name
        self.b = bench
        self.sent = 0
        self.confs = {}

    def run(self, argv, stdin_path, env=None):
        """Run argv with stdin from a file: (seconds, exit code, stderr).
        (Not its peak RSS: Linux carries the peak of the forking process,
        this Python, over exec, so memory() measures under GNU time.)"""
        errf = tempfile.TemporaryFile()
        with open(stdin_path, "rb") as f:
            t0 = time.perf_counter()
            p = subprocess.Popen(argv, stdin=f, stdout=subprocess.DEVNULL,
                                 stderr=errf, env=env or self.b.env)
            _, status = os.waitpid(p.pid, 0)
            dt = time.perf_counter() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        errf.seek(0)
        err = errf.read().decode("utf-8", "replace")
        errf.close()
        return dt, p.returncode, err

    def send(self, mode, stdin_path, prefix=(), conf=None):
        """One send; conf, a config for another server (then the message
        is not counted for Postfix's mailbox)."""
        argv = list(prefix) + self.argv(mode, conf)
        dt, rc, err = self.run(argv, stdin_path)
        if rc != 0:
            raise BenchError("%s exited %d sending (%s):\n%s"
                             % (self.name, rc, " ".join(argv), err))
        self.sent += conf is None
        return dt


class Mailhop(Client):
    def __init__(self, bench, path):
        super().__init__("mailhop", bench)
        self.path = path
        h = bench.h
        for label, tls, auth in MODES:
            self.confs[label] = h.write_config(
                tls=tls, auth=auth, queue=True, name="mailhop-" + tls +
                "-" + auth)

    def write_config(self, name, tls, auth, port):
        return self.b.h.write_config(tls=tls, auth=auth, port=port,
                                     name=name)

    def argv(self, mode, conf=None):
        return [self.path, "-C", conf or self.confs[mode], RCPT["mailhop"]]


class Msmtp(Client):
    def __init__(self, bench):
        super().__init__("msmtp", bench)
        for label, tls, auth in MODES:
            self.confs[label] = self.write_config(
                "msmtp-%s-%s" % (tls, auth), tls, auth,
                bench.h.port_for(tls))

    def write_config(self, name, tls, auth, port):
        h = self.b.h
        p = os.path.join(self.b.dir, name)
        text = ("defaults\n"
                "syslog LOG_MAIL\n"
                "account bench\n"
                "host localhost\n"
                "port %d\n"
                "tls on\n"
                "tls_starttls %s\n"
                "tls_trust_file %s\n"
                "auth %s\n"
                "user alice\n"
                "password %s\n"
                "from alice@example.org\n"
                "timeout 10\n"
                "account default : bench\n"
                % (port, "on" if tls == "starttls" else "off", h.ca_file,
                   auth, h.users["alice"]))
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
        return p

    def argv(self, mode, conf=None):
        return [MSMTP, "-C", conf or self.confs[mode], RCPT["msmtp"]]


# --------------------------------------------------------------- delay

class Delay:
    """bench/delay.c holding every client-to-server packet for port on
    lo; with ms 0 the packets take the same path and are not held."""

    def __init__(self, helper, port, ms):
        self.rule = ["OUTPUT", "-o", "lo", "-p", "tcp", "--dport",
                     str(port), "-j", "NFQUEUE", "--queue-num",
                     str(QUEUE_NUM)]
        self.p = subprocess.Popen([helper, str(QUEUE_NUM), str(ms)],
                                  stdout=subprocess.PIPE, text=True)
        if self.p.stdout.readline().strip() != "ready":
            self.p.wait()
            raise BenchError("the delay helper did not start (exit %s)"
                             % self.p.returncode)
        try:
            sh("iptables", "-A", *self.rule)
        except BaseException:
            self.p.kill()
            self.p.wait()
            raise

    def stop(self):
        sh("iptables", "-D", *self.rule)
        self.p.terminate()
        if self.p.wait(10) != 0:
            raise BenchError("the delay helper failed (exit %d)"
                             % self.p.returncode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def connect_ms(port, n=7):
    import socket
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        with socket.create_connection(("127.0.0.1", port), 5):
            out.append(time.perf_counter() - t0)
    return statistics.median(out) * 1000


# --------------------------------------------------------------- bench

class Bench:
    def __init__(self, mailhop, helper):
        self.helper = helper
        self.dir = tempfile.mkdtemp(prefix="mailhop-bench-")
        os.chmod(self.dir, 0o755)
        self.env = dict(os.environ,
                        XDG_STATE_HOME=os.path.join(self.dir, "state"),
                        LC_ALL="C")
        self.h = Harness(message_size_limit=60 * MIB)
        self.mailhop_path = mailhop
        self.rows = []
        self.details = []

    def start(self):
        note("starting Postfix, Dovecot, rsyslogd and the CA "
             "(tests/harness.py) in a private network namespace")
        self.h.start()
        if self.h.private_devlog:
            sh("mount", "--bind", self.h.syslog_socket, "/dev/log")
        for addr in RCPT.values():
            self.h.add_mailbox(addr)
        self.mh = Mailhop(self, self.mailhop_path)
        self.ms = Msmtp(self)
        self.clients = (self.mh, self.ms)
        self.msgs = {}
        for c in self.clients:
            self.msgs[c.name, "small"] = write_message(
                os.path.join(self.dir, c.name + "-small.eml"), c.name, 300,
                1)
            self.msgs[c.name, "1 MiB"] = write_message(
                os.path.join(self.dir, c.name + "-1m.eml"), c.name, MIB, 2)
            self.msgs[c.name, "50 MiB"] = write_message(
                os.path.join(self.dir, c.name + "-50m.eml"), c.name,
                50 * MIB, 3)

    def stop(self):
        self.h.stop()
        if os.environ.get("BENCH_KEEP"):
            note("kept " + self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)

    def row(self, figure, unit, mh, ms, target, met, fmt="%.1f"):
        self.rows.append((figure, unit, mh, ms, target, met, fmt))

    def times(self, mode, n, confs=None):
        """Alternate n sends of each client; the seconds each took.
        confs: a config of each client's for another server."""
        times = {c.name: [] for c in self.clients}
        for _ in range(n):
            for c in self.clients:
                times[c.name].append(
                    c.send(mode, self.msgs[c.name, "small"],
                           conf=confs and confs[c.name]))
        return times

    def medians(self, mode, n, confs=None):
        return {k: statistics.median(v)
                for k, v in self.times(mode, n, confs).items()}

    # figure 1
    def wall(self):
        n = int(os.environ.get("BENCH_SENDS", "50"))
        note("1/5 wall time: %d small messages each, STARTTLS + PLAIN" % n)
        self.medians(MODES[0][0], 2)  # warm caches and Postfix's smtpd
        t = self.times(MODES[0][0], n)
        m = {k: statistics.median(v) for k, v in t.items()}
        self.row("wall time per small message (median of %d)" % n, "ms",
                 m["mailhop"] * 1000, m["msmtp"] * 1000, "-", None)
        self.details.append(
            "wall time: mailhop %s ms, msmtp %s ms (min / median / max)" % (
                " / ".join("%.1f" % (x * 1000) for x in (
                    min(t["mailhop"]), m["mailhop"], max(t["mailhop"]))),
                " / ".join("%.1f" % (x * 1000) for x in (
                    min(t["msmtp"]), m["msmtp"], max(t["msmtp"])))))

    # figure 2
    def round_trips(self):
        n = int(os.environ.get("BENCH_RTT_SENDS", "15"))
        note("2/5 round trips: %d sends each at 0 and %d ms, 3 modes"
             % (n, DELAY_MS))
        port = self.h.ports["submission"]
        base = connect_ms(port)
        with Delay(self.helper, port, DELAY_MS):
            held = connect_ms(port)
        self.details.append(
            "delay check: TCP connect to the server %.2f ms plain, %.2f ms "
            "with every client packet held %d ms" % (base, held, DELAY_MS))
        if not DELAY_MS * 0.9 < held - base < DELAY_MS * 1.5:
            raise BenchError(self.details[-1] + ": the hold does not work")
        for label, tls, auth in MODES:
            rt = self.postfix_round_trips(label, tls, auth, n)
            # Postfix's session ticket holds its next reply one round
            # trip, for any client (see POSTFIX_WAIT); the fault-server
            # rows show the floor without it.
            self.rt_row("round trips, " + label, label, rt, 1,
                        "floor+1 (server)")
        self.details.append(POSTFIX_WAIT)

    def postfix_round_trips(self, label, tls, auth, n):
        """Round trips of each client against Postfix in one mode."""
        med = {}
        for ms in (0, DELAY_MS):
            with Delay(self.helper, self.h.port_for(tls), ms):
                self.medians(label, 1)
                med[ms] = self.medians(label, n)
        self.details.append(
            "%s: median %.1f / %.1f ms (mailhop), %.1f / %.1f ms "
            "(msmtp) at 0 / %d ms" % (
                label, med[0]["mailhop"] * 1000,
                med[DELAY_MS]["mailhop"] * 1000, med[0]["msmtp"] * 1000,
                med[DELAY_MS]["msmtp"] * 1000, DELAY_MS))
        self.check_login(label, auth)
        return {k: (med[DELAY_MS][k] - med[0][k]) * 1000 / DELAY_MS
                for k in med[0]}

    def rt_row(self, figure, label, rt, extra, why):
        """A round-trip row: mailhop is met at the issue's floor plus
        extra (the server's own wait, why).  Either client below the
        floor means the hold did not apply: no count can be trusted."""
        floor = FLOOR[label]
        for k, v in sorted(rt.items()):
            if v < floor - 0.5:
                raise BenchError("%s: %s took %.1f round trips, fewer than "
                                 "the protocol's %d: the %d ms hold did "
                                 "not apply" % (figure, k, v, floor,
                                                DELAY_MS))
        target = "%d (floor)" % floor
        if extra:
            target = "%d, %s" % (floor, why)
        self.row(figure, "RTT", rt["mailhop"], rt["msmtp"], target,
                 rt["mailhop"] < floor + extra + 0.5)

    def round_trips_reference(self):
        """The same count against a server that adds no wait of its own
        (tests/faultserver.py: TCP_NODELAY, so nothing it writes waits
        for an ACK of ours).  Postfix leaves Nagle on and writes its TLS
        1.3 session ticket and then its next reply: the reply waits for
        the client's ACK of the ticket, one round trip that no client can
        save.  Here the floor shows without it."""
        n = int(os.environ.get("BENCH_RTT_SENDS", "15"))
        note("2/5 round trips: the same against the fault server")
        h = self.h
        for label, tls, auth in MODES:
            srv = FaultServer(Scenario(
                tls=tls, ehlo=["PIPELINING", "STARTTLS"],
                ehlo_tls=["PIPELINING", "CHUNKING", "8BITMIME",
                          "AUTH PLAIN SCRAM-SHA-256"],
                user="alice", password=h.users["alice"]),
                default_cert=(h.path("pki", "server.pem"),
                              h.path("pki", "server-key.pem")),
                lifetime=600).start()
            try:
                confs = {c.name: c.write_config(
                    "%s-fault-%s-%s" % (c.name, tls, auth), tls, auth,
                    srv.port) for c in self.clients}
                med = {}
                for ms in (0, DELAY_MS):
                    with Delay(self.helper, srv.port, ms):
                        self.medians(label, 1, confs)
                        med[ms] = self.medians(label, n, confs)
                srv.wait_idle(10, connections=srv.connections)
                got = sum(len(x.messages) for x in srv.sessions)
                mechs = {x.auth[0][0] for x in srv.sessions if x.auth}
            finally:
                srv.stop()
            if got != 4 * (n + 1) or mechs != {auth.upper()}:
                raise BenchError("%s: the fault server took %d messages "
                                 "(of %d), logins %s" % (
                                     label, got, 4 * (n + 1), mechs))
            rt = {k: (med[DELAY_MS][k] - med[0][k]) * 1000 / DELAY_MS
                  for k in med[0]}
            self.rt_row("round trips, %s, fault server" % label, label, rt,
                        0, None)

    def check_login(self, label, auth):
        """Both clients logged in as alice with auth's mechanism, as
        Postfix logged it for the newest message each delivered."""
        seen = []
        for c in self.clients:
            self.wait_delivered(c, 60)
            d = self.h.maildir(RCPT[c.name])
            files = [os.path.join(d, sub, f) for sub in ("new", "cur")
                     for f in os.listdir(os.path.join(d, sub))]
            with open(max(files, key=os.path.getmtime), "rb") as f:
                mech, user = self.h.smtpd_sasl_method(f.read(4096))
            if (mech or "").upper() != auth.upper() or user != "alice":
                raise BenchError("%s: Postfix saw %s log in with %s as %s, "
                                 "not %s as alice" % (label, c.name, mech,
                                                      user, auth))
            seen.append("%s %s" % (c.name, mech))
        self.details.append("%s: Postfix logged %s" % (label,
                                                       ", ".join(seen)))

    def wait_delivered(self, c, timeout):
        """Wait until c's mailbox holds every message c sent."""
        end = time.monotonic() + timeout
        while self.count_mail(RCPT[c.name]) < c.sent:
            if time.monotonic() > end:
                raise BenchError(
                    "the server's mailbox for %s holds %d messages; %s "
                    "sent %d" % (c.name, self.count_mail(RCPT[c.name]),
                                 c.name, c.sent))
            time.sleep(0.2)

    # figure 3
    def instructions(self):
        note("3/5 instructions: one send each under callgrind")
        ir, loader, kx = {}, {}, {}
        for c in self.clients:
            out = os.path.join(self.dir, "callgrind." + c.name)
            c.send(MODES[0][0], self.msgs[c.name, "small"],
                   ["valgrind", "--tool=callgrind", "--quiet",
                    "--callgrind-out-file=" + out])
            with open(out) as f:
                text = f.read()
            m = re.search(r"^totals: (\d+)", text, re.M)
            if m is None:
                raise BenchError("no totals line in " + out)
            ir[c.name] = int(m.group(1)) / 1e6
            loader[c.name] = self_cost(text, "/ld-linux") / 1e6
            kx[c.name] = self.key_exchange(c)
        self.row("CPU instructions per small message", "M Ir",
                 ir["mailhop"], ir["msmtp"], "<= 0.70x msmtp",
                 ir["mailhop"] <= 0.7 * ir["msmtp"], "%.2f")
        # Where the difference is: loading and linking the libraries
        # (msmtp maps libsecret, GLib and more on every send) and the
        # key exchange group; the rest is TLS and the dialogue.
        self.details.append(
            "instructions: in the dynamic loader mailhop %.2f M, msmtp "
            "%.2f M; the rest mailhop %.2f M, msmtp %.2f M (%.2f); key "
            "exchange mailhop %s, msmtp %s (Postfix's Received field)"
            % (loader["mailhop"], loader["msmtp"],
               ir["mailhop"] - loader["mailhop"],
               ir["msmtp"] - loader["msmtp"],
               (ir["mailhop"] - loader["mailhop"])
               / (ir["msmtp"] - loader["msmtp"]), kx["mailhop"],
               kx["msmtp"]))

    def key_exchange(self, c):
        """The key exchange group of c's newest delivered message, as
        Postfix wrote it in the Received field."""
        self.wait_delivered(c, 60)
        d = self.h.maildir(RCPT[c.name])
        files = [os.path.join(d, sub, f) for sub in ("new", "cur")
                 for f in os.listdir(os.path.join(d, sub))]
        with open(max(files, key=os.path.getmtime), "rb") as f:
            head = f.read(4096).decode("latin-1")
        m = re.search(r"key-exchange (\S+)", head)
        return m.group(1) if m else "?"

    # figure 4
    def memory(self):
        note("4/5 peak memory: small, 1 MiB and 50 MiB messages")
        rss = {}
        out = os.path.join(self.dir, "time.out")
        for size in ("small", "1 MiB", "50 MiB"):
            for c in self.clients:
                c.send(MODES[0][0], self.msgs[c.name, size],
                       ["/usr/bin/time", "-f", "%M", "-o", out])
                with open(out) as f:
                    rss[c.name, size] = int(f.read().split()[-1]) / 1024
        flat = rss["mailhop", "50 MiB"] - rss["mailhop", "small"] < 1.0
        for size in ("small", "1 MiB", "50 MiB"):
            self.row("peak RSS, %s message" % size, "MiB",
                     rss["mailhop", size], rss["msmtp", size],
                     "flat, <= msmtp",
                     flat and rss["mailhop", size] <= rss["msmtp", size])

    # figure 5
    def flush(self):
        n = int(os.environ.get("BENCH_FLUSH", "1000"))
        mode = MODES[0][0]
        port = self.h.ports["submission"]
        qenv = dict(self.env, MSMTP=MSMTP,
                    MSMTPQ_Q=os.path.join(self.dir, "msmtpq"),
                    MSMTPQ_LOG=os.path.join(self.dir, "msmtpq.log"),
                    EMAIL_CONN_TEST="x", EMAIL_QUEUE_QUIET="1",
                    XDG_STATE_HOME=os.path.join(self.dir, "flush-state"))
        qdir = os.path.join(qenv["XDG_STATE_HOME"], "mailhop", "queue")
        note("5/5 flush: queueing %d messages each (server port refused)"
             % n)
        reject = ["OUTPUT", "-o", "lo", "-p", "tcp", "--dport", str(port),
                  "-j", "REJECT", "--reject-with", "tcp-reset"]
        sh("iptables", "-I", *reject)
        try:
            for _ in range(n):
                self.queue_one(self.mh.argv(mode), "mailhop", qenv)
                self.queue_one([MSMTPQ] + self.ms.argv(mode)[1:], "msmtp",
                               qenv)
        finally:
            sh("iptables", "-D", *reject)
        queued = {"mailhop": self.make_due(qdir),
                  "msmtp": len(self.msmtpq_files(qenv))}
        for k, v in queued.items():
            if v != n:
                raise BenchError("%s queued %d messages, not %d" % (k, v, n))
        note("5/5 flush: mailhop -q, then msmtpq --q-mgmt -r")
        t = {}
        for name, argv in (
                ("mailhop", [self.mh.path, "-C", self.mh.confs[mode], "-q"]),
                ("msmtp", [MSMTPQ, "--q-mgmt", "-r"])):
            dt, rc, err = self.mh.run(argv, "/dev/null", qenv)
            if rc != 0:
                raise BenchError("%s flush exited %d:\n%s" % (name, rc, err))
            t[name] = dt
        left = {"mailhop": len(os.listdir(os.path.join(qdir, "msg"))),
                "msmtp": len(self.msmtpq_files(qenv))}
        for k, v in left.items():
            if v:
                raise BenchError("%d messages left in %s's queue" % (v, k))
        self.mh.sent += n
        self.ms.sent += n
        self.row("flush %d queued messages" % n, "s", t["mailhop"],
                 t["msmtp"], ">= 10x faster (<= 0.10x)",
                 t["mailhop"] * 10 <= t["msmtp"])

    def queue_one(self, argv, who, env):
        _, rc, err = self.mh.run(argv, self.msgs[who, "small"], env)
        if rc != 0:
            raise BenchError("%s exited %d queueing:\n%s" % (who, rc, err))

    @staticmethod
    def msmtpq_files(env):
        return [f for f in os.listdir(env["MSMTPQ_Q"]) if f.endswith(".mail")]

    @staticmethod
    def make_due(qdir):
        """Stand in for mailhop's five minutes to the first retry: set
        each envelope's next-try (queue.c's format) to 0."""
        ids = os.listdir(os.path.join(qdir, "msg"))
        for i in ids:
            p = os.path.join(qdir, "msg", i, "env")
            with open(p) as f:
                lines = ["next-try 0" if ln.startswith("next-try ") else ln
                         for ln in f.read().splitlines()]
            with open(p, "w") as f:
                f.write("\n".join(lines) + "\n")
        return len(ids)

    def check_delivered(self):
        """Every message each client counted arrived in its mailbox."""
        for c in self.clients:
            self.wait_delivered(c, 300)
        self.details.append(
            "delivered by Postfix: mailhop %d of %d, msmtp %d of %d" % (
                self.count_mail(RCPT["mailhop"]), self.mh.sent,
                self.count_mail(RCPT["msmtp"]), self.ms.sent))

    def count_mail(self, rcpt):
        d = self.h.maildir(rcpt)
        n = 0
        for sub in ("new", "cur"):
            try:
                n += len(os.listdir(os.path.join(d, sub)))
            except FileNotFoundError:
                pass
        return n

    def versions(self):
        try:
            rev = subprocess.run(
                ["git", "-C", os.path.dirname(HERE), "log", "-1",
                 "--format=%h %cs"], capture_output=True,
                text=True).stdout.strip()
        except OSError:
            rev = ""
        ms = sh(MSMTP, "--version").splitlines()[0]
        return "mailhop %s; %s" % (rev or "(no git)", ms)


def self_cost(text, obj):
    """The instructions a callgrind output counts in objects whose name
    holds obj (their own cost, not what they call)."""
    names, cur, total, skip = {}, None, 0, False
    for ln in text.splitlines():
        if ln.startswith(("ob=", "cob=")):
            m = re.match(r"c?ob=\((\d+)\)(?: (.*))?$", ln)
            if m and m.group(2):
                names[m.group(1)] = m.group(2)
            if ln.startswith("ob=") and m:
                cur = names.get(m.group(1), "")
        elif ln.startswith("calls="):
            skip = True
        elif ln[:1].isdigit() or ln[:1] in "+-*":
            parts = ln.split()
            if len(parts) >= 2 and not skip and obj in (cur or ""):
                total += int(parts[1])
            skip = False
    return total


def table(b):
    head = ("figure", "unit", "mailhop", "msmtp", "ratio", "target", "met")
    rows = []
    for figure, unit, mh, ms, target, met, fmt in b.rows:
        rows.append((figure, unit, fmt % mh, fmt % ms,
                     "%.2f" % (mh / ms) if ms else "-", target,
                     "-" if met is None else ("yes" if met else "NO")))
    w = [max(len(r[i]) for r in rows + [head]) for i in range(len(head))]
    right = (2, 3, 4)
    out = []
    for r in [head] + rows:
        out.append("  ".join(
            r[i].rjust(w[i]) if i in right else r[i].ljust(w[i])
            for i in range(len(r))).rstrip())
        if r is head:
            out.append("  ".join("-" * x for x in w))
    return "\n".join(out)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: bench.py MAILHOP DELAY_HELPER")
    if os.geteuid() != 0:
        sys.exit("bench: needs root (Postfix, Dovecot, namespaces, "
                 "iptables)")
    # Another test run's servers hold /dev/log until they stop: wait
    # for them rather than give up after the harness's two seconds.
    os.environ.setdefault("MAILHOP_DEVLOG_WAIT", "900")
    try:
        check_tools(sys.argv[1:])
    except BenchError as e:
        sys.exit("bench: %s" % e)
    enter_namespaces()
    b = Bench(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    try:
        b.start()
        b.wall()
        b.round_trips()
        b.round_trips_reference()
        b.instructions()
        b.memory()
        b.flush()
        b.check_delivered()
        versions = b.versions()
    except BenchError as e:
        sys.exit("bench: %s" % e)
    finally:
        b.stop()
    print()
    print("mailhop vs msmtp (%s)" % versions)
    print("one loopback Postfix + Dovecot, STARTTLS + PLAIN unless named; "
          "ratio = mailhop / msmtp")
    print()
    print(table(b))
    print()
    for d in b.details:
        print(d)
    print("run time %.0f s" % (time.monotonic() - STARTED))


if __name__ == "__main__":
    main()
