# SPDX-License-Identifier: ISC
"""keyring = on and mailhop --store-password against a real
gnome-keyring-daemon (the freedesktop Secret Service) in a
dbus-run-session of its own, with a fresh keyring in a private HOME that
is unlocked non-interactively.  Entries are made as msmtp's users make
them (secret-tool store ... host H service smtp user U), and the message
goes through the real Postfix and Dovecot as alice, with no password in
the file.  Also: the errors when there is no keyring, and that a send
without the keyring never loads libsecret or GLib."""

import base64
import fcntl
import grp
import os
import pty
import re
import select
import shutil
import subprocess
import termios
import time

import pytest

import harness
from conftest_fault import *  # noqa: F401,F403
from faultserver import Scenario, Sleep
from mailmodel import check_error_line

pytestmark = pytest.mark.skipif(
    not (shutil.which("gnome-keyring-daemon") and shutil.which("secret-tool")
         and shutil.which("dbus-run-session")),
    reason="needs gnome-keyring, libsecret-tools and dbus (make deps)")

KEYRING_PASSWORD = "unlock-the-test-keyring"
ALICE_PW = harness.USERS["alice"]
MESSAGE = (b"From: alice@example.org\nSubject: keyring test\n\n"
           b"sent with the password from the keyring\n")

# A session bus with no service files: no Secret Service can be started.
EMPTY_BUS_CONF = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=/tmp</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class Session:
    """dbus-run-session running `sh`, which (with keyring) unlocks a
    fresh gnome-keyring-daemon (without unlock: only starts it, so that
    it has no login collection), writes the bus address and waits for
    its stdin to close."""

    def __init__(self, base, keyring=True, unlock=True):
        self.base = base
        self.home = os.path.join(base, "home")
        run = os.path.join(base, "run")
        os.makedirs(self.home)
        os.makedirs(run, mode=0o700)
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
                    "HOME": self.home, "XDG_RUNTIME_DIR": run,
                    "XDG_DATA_HOME": os.path.join(self.home, "data"),
                    "XDG_CONFIG_HOME": os.path.join(self.home, "config"),
                    "LANG": "C.UTF-8"}
        addr = os.path.join(base, "bus")
        if not keyring:
            start = ""
        elif unlock:
            start = ('printf %s "$1" | gnome-keyring-daemon --unlock '
                     '--components=secrets >/dev/null || exit 1; ')
        else:
            start = ('gnome-keyring-daemon --start --components=secrets '
                     '>/dev/null || exit 1; ')
        script = start + 'echo "$DBUS_SESSION_BUS_ADDRESS" > "$2"; exec cat'
        argv = ["dbus-run-session"]
        if not keyring:
            conf = os.path.join(base, "bus.conf")
            with open(conf, "w") as f:
                f.write(EMPTY_BUS_CONF)
            argv.append("--config-file=" + conf)
        self.proc = subprocess.Popen(
            argv + ["--", "sh", "-c", script, "sh", KEYRING_PASSWORD, addr],
            stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, env=self.env)
        end = time.monotonic() + 20
        while not (os.path.exists(addr) and os.path.getsize(addr) > 0):
            if self.proc.poll() is not None or time.monotonic() > end:
                self.stop()
                raise RuntimeError("no D-Bus session: %r"
                                   % self.proc.stderr.read())
            time.sleep(0.05)
        with open(addr) as f:
            self.address = f.read().strip()
        self.env["DBUS_SESSION_BUS_ADDRESS"] = self.address

    def bus_env(self):
        """What mailhop needs to find this session's keyring."""
        return {"DBUS_SESSION_BUS_ADDRESS": self.address}

    def secret_tool(self, *args, password=None):
        return subprocess.run(["secret-tool"] + list(args),
                              input=password, capture_output=True,
                              text=True, env=self.env, timeout=30)

    def store(self, password, *attrs, label="msmtp"):
        r = self.secret_tool("store", "--label=" + label, *attrs,
                             password=password)
        assert r.returncode == 0, r

    def lookup(self, *attrs):
        r = self.secret_tool("lookup", *attrs)
        return r.stdout if r.returncode == 0 else None

    def search(self, *attrs):
        return self.secret_tool("search", "--all", *attrs).stdout

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stderr.close()


@pytest.fixture
def keyring(tmp_path):
    s = Session(str(tmp_path / "keyring"))
    yield s
    s.stop()


@pytest.fixture
def bare_keyring(tmp_path):
    """A server's first use: gnome-keyring running, never unlocked, so
    it has no login collection (no desktop session made one)."""
    s = Session(str(tmp_path / "bare"), unlock=False)
    yield s
    s.stop()


@pytest.fixture
def nokeyring(tmp_path):
    s = Session(str(tmp_path / "bus"), keyring=False)
    yield s
    s.stop()


def alice_attrs(host="localhost"):
    return ("host", host, "service", "smtp", "user", "alice")


def keyring_conf(servers, mode=0o644, **kw):
    """alice on the real Postfix, keyring = on, no password key."""
    extra = {"user": '"alice"', "keyring": "on"}
    extra.update(kw.pop("extra", {}))
    return servers.write_config(user=None, from_addr="alice@example.org",
                                extra=extra, mode=mode, **kw)


def send(mailhop, conf, to, env, args=()):
    return mailhop.run(["-C", conf] + list(args) + ["--", to], MESSAGE,
                       env=env)


def assert_arrived(servers, res, to):
    assert res.rc == 0, res
    raw = servers.wait_for_delivery(to)[0]
    assert servers.smtpd_sasl_method(raw)[1] == "alice"
    assert b"sent with the password from the keyring" in raw
    return raw


def assert_no_password(servers, res, password=ALICE_PW):
    assert password not in res.stderr
    assert password.encode() not in res.stdout
    log = servers.mailhop_syslog(res.pid)
    assert password not in log, log


# ------------------------------------------------------------- lookup


@pytest.mark.parametrize("schema", [None, "de.marlam.msmtp.password"],
                         ids=["secret-tool", "msmtp-schema"])
def test_keyring_entry_as_msmtp_users_store_it(servers, mailhop, rcpt,
                                               keyring, schema):
    """The entry msmtp's manual tells its users to make (secret-tool
    store --label=msmtp host H service smtp user U), with secret-tool's
    schema or msmtp's own: the message arrives, the file has no password
    (so any mode is fine: 0644 here) and the password shows nowhere."""
    attrs = alice_attrs()
    if schema:
        attrs += ("xdg:schema", schema)
    keyring.store(ALICE_PW, *attrs)
    conf = keyring_conf(servers)
    with open(conf) as f:
        assert "password" not in f.read()
    to = rcpt()
    res = send(mailhop, conf, to, keyring.bus_env(), ["-v"])
    assert_arrived(servers, res, to)
    assert "AUTH SCRAM-SHA-256 <redacted, " in res.stderr
    assert_no_password(servers, res)


@pytest.mark.parametrize("ending", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_keyring_entry_stored_with_its_newline(servers, mailhop, rcpt,
                                               keyring, ending):
    """secret-tool store ... <<< pw (or echo pw |) keeps the line end in
    the secret: one goes, as from a password_command, and the server
    takes what is left (Dovecot checks it: the message arrives)."""
    keyring.store(ALICE_PW + ending, *alice_attrs())
    stored = subprocess.run(["secret-tool", "lookup"] + list(alice_attrs()),
                            capture_output=True, env=keyring.env).stdout
    assert stored == (ALICE_PW + ending).encode()
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, keyring.bus_env())
    assert_arrived(servers, res, to)
    assert_no_password(servers, res)


def test_keyring_libgnome_keyring_entry(servers, mailhop, rcpt, keyring):
    """An entry from the libgnome-keyring days (network password: user,
    protocol, server), which msmtp also reads."""
    keyring.store(ALICE_PW, "xdg:schema", "org.gnome.keyring.NetworkPassword",
                  "user", "alice", "protocol", "smtp", "server", "localhost")
    to = rcpt()
    assert_arrived(servers, send(mailhop, keyring_conf(servers), to,
                                 keyring.bus_env()), to)


def test_keyring_entry_of_another_host_or_user_not_used(servers, mailhop,
                                                        rcpt, keyring):
    keyring.store(ALICE_PW, *alice_attrs("smtp.example.org"))
    keyring.store(ALICE_PW, "host", "localhost", "service", "imap",
                  "user", "alice")
    keyring.store(ALICE_PW, "host", "localhost", "service", "smtp",
                  "user", "bob")
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, keyring.bus_env())
    check_not_stored(res)
    servers.assert_nothing_delivered(to)


def check_not_stored(res):
    """The error for a missing entry: store one; not "again", since
    nothing may ever have been stored."""
    line = check_error_line(
        res, 78, "no password for user \"alice\" at localhost in the "
        "keyring, or it is locked (store one: mailhop --store-password "
        "test; or unlock the keyring)")
    assert "again" not in line, line


def test_keyring_nothing_stored_yet(servers, mailhop, rcpt, keyring):
    """A first send with a fresh keyring that holds nothing at all."""
    to = rcpt()
    check_not_stored(send(mailhop, keyring_conf(servers), to,
                          keyring.bus_env()))
    servers.assert_nothing_delivered(to)


def test_keyring_wrong_password_is_refused_by_the_server(servers, mailhop,
                                                         rcpt, keyring):
    keyring.store("not-alices-password", *alice_attrs())
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, keyring.bus_env())
    check_error_line(res, 77, "authentication failed for user \"alice\"")
    servers.assert_nothing_delivered(to)
    assert_no_password(servers, res, "not-alices-password")


def test_keyring_empty_entry(servers, mailhop, rcpt, keyring):
    keyring.store("", *alice_attrs())
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, keyring.bus_env())
    check_error_line(res, 78, "is empty (store it again: mailhop "
                     "--store-password test)")
    servers.assert_nothing_delivered(to)


# ------------------------------------------------------- no keyring


def test_keyring_no_session_bus(servers, mailhop, rcpt):
    """cron's case: no D-Bus session at all.  69, one line with the fix,
    nothing sent."""
    to = rcpt()
    conf = keyring_conf(servers)
    res = send(mailhop, conf, to, {})
    line = check_error_line(res, 69, "keyring (Secret Service) is not "
                            "available", "DBUS_SESSION_BUS_ADDRESS",
                            "password_command")
    assert line.startswith("mailhop: %s: account test: the keyring"
                           % conf), line
    servers.assert_nothing_delivered(to)
    log = servers.mailhop_syslog(res.pid)
    assert "status=refused" in log and "exit=69" in log, log


def test_keyring_bus_without_secret_service(servers, mailhop, rcpt,
                                            nokeyring):
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, nokeyring.bus_env())
    check_error_line(res, 69, "keyring (Secret Service) is not available",
                     "org.freedesktop.secrets")
    servers.assert_nothing_delivered(to)


def test_store_password_without_secret_service(servers, mailhop,
                                               nokeyring):
    res = mailhop.run(["-C", keyring_conf(servers), "--store-password",
                       "test"], b"whatever\n", env=nokeyring.bus_env())
    check_error_line(res, 69, "keyring (Secret Service) is not available")
    assert res.stdout == b""


# ---------------------------------------------------- --store-password


def headless(servers, mailhop, session, line, data):
    """Run the command line that an error line gives (run CMD (see ...),
    mailhop on PATH) as a user without a desktop would: a new
    dbus-run-session, the session's HOME, KEYRING_PW set."""
    cmd = re.search(r"run (dbus-run-session .*') \(see keyring", line)
    assert cmd, line
    bindir = os.path.join(session.base, "bin")
    os.makedirs(bindir, exist_ok=True)
    if not os.path.exists(os.path.join(bindir, "mailhop")):
        os.symlink(mailhop.path, os.path.join(bindir, "mailhop"))
    e = dict(session.env, KEYRING_PW=KEYRING_PASSWORD,
             PATH=bindir + ":" + session.env["PATH"])
    del e["DBUS_SESSION_BUS_ADDRESS"]
    p = servers.popen(["sh", "-c", cmd.group(1)], stdin=subprocess.PIPE,
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)
    out, err = p.communicate(data, timeout=60)
    return p.returncode, out.decode(), err.decode()


def test_store_password_without_a_collection(servers, mailhop, rcpt,
                                             bare_keyring):
    """A fresh gnome-keyring that was never unlocked has no login
    collection: 69, GLib's reason, and the command that makes one and
    stores the password; that command works as given, and so does a
    send run the same way (mailhop.conf(5), keyring)."""
    conf = keyring_conf(servers)
    res = mailhop.run(["-C", conf, "--store-password", "test"],
                      (ALICE_PW + "\n").encode(),
                      env=bare_keyring.bus_env())
    line = check_error_line(
        res, 69, "the keyring has no default collection to store the "
        "password in (Object does not exist at path",
        "collection/login", "with no desktop session, run dbus-run-session "
        "-- sh -c 'printf %s \"$KEYRING_PW\" | gnome-keyring-daemon "
        "--unlock --components=secrets; mailhop --store-password test' "
        "(see keyring in mailhop.conf(5))")
    assert res.stdout == b""
    bare_keyring.stop()
    cfg = os.path.join(bare_keyring.env["XDG_CONFIG_HOME"], "mailhop")
    os.makedirs(cfg)
    shutil.copy(conf, os.path.join(cfg, "config"))
    rc, out, err = headless(servers, mailhop, bare_keyring, line,
                            (ALICE_PW + "\n").encode())
    assert rc == 0 and "stored the password for alice" in out, (out, err)
    to = rcpt()
    rc, out, err = headless(
        servers, mailhop, bare_keyring,
        line.replace("--store-password test'", "-- %s'" % to), MESSAGE)
    assert rc == 0, (out, err)
    raw = servers.wait_for_delivery(to)[0]
    assert servers.smtpd_sasl_method(raw)[1] == "alice"


def test_store_password_then_send(servers, mailhop, rcpt, keyring):
    """--store-password reads the password from a pipe, stores it with
    msmtp's attributes (so secret-tool and msmtp find it), says where,
    and the next send uses it."""
    conf = keyring_conf(servers)
    res = mailhop.run(["-C", conf, "--store-password", "test"],
                      (ALICE_PW + "\n").encode(), env=keyring.bus_env())
    assert res.rc == 0, res
    assert res.stderr == ""
    out = res.stdout.decode()
    assert re.fullmatch(
        r"mailhop: stored the password for alice at localhost in the "
        r"keyring's default collection \(Secret Service; host=localhost "
        r"service=smtp user=alice\)\n", out), out
    assert ALICE_PW not in out
    assert keyring.lookup(*alice_attrs()) == ALICE_PW
    assert "label = mailhop: alice at localhost (account test)" in \
        keyring.search(*alice_attrs())
    to = rcpt()
    assert_arrived(servers, send(mailhop, conf, to, keyring.bus_env()), to)


def test_store_password_replaces(servers, mailhop, rcpt, keyring):
    conf = keyring_conf(servers)
    for pw in ("first-wrong-one", ALICE_PW):
        res = mailhop.run(["-C", conf, "--store-password=test"],
                          (pw + "\r\n").encode(), env=keyring.bus_env())
        assert res.rc == 0, res
    assert keyring.lookup(*alice_attrs()) == ALICE_PW
    assert keyring.search(*alice_attrs()).count("[/") == 1
    to = rcpt()
    assert_arrived(servers, send(mailhop, conf, to, keyring.bus_env()), to)


def test_store_password_replaces_a_secret_tool_entry(servers, mailhop,
                                                    rcpt, keyring):
    """An entry made as msmtp's manual says (secret-tool store ... host H
    service smtp user U: schema org.freedesktop.Secret.Generic) is
    replaced, not kept beside the new one; another user's stays."""
    keyring.store("stale-password", *alice_attrs())
    keyring.store("bobs-password", "host", "localhost", "service", "smtp",
                  "user", "bob")
    conf = keyring_conf(servers)
    res = mailhop.run(["-C", conf, "--store-password", "test"],
                      (ALICE_PW + "\n").encode(), env=keyring.bus_env())
    assert res.rc == 0, res
    found = keyring.search(*alice_attrs())
    assert found.count("[/") == 1, found
    assert "stale-password" not in found
    assert keyring.lookup(*alice_attrs()) == ALICE_PW
    assert keyring.lookup("host", "localhost", "service", "smtp", "user",
                          "bob") == "bobs-password"
    to = rcpt()
    assert_arrived(servers, send(mailhop, conf, to, keyring.bus_env()), to)


def test_store_password_refused_without_keyring_on(servers, mailhop,
                                                  keyring):
    """An account that does not use the keyring: refused (78), nothing
    stored, the shared entry msmtp may use is left as it is."""
    keyring.store("msmtps-password", *alice_attrs())
    conf = servers.write_config(user="alice")
    res = mailhop.run(["-C", conf, "--store-password", "test"],
                      (ALICE_PW + "\n").encode(), env=keyring.bus_env())
    check_error_line(res, 78, "account test does not use the keyring, so "
                     "nothing was stored", "add keyring = on to the account "
                     "in place of its password or password_command first")
    assert res.stdout == b""
    assert keyring.lookup(*alice_attrs()) == "msmtps-password"


@pytest.mark.parametrize("password", [
    "pass\tword", "pass\nword", ALICE_PW + "\n\n", ALICE_PW + "\r"],
    ids=["tab", "inner-lf", "two-lf", "cr"])
def test_keyring_control_character_one_hint(servers, mailhop, rcpt,
                                            keyring, password):
    """Only one line end at the very end goes: a newline inside, a second
    one, or a CR alone is a control character the server cannot take."""
    keyring.store(password, *alice_attrs())
    to = rcpt()
    res = send(mailhop, keyring_conf(servers), to, keyring.bus_env())
    line = check_error_line(res, 78, "holds a control character (store it "
                            "again: mailhop --store-password test)")
    assert line.count("(") == 1, line
    servers.assert_nothing_delivered(to)


@pytest.mark.parametrize("data,code,words", [
    (b"", 66, "no password given"),
    (b"\n", 65, "is empty"),
    (b"pass\tword\n", 65, "control character"),
    (b"x" * 20000 + b"\n", 65, "longer than 16 KiB"),
], ids=["eof", "empty", "tab", "long"])
def test_store_password_bad_input(servers, mailhop, keyring, data, code,
                                  words):
    res = mailhop.run(["-C", keyring_conf(servers), "--store-password",
                       "test"], data, env=keyring.bus_env())
    check_error_line(res, code, words)
    assert keyring.lookup(*alice_attrs()) is None


def test_store_password_usage(servers, mailhop, keyring):
    conf = keyring_conf(servers)
    res = mailhop.run(["-C", conf, "--store-password"], b"pw\n",
                      env=keyring.bus_env())
    check_error_line(res, 64, "needs the name of an account")
    res = mailhop.run(["-C", conf, "--store-password", "nosuch"], b"pw\n",
                      env=keyring.bus_env())
    check_error_line(res, 78, "--store-password nosuch: no such account",
                     "accounts: test")
    res = mailhop.run(["-C", conf, "--store-password", "test", "x@y.org"],
                      b"pw\n", env=keyring.bus_env())
    check_error_line(res, 64, "takes no recipient")
    assert keyring.lookup(*alice_attrs()) is None


def read_until(fd, want, timeout=10):
    buf = b""
    end = time.monotonic() + timeout
    while want not in buf:
        r, _, _ = select.select([fd], [], [], max(0, end - time.monotonic()))
        if not r:
            raise AssertionError("no %r in %r" % (want, buf))
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        buf += chunk
    return buf


def run_on_tty(servers, argv, env, answers, interrupt=False):
    """Run argv with a pseudo-terminal as its controlling terminal and
    stdin; answer each prompt in turn, checking that echo is off while it
    waits (interrupt: type ^C at the first prompt instead).  Returns
    (exit code, all output, whether echo was on at the end)."""
    master, slave = pty.openpty()
    assert termios.tcgetattr(master)[3] & termios.ECHO

    def ctty():
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "HOME": servers.path("home"), "LANG": "C.UTF-8"}
    e.update(env)
    p = servers.popen(argv, stdin=slave, stdout=slave, stderr=slave, env=e,
                      preexec_fn=ctty)
    os.close(slave)
    out = b""
    for prompt, answer in answers:
        out += read_until(master, prompt)
        assert not termios.tcgetattr(master)[3] & termios.ECHO
        os.write(master, b"\x03" if interrupt else answer)
        if interrupt:
            break
    try:
        while True:
            r, _, _ = select.select([master], [], [], 10)
            if not r:
                break
            chunk = os.read(master, 4096)
            if not chunk:
                break
            out += chunk
    except OSError:
        pass  # EIO: the other side is closed
    rc = p.wait(10)
    echo = bool(termios.tcgetattr(master)[3] & termios.ECHO)
    os.close(master)
    return rc, out, echo


def test_store_password_on_a_terminal(servers, mailhop, rcpt, keyring):
    """On a terminal: a prompt, echo off (the typed password never comes
    back), asked twice."""
    conf = keyring_conf(servers)
    rc, out, echo = run_on_tty(
        servers, [mailhop.path, "-C", conf, "--store-password", "test"],
        keyring.bus_env(),
        [(b"Password for alice at localhost: ", ALICE_PW.encode() + b"\r"),
         (b"Again: ", ALICE_PW.encode() + b"\r")])
    assert rc == 0, out
    assert echo
    assert ALICE_PW.encode() not in out, out
    assert b"stored the password for alice at localhost" in out
    assert keyring.lookup(*alice_attrs()) == ALICE_PW
    to = rcpt()
    assert_arrived(servers, send(mailhop, conf, to, keyring.bus_env()), to)


def test_store_password_terminal_mismatch(servers, mailhop, keyring):
    rc, out, echo = run_on_tty(
        servers, [mailhop.path, "-C", keyring_conf(servers),
                  "--store-password", "test"], keyring.bus_env(),
        [(b"Password for alice at localhost: ", b"one-password\r"),
         (b"Again: ", b"another-password\r")])
    assert rc == 65, out
    assert echo
    assert b"the two passwords differ" in out
    assert b"one-password" not in out and b"another-password" not in out
    assert keyring.lookup(*alice_attrs()) is None


def test_store_password_interrupted_restores_echo(servers, mailhop,
                                                   keyring):
    """^C at the prompt: mailhop dies of SIGINT, the terminal has its
    echo back, nothing is stored."""
    rc, out, echo = run_on_tty(
        servers, [mailhop.path, "-C", keyring_conf(servers),
                  "--store-password", "test"], keyring.bus_env(),
        [(b"Password for alice at localhost: ", None)], interrupt=True)
    assert rc == -2, (rc, out)
    assert echo
    assert keyring.lookup(*alice_attrs()) is None


def test_keyring_in_a_setgid_mailhop(servers, mailhop, rcpt, keyring,
                                     tmp_path):
    """A set-group-id mailhop (make install SETGID=...), run by a user with
    a file of their own (root here, whose home is a directory of the test
    bind-mounted on /root): GLib ignores the session bus in a process with
    AT_SECURE, so mailhop says that plainly (69) instead of GLib's "Cannot
    spawn a message bus"."""
    keyring.store(ALICE_PW, *alice_attrs())
    d = tmp_path / "sgid"
    d.mkdir()
    binary = str(d / "mailhop")
    shutil.copy(mailhop.path, binary)
    os.chown(binary, 0, grp.getgrnam("nogroup").gr_gid)
    os.chmod(binary, 0o2755)
    home = tmp_path / "roothome"
    (home / ".config" / "mailhop").mkdir(parents=True)
    shutil.copy(keyring_conf(servers), home / ".config" / "mailhop" /
                "config")
    to = rcpt()
    argv = ["unshare", "--mount", "--propagation", "private", "--",
            "/bin/sh", "-c", 'mount --bind "$0" /root && exec "$@"',
            str(home), binary, "--", to]
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/root",
         "LANG": "C.UTF-8"}
    e.update(keyring.bus_env())
    p = servers.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, env=e)
    _, err = p.communicate(MESSAGE, timeout=60)
    err = err.decode()
    assert p.returncode == 69, err
    assert err.startswith("mailhop: ") and err.count("\n") == 1, err
    assert "cannot work in a set-group-id mailhop" in err, err
    assert "password_command" in err
    servers.assert_nothing_delivered(to)
    # The way out the message gives, as README and mailhop(1) say: the
    # password command runs after the group is given up, so secret-tool
    # (a new program, without AT_SECURE) reaches the keyring.
    shutil.copy(servers.write_config(user=None, extra={
        "user": '"alice"', "password_command": harness.conf_quote(
            "secret-tool lookup host localhost service smtp user alice")}),
        home / ".config" / "mailhop" / "config")
    to = rcpt()
    argv[-1] = to
    p = servers.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, env=e)
    _, err = p.communicate(MESSAGE, timeout=60)
    assert (p.returncode, err) == (0, b""), err
    raw = servers.wait_for_delivery(to)[0]
    assert servers.smtpd_sasl_method(raw)[1] == "alice"


# --------------------------------------------- OAuth token in the keyring


TOKEN = "ya29.keyring-Token_value~1"


def test_S24_xoauth2_token_from_keyring(servers, mailhop, fault, fault_conf,
                                        keyring):
    keyring.store(TOKEN, *alice_attrs())
    srv = fault(Scenario(ehlo_tls=["AUTH XOAUTH2"],
                         replies={"AUTH": "235 2.7.0 ok"}))
    conf = fault_conf(srv, user=None, auth="xoauth2",
                      extra={"user": '"alice"', "keyring": "on"})
    res = mailhop.run(["-C", conf, "-v", "--", "bob@example.org"], MESSAGE,
                      env=keyring.bus_env())
    assert res.rc == 0, res
    assert srv.wait_idle(5)
    line = [c[1] for c in srv.sessions[0].commands
            if c[1].startswith(b"AUTH")][0]
    assert line == b"AUTH XOAUTH2 " + base64.b64encode(
        b"user=alice\x01auth=Bearer " + TOKEN.encode() + b"\x01\x01")
    assert_no_password(servers, res, TOKEN)


# --------------------------------------------- libsecret only when used


def maps_during_send(servers, mailhop, srv, conf, env):
    """The shared objects mapped into mailhop while it waits for the
    server's (delayed) greeting."""
    e = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"),
         "HOME": servers.path("home"), "LANG": "C.UTF-8"}
    e.update(env)
    msg = conf + ".msg"
    with open(msg, "wb") as f:
        f.write(MESSAGE)
    with open(msg, "rb") as f:
        p = servers.popen([mailhop.path, "-C", conf, "--",
                           "bob@example.org"], stdin=f,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          env=e)
    end = time.monotonic() + 10
    while srv.connections == 0 and time.monotonic() < end:
        time.sleep(0.02)
    assert srv.connections == 1, p.stderr.read()
    with open("/proc/%d/maps" % p.pid) as f:
        maps = f.read()
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return {os.path.basename(ln.split()[-1]) for ln in maps.splitlines()
            if ".so" in ln}


def test_libsecret_loaded_only_for_the_keyring(servers, mailhop, fault,
                                               fault_conf, keyring):
    ldd = subprocess.run(["ldd", mailhop.path], capture_output=True,
                         text=True).stdout
    assert "libsecret" not in ldd and "libglib" not in ldd, ldd
    keyring.store("pw", *alice_attrs())
    slow = {"GREETING": [Sleep(1.0),
                         "220 fault.example.org ESMTP slow greeting"]}
    srv = fault(Scenario(replies=slow, user="alice", password="pw"))
    plain = maps_during_send(servers, mailhop, srv,
                             fault_conf(srv, password="pw"), {})
    assert not [m for m in plain if "secret" in m or "glib" in m], plain
    assert any(m.startswith("libgnutls") for m in plain), plain
    srv = fault(Scenario(replies=slow, user="alice", password="pw"))
    conf = fault_conf(srv, user=None, extra={"user": '"alice"',
                                             "keyring": "on"})
    used = maps_during_send(servers, mailhop, srv, conf, keyring.bus_env())
    assert any(m.startswith("libsecret-1") for m in used), used
    assert any(m.startswith("libglib-2.0") for m in used), used


@pytest.mark.parametrize("name,shown", [
    ('"my home"', '"my home"'),
    ('"it\'s"', "NAME"),
], ids=["space", "single-quote"])
def test_keyring_hint_quotes_the_account_name(servers, mailhop, rcpt,
                                              keyring, name, shown):
    """The suggested command can be pasted: an account name with a space
    is quoted for the shell; one a quote would break reads NAME."""
    to = rcpt()
    conf = keyring_conf(servers)
    with open(conf) as f:
        text = f.read()
    assert 'account test {' in text and 'default_account = "test"' in text
    text = text.replace('account test {', 'account %s {' % name)
    text = text.replace('default_account = "test"',
                        'default_account = %s' % name)
    with open(conf, "w") as f:
        f.write(text)
    res = send(mailhop, conf, to, keyring.bus_env())
    check_error_line(res, 78, "(store one: mailhop --store-password %s; "
                     "or unlock the keyring)" % shown)
    servers.assert_nothing_delivered(to)
