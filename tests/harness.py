# SPDX-License-Identifier: ISC
"""Throwaway mail servers on loopback for mailhop's integration tests.

Harness().start() builds everything under one temporary directory (`base`)
and starts, on 127.0.0.1 and on ephemeral ports only:

  pki/       a test CA, a server certificate for "localhost" and 127.0.0.1
             (certtool templates), and a second CA that signed nothing
             (for "wrong CA" tests);
  dovecot/   Dovecot used only as the SASL authority (protocols = none):
             a passwd-file passdb with {PLAIN} passwords, so PLAIN, LOGIN,
             SCRAM-SHA-1 and SCRAM-SHA-256 all work; its auth socket is
             what Postfix's smtpd talks to (smtpd_sasl_type = dovecot);
  postfix/   a private Postfix instance (`postfix -c postfix/etc start`)
             with its own queue and data directories, chroot off, logging
             to postfix/maillog, and three smtpd listeners:
               submission  STARTTLS offered, AUTH only after it, relaying
                           needs AUTH;
               smtps       implicit TLS (wrapper mode), relaying needs AUTH;
               plain       no TLS, no AUTH, relaying allowed from 127/8;
               wrongname   like submission, on 127.0.0.2, which the
                           certificate does not name;
               big         like submission, with message_size_limit
                           100 MB (its own cleanup service, bigcleanup):
                           for large messages; the others keep
                           Postfix's default of 10240000.
             Every recipient domain is a virtual mailbox domain: a message
             for user@domain lands in the Maildir mail/domain/user/ (owned
             by nobody).  The address must be registered with
             add_mailbox() first: virtual(8) takes mailbox paths only from
             plain tables (no $n from regexp, no socketmap), so each
             address is a line in a texthash map that only virtual reads,
             with max_use=1 so every delivery sees the current map.  Mail
             for other addresses bounces as unknown.  Nothing goes out; no
             DNS.  rcpt_access makes reject@example.org fail with 5xx and
             tempfail@example.org with 4xx at RCPT time.  Postfix adds no
             headers but its trace fields (local_header_rewrite_clients is
             empty) and refuses bare LF in DATA;
  rsyslog/   rsyslogd with a config of its own, writing facility mail
             (only) to rsyslog/mail.log, and its own messages to
             rsyslog/rsyslogd.log rather than to the system log.  mailhop
             logs with glibc's syslog(3), which always sends to /dev/log,
             so where rsyslogd listens depends on who holds /dev/log
             (attributes syslog_socket and private_devlog):
               direct   /dev/log is absent (or a dead socket), as on CI:
                        rsyslogd listens on /dev/log itself, and stop()
                        removes it if it is still that socket;
               private  /dev/log is live, as with systemd (journald owns
                        it): rsyslogd listens on rsyslog/dev-log, and
                        every program whose log lines the tests read runs
                        in a mount namespace of its own, where that socket
                        is bind-mounted over /dev/log (command(), popen()).
                        The machine's /dev/log is neither touched nor
                        written to, but must stay in place (the mount
                        point) while the harness runs.
             A harness in direct mode holds the lock file DEVLOG_LOCK from
             before it looks at /dev/log until it has removed it again.
             A harness that finds the lock taken waits MAILHOP_DEVLOG_WAIT
             seconds (default: DEVLOG_GRACE) for it, then gives up.

Run mailhop, and anything else whose syslog lines a test reads, with
popen(argv, ...) or command(argv, env): in private mode argv is prefixed
with `unshare --mount` and a `sh -c` that bind-mounts the socket and execs
argv, so the pid, environment, stdin, stdout, stderr and exit status are
argv's own; in direct mode argv runs as is.

postfix_stop() and postfix_start() stop and start Postfix alone (its
queue and the Maildirs stay), for the server-down tests of the queue.

Two more ports are held for the harness's lifetime: "closed" refuses
connections, "silent" accepts them and never says a word.  Helpers read
Maildirs, wait for delivery or for the queue to drain, read syslog lines,
and write mailhop config files.  stop() ends every server and removes base
(kept with MAILHOP_KEEP_TMP=1).  Used by tests/integration/conftest.py (one
instance per test session) and by tests/demo.py.  Needs root (Postfix,
Dovecot, /dev/log, mount namespaces).
"""

import contextlib
import fcntl
import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
import time

DEV_LOG = "/dev/log"
# Held by a harness whose rsyslogd listens on /dev/log (direct mode), from
# before it looks at /dev/log until it has removed it again.  The same path
# for every harness on the machine, whatever its TMPDIR.
DEVLOG_LOCK = os.path.join(
    "/run/lock" if os.path.isdir("/run/lock") else "/tmp",
    "mailhop-test-devlog.lock")
# How long a harness that finds DEVLOG_LOCK taken waits at least: a harness
# that goes private holds it only while it looks at /dev/log.
DEVLOG_GRACE = 2.0

USERS = {
    "alice": "alice-Pa55word",
    # Spaces, both quotes, '#' and non-ASCII letters: checks every layer
    # of quoting (passwd-file, libconfuse, SASL).  No ':', which is the
    # passwd-file field separator and cannot be escaped there.
    "bob": "s3cr et \"q\" 'x' #Grüße-é",
}

# A second address of the submission service: the certificate does not
# name it, so a client must refuse it ("wrongname" port).
WRONGNAME_ADDR = "127.0.0.2"
# message_size_limit of the "big" listener (the others keep the default).
BIG_SIZE_LIMIT = 100 * 1024 * 1024

# Postfix adds these at the top of each delivered message.
TRACE_HEADERS = ("return-path", "x-original-to", "delivered-to")


class HarnessError(Exception):
    pass


def _free_port(addr="127.0.0.1"):
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((addr, 0))
        return s.getsockname()[1]


def _run(argv, **kw):
    r = subprocess.run(argv, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise HarnessError("%s failed (%d):\n%s%s" % (
            " ".join(argv), r.returncode, r.stdout, r.stderr))
    return r


def _run_to_file(argv, logfile):
    """Run a command that leaves a daemon behind: its output goes to a
    file, since a daemon holding a pipe open would block us forever."""
    with open(logfile, "a") as out:
        r = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT,
                           stdin=subprocess.DEVNULL)
    if r.returncode != 0:
        with open(logfile, errors="replace") as f:
            raise HarnessError("%s failed (%d):\n%s" % (
                " ".join(argv), r.returncode, f.read()[-3000:]))


def _alive(pid):
    """pid runs and is not a zombie (a daemon's parent may be an init
    that never reaps)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _listening(path):
    """Some process receives datagrams on the Unix socket at path."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        s.connect(path)
        return True
    except OSError:
        return False
    finally:
        s.close()


def _same_file(path, ident):
    """path (not followed) is the file whose (st_dev, st_ino) is ident."""
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == ident


def _write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)
    return path


def _wait(pred, timeout, what, interval=0.02):
    end = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > end:
            raise HarnessError("timed out after %ss waiting for %s"
                               % (timeout, what))
        time.sleep(interval)


def conf_quote(s):
    """A libconfuse double-quoted string for s."""
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def split_trace(raw):
    """Split a delivered message (bytes) into (trace, rest).

    trace maps return-path, x-original-to and delivered-to to their values
    and received to the Received field Postfix added (unfolded); rest is
    the message after those, as the sender handed it over.  Only the
    leading fields Postfix prepends are taken: a Received or Return-Path
    that came with the message stays in rest.
    """
    trace = {}
    lines = raw.split(b"\n")
    i = 0
    while i < len(lines):
        name = lines[i].split(b":", 1)[0].decode("ascii", "replace").lower()
        if name in TRACE_HEADERS and name not in trace:
            trace[name] = lines[i].split(b":", 1)[1].strip().decode()
            i += 1
            continue
        if name == "received" and "received" not in trace:
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                j += 1
            trace["received"] = b" ".join(
                x.strip() for x in lines[i:j]).decode("utf-8", "replace")
            i = j
            break
        break
    return trace, b"\n".join(lines[i:])


def _mailbox_path(addr):
    """The Maildir (relative to virtual_mailbox_base) for an address:
    "user@domain" -> "domain/user/"."""
    local, at, domain = addr.lower().rpartition("@")
    for part in (local, domain):
        if (not part or part.startswith(".") or "/" in part
                or any(c.isspace() or c == "\0" for c in part)):
            raise ValueError("unusable test address %r" % addr)
    return "%s/%s/" % (domain, local)


class Harness:
    def __init__(self, base=None, keep=False, message_size_limit=None):
        self.keep = keep or bool(os.environ.get("MAILHOP_KEEP_TMP"))
        # Under /tmp by default: every directory above base must be
        # searchable by the postfix and nobody users, which a private
        # TMPDIR (say, under /root) is not.
        self.base = base or tempfile.mkdtemp(
            prefix="mailhop-test-",
            dir=os.environ.get("MAILHOP_TEST_TMPDIR", "/tmp"))
        # Postfix daemons (user postfix) and delivery (user nobody) must
        # be able to reach their directories below base.
        os.chmod(self.base, 0o755)
        self.ports = {}
        self.procs = {}
        self._held = []  # sockets for the "closed" and "silent" ports
        self._started = []
        # Where our rsyslogd listens; see the header (direct or private).
        self.syslog_socket = None
        self.private_devlog = False
        self._devlog_lock = None  # fd holding DEVLOG_LOCK (direct mode)
        self._dev_log_ident = None  # (st_dev, st_ino) of our /dev/log
        self._unshare = self._mount = None
        self.pki = self.path("pki")
        self.ca_file = self.path("pki", "ca.pem")
        self.other_ca_file = self.path("pki", "other-ca.pem")
        self.maildir_base = self.path("mail")
        self.maillog = self.path("postfix", "maillog")
        self.syslog_file = self.path("rsyslog", "mail.log")
        self.pf_etc = self.path("postfix", "etc")
        self.pf_queue = self.path("postfix", "queue")
        self.vmailbox = self.path("postfix", "etc", "vmailbox")
        self.mailboxes = {}
        self.users = dict(USERS)
        self._nconf = 0
        # Postfix's limit in bytes (make bench sends 50 MB); None keeps
        # Postfix's default (10240000).
        self.message_size_limit = message_size_limit

    def path(self, *parts):
        return os.path.join(self.base, *parts)

    # ------------------------------------------------------------ start

    def start(self):
        # Postfix and Dovecot read their files as their own users.
        umask = os.umask(0o022)
        try:
            return self._start()
        finally:
            os.umask(umask)

    def _start(self):
        try:
            self._choose_syslog_socket()
            for p in ("submission", "smtps", "plain", "big"):
                self.ports[p] = _free_port()
            self.ports["wrongname"] = _free_port(WRONGNAME_ADDR)
            self._hold_ports()
            self._make_pki()
            self._start_rsyslog()
            self._start_dovecot()
            self._start_postfix()
            for name in ("submission", "smtps", "plain", "big"):
                self.wait_port(self.ports[name], name,
                               tls=(name == "smtps"))
            self.wait_port(self.ports["wrongname"], "wrongname",
                           addr=WRONGNAME_ADDR)
        except BaseException:
            self.stop()
            raise
        return self

    def _choose_syslog_socket(self):
        """Direct or private mode (see the header).  Direct mode keeps
        DEVLOG_LOCK until stop()."""
        fd = os.open(DEVLOG_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
                     0o644)
        # Taken: another harness's rsyslogd listens on /dev/log, or soon
        # will, or it is looking at /dev/log just now.
        wait = max(float(os.environ.get("MAILHOP_DEVLOG_WAIT", "0")),
                   DEVLOG_GRACE)
        end = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= end:
                    os.close(fd)
                    raise HarnessError(
                        "another test run's rsyslogd listens on %s (that "
                        "run holds %s); let it finish, or set "
                        "MAILHOP_DEVLOG_WAIT=SECONDS to wait for it"
                        % (DEV_LOG, DEVLOG_LOCK))
                time.sleep(0.1)
        try:
            if _listening(DEV_LOG):
                # The machine's syslog daemon (journald, say): leave it
                # alone and give ours a socket of its own.
                self._setup_private()
                os.close(fd)
                return
            if os.path.lexists(DEV_LOG):
                if not stat.S_ISSOCK(os.lstat(DEV_LOG).st_mode):
                    raise HarnessError(
                        "%s exists but is not a socket anyone listens on "
                        "(a symlink to a stopped daemon's socket?); the "
                        "tests neither replace it nor mount over it. Start "
                        "the daemon it belongs to, or remove it."
                        % DEV_LOG)
                os.unlink(DEV_LOG)  # a stale socket from a dead daemon
        except BaseException:
            os.close(fd)
            raise
        self.syslog_socket = DEV_LOG
        self.private_devlog = False
        self._devlog_lock = fd

    def _setup_private(self):
        self.private_devlog = True
        self.syslog_socket = self.path("rsyslog", "dev-log")
        if len(os.fsencode(self.syslog_socket)) > 107:
            raise HarnessError("socket path too long for AF_UNIX: %s "
                               "(set MAILHOP_TEST_TMPDIR to a shorter "
                               "directory)" % self.syslog_socket)
        self._unshare = shutil.which("unshare")
        self._mount = shutil.which("mount")
        if not (self._unshare and self._mount):
            raise HarnessError(
                "%s belongs to another syslog daemon, so the tests run "
                "mailhop in a mount namespace of its own, and need "
                "unshare(1) and mount(8) (util-linux, mount) for it"
                % DEV_LOG)

    def _hold_ports(self):
        # "closed": bound but never listening, so connections get RST
        # (ECONNREFUSED) and no other process can take the port.
        # "silent": listening but never accepting: the kernel completes
        # the handshake, and no greeting ever comes (for timeouts).
        for name in ("closed", "silent"):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            if name == "silent":
                s.listen(64)
            self._held.append(s)
            self.ports[name] = s.getsockname()[1]

    def _make_pki(self):
        os.makedirs(self.pki)
        d = self.pki

        def key(name):
            _run(["certtool", "--generate-privkey", "--key-type=ecdsa",
                  "--curve=secp256r1",
                  "--outfile",
                  os.path.join(d, name)])

        def ca(name, cn):
            key(name + "-key.pem")
            _write(os.path.join(d, name + ".tmpl"),
                   'cn = "%s"\norganization = "mailhop tests"\n'
                   "serial = 1\nexpiration_days = 30\nca\n"
                   "cert_signing_key\ncrl_signing_key\n" % cn)
            _run(["certtool", "--generate-self-signed",
                  "--load-privkey", os.path.join(d, name + "-key.pem"),
                  "--template", os.path.join(d, name + ".tmpl"),
                  "--outfile", os.path.join(d, name + ".pem")])

        ca("ca", "mailhop test CA")
        ca("other-ca", "mailhop unrelated CA")
        key("server-key.pem")
        _write(os.path.join(d, "server.tmpl"),
               'cn = "localhost"\ndns_name = "localhost"\n'
               'ip_address = "127.0.0.1"\nserial = 2\n'
               "expiration_days = 30\ntls_www_server\nsigning_key\n")
        _run(["certtool", "--generate-certificate",
              "--load-privkey", os.path.join(d, "server-key.pem"),
              "--load-ca-certificate", self.ca_file,
              "--load-ca-privkey", os.path.join(d, "ca-key.pem"),
              "--template", os.path.join(d, "server.tmpl"),
              "--outfile", os.path.join(d, "server.pem")])
        for f in os.listdir(d):
            if f.endswith("-key.pem"):
                os.chmod(os.path.join(d, f), 0o600)

    def _start_rsyslog(self):
        d = self.path("rsyslog")
        sock = self.syslog_socket
        os.makedirs(os.path.join(d, "work"))
        conf = _write(os.path.join(d, "rsyslog.conf"), f"""\
global(workDirectory="{d}/work" processInternalMessages="on")
module(load="imuxsock" SysSock.Use="on" SysSock.Name="{sock}"
       SysSock.RateLimit.Interval="0" SysSock.Unlink="off")
mail.* action(type="omfile" file="{self.syslog_file}"
       template="RSYSLOG_TraditionalFileFormat")
syslog.* action(type="omfile" file="{d}/rsyslogd.log")
""")
        out = open(os.path.join(d, "rsyslogd.out"), "w")
        self.procs["rsyslogd"] = subprocess.Popen(
            ["rsyslogd", "-n", "-f", conf,
             "-i", os.path.join(d, "rsyslogd.pid")],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        out.close()

        def live():
            if self.procs["rsyslogd"].poll() is not None:
                raise HarnessError("rsyslogd exited: " + open(
                    os.path.join(d, "rsyslogd.out")).read())
            return _listening(sock)
        _wait(live, 10, "rsyslogd to listen on " + sock)
        if not self.private_devlog:
            st = os.lstat(DEV_LOG)
            self._dev_log_ident = (st.st_dev, st.st_ino)
            return
        # Fail here, once, rather than in every test.
        r = subprocess.run(self.command(["true"]), capture_output=True,
                           text=True, stdin=subprocess.DEVNULL)
        if r.returncode != 0:
            raise HarnessError(
                "cannot run a program with %s mounted over %s in a mount "
                "namespace of its own (%s is another syslog daemon's; "
                "root needed):\n%s" % (sock, DEV_LOG, DEV_LOG, r.stderr))

    # ------------------------------------------------------------ running

    def command(self, argv, env=None):
        """The command line that runs argv, with environment env (None:
        ours), so that its syslog(3) lines reach our rsyslogd: argv
        itself in direct mode; in private mode

          unshare --mount --propagation private -- sh -c \\
              'mount --bind SOCKET /dev/log || exit 125; PWD; exec "$@"' \\
              harness-ns ARGV...

        where PWD puts back the PWD variable as env has it (sh sets it, or
        adds it).  unshare and sh exec, so the process is argv's own (same
        pid, environment, stdin, stdout, stderr, exit status), and the
        bind mount ends with it.  Exit status 125 (and mount's message on
        stderr): the mount failed and argv never ran."""
        argv = list(argv)
        if not self.private_devlog:
            return argv
        env = os.environ if env is None else env
        pwd = next((v for k, v in env.items() if k in ("PWD", b"PWD")),
                   None)
        if pwd is None:
            pwd = "unset PWD"
        else:
            pwd = "PWD=%s; export PWD" % shlex.quote(os.fsdecode(pwd))
        script = '%s --bind %s %s || exit 125; %s; exec "$@"' % (
            shlex.quote(self._mount), shlex.quote(self.syslog_socket),
            DEV_LOG, pwd)
        return [self._unshare, "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "harness-ns"] + argv

    def popen(self, argv, **kw):
        """subprocess.Popen(command(argv, env), **kw); the Popen's pid is
        argv's, as its syslog lines say."""
        return subprocess.Popen(self.command(argv, kw.get("env")), **kw)

    def _start_dovecot(self):
        d = self.path("dovecot")
        os.makedirs(os.path.join(d, "sock"))
        os.chmod(os.path.join(d, "sock"), 0o755)
        nobody = pwd.getpwnam("nobody")
        lines = ["%s:{PLAIN}%s::::::\n" % (u, p)
                 for u, p in self.users.items()]
        _write(os.path.join(d, "passwd"), "".join(lines), 0o640)
        # dovecot's auth process reads it as user dovecot
        os.chown(os.path.join(d, "passwd"), 0,
                 pwd.getpwnam("dovecot").pw_gid)
        self.dovecot_conf = _write(os.path.join(d, "dovecot.conf"), f"""\
# Dovecot only as the SASL authority for the test Postfix.
instance_name = mailhop-test-{os.getpid()}-{os.path.basename(self.base)}
base_dir = {d}/run
state_dir = {d}/state
protocols = none
listen = 127.0.0.1
log_path = {d}/dovecot.log
info_log_path = {d}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login scram-sha-1 scram-sha-256
auth_failure_delay = 0
auth_verbose = yes
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={nobody.pw_uid} gid={nobody.pw_gid} home=/nonexistent
}}
# No growing delays after failed logins: the tests fail logins on purpose.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service auth {{
  unix_listener {d}/sock/auth {{
    mode = 0660
    user = postfix
    group = postfix
  }}
}}
""")
        os.makedirs(os.path.join(d, "state"))
        _run_to_file(["dovecot", "-c", self.dovecot_conf],
                     os.path.join(d, "dovecot.out"))
        self._started.append("dovecot")
        _wait(lambda: os.path.exists(os.path.join(d, "sock", "auth")), 10,
              "dovecot's auth socket")

    def _postfix_main_cf(self):
        b = self.base
        nobody = pwd.getpwnam("nobody")
        return f"""\
# A private Postfix instance for mailhop's tests: loopback only, every
# domain delivered to a Maildir under {self.maildir_base}, nothing relayed.
compatibility_level = 3.6
config_directory = {self.pf_etc}
queue_directory = {self.pf_queue}
data_directory = {b}/postfix/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.mailhop.test
mydomain = mailhop.test
myorigin = $myhostname
mydestination =
relay_domains =
relayhost =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
maillog_file = {self.maillog}
maillog_file_prefixes = {b}
biff = no
alias_maps =
alias_database =
local_recipient_maps =
local_transport = error:5.1.1 local delivery is off in the test server
smtp_dns_support_level = disabled
smtpd_peername_lookup = no
in_flow_delay = 0
# Add no headers of our own to what clients send (Message-ID, Date,
# From are mailhop's job and the tests check it did them).
local_header_rewrite_clients =
virtual_mailbox_domains = static:all
virtual_mailbox_base = {self.maildir_base}
# virtual(8) alone reads the real map (see master.cf): a process that has a
# map open restarts when it changes, and its clients then stall for
# seconds; virtual runs with max_use=1 and reads the map afresh anyway.
virtual_mailbox_maps = static:unused/
smtpd_reject_unlisted_recipient = no
virtual_uid_maps = static:{nobody.pw_uid}
virtual_gid_maps = static:{nobody.pw_gid}
virtual_minimum_uid = 100
# A bare LF in the data is a client bug: refuse it, from loopback too.
smtpd_forbid_bare_newline = reject
smtpd_forbid_bare_newline_exclusions =
smtpd_tls_cert_file = {self.pki}/server.pem
smtpd_tls_key_file = {self.pki}/server-key.pem
smtpd_tls_security_level = may
smtpd_tls_received_header = yes
# Submission and smtps ask for a client certificate (tls_cert_file
# tests); its issuer goes in the Received header.
smtpd_tls_CAfile = {self.pki}/ca.pem
smtpd_tls_loglevel = 1
smtpd_sasl_type = dovecot
smtpd_sasl_path = {b}/dovecot/sock/auth
smtpd_sasl_auth_enable = no
smtpd_relay_restrictions = permit_mynetworks, permit_sasl_authenticated,
    reject
smtpd_recipient_restrictions =
    check_recipient_access texthash:{self.pf_etc}/rcpt_access
""" + self._size_limit_cf()

    def _size_limit_cf(self):
        if self.message_size_limit is None:
            return ""
        n = int(self.message_size_limit)
        # virtual(8) refuses a Maildir file over virtual_mailbox_limit,
        # which must not be below message_size_limit.
        return "message_size_limit = %d\nvirtual_mailbox_limit = %d\n" % (
            n, n)

    def _postfix_master_cf(self):
        p = self.ports
        auth = ("  -o smtpd_sasl_auth_enable=yes\n"
                "  -o smtpd_relay_restrictions="
                "permit_sasl_authenticated,reject\n")
        # service type private unpriv wakeup maxproc command (chroot: n)
        services = [
            ("pickup", "unix", "n", "-", "60", "1", "pickup"),
            ("cleanup", "unix", "n", "-", "-", "0", "cleanup"),
            ("qmgr", "unix", "n", "-", "300", "1", "qmgr"),
            ("tlsmgr", "unix", "-", "-", "1000?", "1", "tlsmgr"),
            ("rewrite", "unix", "-", "-", "-", "-", "trivial-rewrite"),
            ("bounce", "unix", "-", "-", "-", "0", "bounce"),
            ("defer", "unix", "-", "-", "-", "0", "bounce"),
            ("trace", "unix", "-", "-", "-", "0", "bounce"),
            ("verify", "unix", "-", "-", "-", "1", "verify"),
            ("flush", "unix", "n", "-", "1000?", "0", "flush"),
            ("proxymap", "unix", "-", "-", "-", "-", "proxymap"),
            ("proxywrite", "unix", "-", "-", "-", "1", "proxymap"),
            ("smtp", "unix", "-", "-", "-", "-", "smtp"),
            ("relay", "unix", "-", "-", "-", "-", "smtp"),
            ("showq", "unix", "n", "-", "-", "-", "showq"),
            ("error", "unix", "-", "-", "-", "-", "error"),
            ("retry", "unix", "-", "-", "-", "-", "error"),
            ("discard", "unix", "-", "-", "-", "-", "discard"),
            ("local", "unix", "-", "n", "-", "-", "local"),
            ("virtual", "unix", "-", "n", "-", "-",
             "virtual -o max_use=1 -o virtual_mailbox_limit=0"
             " -o virtual_mailbox_maps=texthash:" + self.vmailbox),
            ("lmtp", "unix", "-", "-", "-", "-", "lmtp"),
            ("anvil", "unix", "-", "-", "-", "1", "anvil"),
            ("scache", "unix", "-", "-", "-", "1", "scache"),
            ("postlog", "unix-dgram", "n", "-", "-", "1", "postlogd"),
        ]
        out = ["# Generated by tests/harness.py; chroot is off everywhere.\n"]
        out.append(f"127.0.0.1:{p['submission']} inet n - n - - smtpd\n"
                   "  -o syslog_name=postfix/submission\n"
                   "  -o smtpd_tls_ask_ccert=yes\n"
                   "  -o smtpd_tls_security_level=may\n"
                   "  -o smtpd_tls_auth_only=yes\n" + auth)
        out.append(f"{WRONGNAME_ADDR}:{p['wrongname']} inet n - n - - smtpd\n"
                   "  -o syslog_name=postfix/wrongname\n"
                   "  -o smtpd_tls_security_level=may\n"
                   "  -o smtpd_tls_auth_only=yes\n" + auth)
        out.append(f"127.0.0.1:{p['smtps']} inet n - n - - smtpd\n"
                   "  -o syslog_name=postfix/smtps\n"
                   "  -o smtpd_tls_ask_ccert=yes\n"
                   "  -o smtpd_tls_wrappermode=yes\n"
                   "  -o smtpd_tls_security_level=encrypt\n" + auth)
        out.append(f"127.0.0.1:{p['big']} inet n - n - - smtpd\n"
                   "  -o syslog_name=postfix/big\n"
                   "  -o smtpd_tls_security_level=may\n"
                   "  -o smtpd_tls_auth_only=yes\n"
                   f"  -o message_size_limit={BIG_SIZE_LIMIT}\n"
                   "  -o cleanup_service_name=bigcleanup\n" + auth)
        out.append("bigcleanup unix n - n - 0 cleanup\n"
                   f"  -o message_size_limit={BIG_SIZE_LIMIT}\n")
        out.append(f"127.0.0.1:{p['plain']} inet n - n - - smtpd\n"
                   "  -o syslog_name=postfix/plain\n"
                   "  -o smtpd_tls_security_level=none\n"
                   "  -o smtpd_sasl_auth_enable=no\n"
                   "  -o smtpd_relay_restrictions=permit_mynetworks,reject\n")
        for name, typ, priv, unpriv, wake, maxproc, cmd in services:
            out.append("%-10s %-10s %s %s n %s %s %s\n"
                       % (name, typ, priv, unpriv, wake, maxproc, cmd))
        return "".join(out)

    def _start_postfix(self):
        os.makedirs(self.pf_etc)
        os.makedirs(self.pf_queue)
        os.makedirs(self.path("postfix", "data"))
        pf = pwd.getpwnam("postfix")
        os.chown(self.path("postfix", "data"), pf.pw_uid, pf.pw_gid)
        nobody = pwd.getpwnam("nobody")
        os.makedirs(self.maildir_base)
        os.chown(self.maildir_base, nobody.pw_uid, nobody.pw_gid)
        _write(os.path.join(self.pf_etc, "main.cf"), self._postfix_main_cf())
        _write(os.path.join(self.pf_etc, "master.cf"),
               self._postfix_master_cf())
        _write(os.path.join(self.pf_etc, "rcpt_access"),
               "reject@example.org REJECT test server refuses this "
               "recipient\n"
               "tempfail@example.org 450 4.2.0 test server defers this "
               "recipient\n")
        open(self.maillog, "a").close()
        for u in self.users:
            self.add_mailbox(u + "@example.org")
        out = self.path("postfix", "postfix.out")
        _run_to_file(["postfix", "-c", self.pf_etc, "check"], out)
        _run_to_file(["postfix", "-c", self.pf_etc, "start"], out)
        self._started.append("postfix")

    # ------------------------------------------- stopping Postfix alone

    def _listeners(self):
        """(name, address, port) of every smtpd listener."""
        return [(n, WRONGNAME_ADDR if n == "wrongname" else "127.0.0.1",
                 self.ports[n])
                for n in ("submission", "smtps", "plain", "big",
                          "wrongname")]

    @staticmethod
    def _refuses(addr, port):
        """A connection to addr:port is refused (nobody listens)."""
        try:
            with socket.create_connection((addr, port), 1):
                return False
        except ConnectionRefusedError:
            return True
        except OSError:
            return False

    def postfix_running(self):
        pid = self._master_pid()
        return pid is not None and _alive(pid)

    def _master_pid(self):
        try:
            with open(os.path.join(self.pf_queue, "pid",
                                   "master.pid")) as f:
                return int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def postfix_stop(self, timeout=20):
        """Stop Postfix alone, in order, as an administrator would
        (`postfix -c ETC stop`: master ends its daemons, an smtpd in the
        middle of a session drops it), and wait until its master is gone
        and every listener refuses connections.  Its queue, the Maildirs,
        Dovecot and rsyslogd stay; postfix_start() brings it back with the
        same ports.  Mail Postfix accepted but had not delivered yet stays
        in its queue and is delivered after the start."""
        pid = self._master_pid()
        _run_to_file(["postfix", "-c", self.pf_etc, "stop"],
                     self.path("postfix", "postfix.out"))
        if pid is not None:
            _wait(lambda: not _alive(pid), timeout, "Postfix's master "
                  "(pid %d) to exit" % pid, 0.05)
        for name, addr, port in self._listeners():
            _wait(lambda: self._refuses(addr, port), timeout,
                  "the %s port %d to refuse connections" % (name, port),
                  0.05)

    def postfix_start(self, timeout=20):
        """Start Postfix again after postfix_stop() (same configuration,
        queue and ports) and wait until every listener greets."""
        _run_to_file(["postfix", "-c", self.pf_etc, "start"],
                     self.path("postfix", "postfix.out"))
        for name, addr, port in self._listeners():
            self.wait_port(port, name, tls=(name == "smtps"),
                           timeout=timeout, addr=addr)

    @contextlib.contextmanager
    def postfix_stopped(self):
        """with servers.postfix_stopped(): Postfix is down inside, up again
        after (even when the body fails, so later tests have a server)."""
        self.postfix_stop()
        try:
            yield self
        finally:
            if not self.postfix_running():
                self.postfix_start()

    def tls_context(self):
        ctx = ssl.create_default_context(cafile=self.ca_file)
        return ctx

    def wait_port(self, port, name="server", tls=False, timeout=20,
                  addr="127.0.0.1"):
        """Wait until port accepts a connection and sends an SMTP greeting
        (for implicit TLS, inside a verified TLS session)."""
        def ready():
            try:
                with socket.create_connection((addr, port), 1) as s:
                    s.settimeout(5)
                    if tls:
                        s = self.tls_context().wrap_socket(
                            s, server_hostname="localhost")
                    ok = s.recv(512).startswith(b"220")
                    s.sendall(b"QUIT\r\n")
                    s.recv(512)
                    return ok
            except OSError:
                return False
        try:
            _wait(ready, timeout, "%s on port %d" % (name, port), 0.05)
        except HarnessError as e:
            log = self.read_text(self.maillog)
            hint = ""
            if "Address already in use" in log:
                hint = ("\n(another process took port %d after the harness "
                        "picked it; run the tests again)" % port)
            raise HarnessError("%s%s\n--- postfix maillog:\n%s" % (
                e, hint, log[-3000:]))

    # ------------------------------------------------------------- stop

    def stop(self):
        """Stop every server we started and remove the temporary
        directory (kept when MAILHOP_KEEP_TMP is set).  Safe to call more
        than once and after a partial start."""
        if "postfix" in self._started:
            subprocess.run(["postfix", "-c", self.pf_etc, "stop"],
                           capture_output=True)
            self._wait_pidfile_gone(
                os.path.join(self.pf_queue, "pid", "master.pid"))
        if "dovecot" in self._started:
            subprocess.run(["dovecot", "-c", self.dovecot_conf, "stop"],
                           capture_output=True)
            self._wait_pidfile_gone(self.path("dovecot", "run",
                                              "master.pid"))
        self._started = []
        p = self.procs.pop("rsyslogd", None)
        if p is not None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # /dev/log is ours to remove only if it is still the socket our
        # rsyslogd made (which is why rsyslogd runs with SysSock.Unlink
        # off: it would remove whatever is there by then).  With
        # DEVLOG_LOCK held, no other harness has made one since.
        if (self._dev_log_ident is not None
                and _same_file(DEV_LOG, self._dev_log_ident)):
            os.unlink(DEV_LOG)
        self._dev_log_ident = None
        if self._devlog_lock is not None:
            os.close(self._devlog_lock)
            self._devlog_lock = None
        for s in self._held:
            s.close()
        self._held = []
        if not self.keep and os.path.isdir(self.base):
            shutil.rmtree(self.base, ignore_errors=True)
        elif self.keep:
            sys.stderr.write("harness: kept %s\n" % self.base)

    @staticmethod
    def _wait_pidfile_gone(pidfile, timeout=15):
        try:
            pid = int(open(pidfile).read().split()[0])
        except (OSError, ValueError, IndexError):
            return
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if not _alive(pid):
                return
            time.sleep(0.05)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ---------------------------------------------------------- reading

    @staticmethod
    def read_text(path):
        try:
            with open(path, encoding="utf-8", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def add_mailbox(self, addr):
        """Make Postfix deliver mail for addr into maildir(addr).  The map
        is replaced atomically, so a delivery never reads half of it."""
        self.mailboxes[addr.lower()] = _mailbox_path(addr)
        tmp = self.vmailbox + ".tmp"
        _write(tmp, "".join("%s %s\n" % kv
                            for kv in sorted(self.mailboxes.items())))
        # Postfix waits until a map file is a second or two old (it might
        # be half written); this one never is, since rename is atomic.
        old = time.time() - 60
        os.utime(tmp, (old, old))
        os.rename(tmp, self.vmailbox)
        return addr

    def maildir(self, rcpt):
        """The Maildir of recipient rcpt (lower-cased, as Postfix does)."""
        return os.path.join(self.maildir_base, _mailbox_path(rcpt))

    def maildir_messages(self, rcpt):
        """Raw bytes of every message delivered to rcpt, oldest first
        (Postfix's Maildir stores LF line ends)."""
        d = self.maildir(rcpt)
        files = []
        for sub in ("new", "cur"):
            try:
                files += [os.path.join(d, sub, f)
                          for f in os.listdir(os.path.join(d, sub))]
            except FileNotFoundError:
                pass
        files.sort(key=lambda f: (os.stat(f).st_mtime_ns, f))
        out = []
        for f in files:
            with open(f, "rb") as fh:
                out.append(fh.read())
        return out

    def wait_for_delivery(self, rcpt, count=1, timeout=20):
        """Wait until rcpt has at least count messages; return them all."""
        try:
            return _wait(lambda: (lambda m: m if len(m) >= count else None)(
                self.maildir_messages(rcpt)), timeout,
                "%d message(s) for %s" % (count, rcpt), 0.02)
        except HarnessError as e:
            raise HarnessError("%s\n--- postfix maillog (tail):\n%s" % (
                e, self.read_text(self.maillog)[-3000:]))

    def queue_files(self):
        """Queue files Postfix holds (not yet delivered or bounced)."""
        out = []
        for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
            for root, _, files in os.walk(os.path.join(self.pf_queue, sub)):
                out += [os.path.join(root, f) for f in files]
        return out

    def wait_queue_empty(self, timeout=20):
        """Wait until Postfix has delivered everything it accepted, so that
        "nothing arrived" is final: a message the server accepted is in the
        queue before its 250 reply, and leaves it only once delivered."""
        _wait(lambda: not self.queue_files(), timeout,
              "the Postfix queue to drain (%s)" % self.queue_files())

    def assert_nothing_delivered(self, *rcpts):
        self.wait_queue_empty()
        for r in rcpts:
            got = self.maildir_messages(r)
            assert not got, "%d message(s) arrived for %s:\n%r" % (
                len(got), r, got[0][:2000])

    def syslog_lines(self):
        """Lines rsyslogd wrote for facility mail, without line ends."""
        return self.read_text(self.syslog_file).splitlines()

    def wait_syslog(self, pattern, timeout=10):
        """The first syslog line matching regex pattern; waits for it."""
        rx = re.compile(pattern)
        try:
            return _wait(lambda: next((ln for ln in self.syslog_lines()
                                       if rx.search(ln)), None),
                         timeout, "a syslog line matching %r" % pattern)
        except HarnessError as e:
            raise HarnessError("%s\n--- %s:\n%s" % (
                e, self.syslog_file, "\n".join(self.syslog_lines()[-20:])))

    def mailhop_syslog_lines(self, pid, count, starting="", timeout=10):
        """The message parts of the lines mailhop[pid] logged that start
        with starting, once there are count of them (rsyslogd writes them
        a moment after mailhop sends them)."""
        tag = "mailhop[%d]: " % pid

        def mine():
            got = [ln.split(tag, 1)[1] for ln in self.syslog_lines()
                   if tag + starting in ln]
            return got if len(got) >= count else None
        try:
            return _wait(mine, timeout, "%d syslog lines of mailhop[%d]"
                         % (count, pid))
        except HarnessError as e:
            raise HarnessError("%s\n--- %s:\n%s" % (
                e, self.syslog_file, "\n".join(self.syslog_lines()[-20:])))

    def mailhop_syslog(self, pid, timeout=10):
        """The message part of the line mailhop[pid] logged."""
        line = self.wait_syslog(r"\bmailhop\[%d\]: " % pid, timeout)
        return line.split("mailhop[%d]: " % pid, 1)[1]

    def postfix_log(self, queue_id):
        """maillog lines about one Postfix queue id."""
        return [ln for ln in self.read_text(self.maillog).splitlines()
                if queue_id + ":" in ln]

    def smtpd_sasl_method(self, raw):
        """The SASL mechanism (and user) the server saw for a delivered
        message: ("SCRAM-SHA-256", "alice"), or (None, None)."""
        trace, _ = split_trace(raw)
        m = re.search(r"\bid ([0-9A-F]+)\b", trace.get("received", ""))
        if not m:
            return None, None
        for ln in self.postfix_log(m.group(1)):
            s = re.search(r"sasl_method=([^,\s]+), sasl_username=(\S+)", ln)
            if s:
                return s.group(1), s.group(2)
        return None, None

    # ---------------------------------------------------------- mailhop

    def port_for(self, tls):
        return {"starttls": self.ports["submission"],
                "implicit": self.ports["smtps"],
                "off": self.ports["plain"]}[tls]

    def write_config(self, user="alice", password=None, tls="starttls",
                     auth="on", host="localhost", port=None,
                     ca_file=True, from_addr=None, account="test",
                     timeout=10, extra=None, mode=0o600, name=None,
                     queue=False, allow_from=None):
        """Write a mailhop config with one account and return its path.

        password defaults to the user's; ca_file True means the test CA,
        None leaves tls_ca_file out, a string is used as is; port defaults
        to the listener for tls; user None leaves user and password out;
        from_addr defaults to USER@example.org (alice's without a user);
        extra is a dict of more keys (values written as given); queue
        False writes `queue = off` (a temporary failure exits 75 and
        nothing is kept, as the tests written before the queue expect),
        True leaves the key out (the default, on).  allow_from None
        leaves the key out, so that the account may send only as its
        from (mailhop.conf(5)); a string is one pattern ("*": any
        sender), a list is written in braces ([]: `allow_from = {}`)."""
        if port is None:
            port = self.port_for(tls)
        if ca_file is True:
            ca_file = self.ca_file
        if from_addr is None:
            # Without a login the account is still alice's, the From the
            # tests' messages carry (the default policy allows only it).
            from_addr = "%s@example.org" % (user or "alice")
        lines = ['default_account = %s' % conf_quote(account),
                 'account %s {' % account,
                 '\thost = %s' % conf_quote(host),
                 '\tport = %d' % port,
                 '\ttls = %s' % tls]
        if ca_file is not None:
            lines.append('\ttls_ca_file = %s' % conf_quote(ca_file))
        lines.append('\tauth = %s' % auth)
        if user is not None:
            if password is None:
                password = self.users[user]
            lines.append('\tuser = %s' % conf_quote(user))
            lines.append('\tpassword = %s' % conf_quote(password))
        lines.append('\tfrom = %s' % conf_quote(from_addr))
        lines.append('\ttimeout = %d' % timeout)
        if not queue:
            lines.append('\tqueue = off')
        if isinstance(allow_from, str):
            lines.append('\tallow_from = %s' % conf_quote(allow_from))
        elif allow_from is not None:
            lines.append('\tallow_from = {%s}' % ", ".join(
                conf_quote(a) for a in allow_from))
        for k, v in (extra or {}).items():
            lines.append('\t%s = %s' % (k, v))
        lines.append('}')
        d = self.path("mailhop")
        os.makedirs(d, exist_ok=True)
        self._nconf += 1
        p = os.path.join(d, name or "config-%d" % self._nconf)
        fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        os.chmod(p, mode)
        return p

