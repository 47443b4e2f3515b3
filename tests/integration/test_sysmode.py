# SPDX-License-Identifier: ISC
"""System mode (issue 4, S36; issue 6's system queue): mailhop installed
set-group-id by `make install SETGID=mailhop` into a temporary prefix, with
its own SYSCONFDIR and SPOOLDIR, run by an unprivileged user with HOME=/
against a system file 0640 root:mailhop that holds alice's password.

The user is created here (useradd) and removed at the end, as is the
mailhop group when this module created it; a lock file keeps two test runs
on one machine from sharing them.  Needs root (useradd, chown, setpriv)."""

import fcntl
import grp
import os
import pathlib
import pwd
import re
import resource
import shutil
import subprocess
import time
import types

import pytest

from mailmodel import check_log

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
USER = "mailhop-systest"
GROUP = "mailhop"
LOCK = "/run/lock/mailhop-test-sysmode.lock"
MESSAGE = b"From: alice@example.org\nSubject: system mode\n\nbody\n"

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="system mode tests need root (useradd)")


def _env():
    """An environment for make without the caller's make's jobserver."""
    e = dict(os.environ)
    for k in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES"):
        e.pop(k, None)
    return e


class Install:
    def __init__(self, servers, base):
        self.servers = servers
        self.base = base
        self.etc = os.path.join(base, "etc")
        self.conf = os.path.join(self.etc, "mailhop.conf")
        self.spool = os.path.join(base, "spool")
        self.binary = os.path.join(base, "prefix", "bin", "mailhop")
        self.home = os.path.join(base, "home")
        self.out = os.path.join(base, "out")
        self.made_group = False
        self.made_user = False

    def build(self):
        subprocess.run(
            ["make", "-C", REPO, "-s", "-j2",
             "B=%s" % os.path.join(self.base, "build"),
             "PROG=%s" % os.path.join(self.base, "build", "mailhop"),
             "SYSCONFDIR=%s" % self.etc, "SPOOLDIR=%s" % self.spool,
             "PREFIX=%s" % os.path.join(self.base, "prefix"),
             "SETGID=%s" % GROUP, "install"],
            check=True, env=_env(), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT)

    def add_user(self):
        try:
            pwd.getpwnam(USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home",
                            "--home-dir", self.home, "--shell",
                            "/usr/sbin/nologin", USER], check=True)
            self.made_user = True
        pw = pwd.getpwnam(USER)
        if pw.pw_dir != self.home:
            subprocess.run(["usermod", "--home", self.home, USER],
                           check=True)
        self.uid, self.gid = pw.pw_uid, pw.pw_gid
        os.makedirs(self.out, exist_ok=True)
        os.chown(self.out, self.uid, self.gid)

    def remove(self):
        if self.made_user:
            subprocess.run(["userdel", USER], check=False)
        if self.made_group:
            subprocess.run(["groupdel", GROUP], check=False)

    def write_system(self, **kw):
        """The system file, written as the harness writes a config, then
        made 0640 root:mailhop."""
        src = self.servers.write_config(**kw)
        shutil.copyfile(src, self.conf)
        os.chown(self.conf, 0, grp.getgrnam(GROUP).gr_gid)
        os.chmod(self.conf, 0o640)

    def run(self, args, data=MESSAGE, env=None, as_root=False, binary=None,
            user=None):
        """Run the installed binary as USER (or as root, or as user, a
        name), HOME=/; its pid is left in self.pid."""
        e = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}
        e.update(env or {})
        argv = [binary or self.binary] + list(args)
        uid, gid = self.uid, self.gid
        if user is not None:
            pw = pwd.getpwnam(user)
            uid, gid = pw.pw_uid, pw.pw_gid
        if not as_root:
            argv = ["setpriv", "--reuid=%d" % uid, "--regid=%d" % gid,
                    "--clear-groups", "--"] + argv
        p = self.servers.popen(argv, stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=e, cwd="/")
        out, err = p.communicate(data, timeout=60)
        self.pid = p.pid
        return p.returncode, out.decode(), err.decode()

    def check_log(self, uid, **want):
        """The syslog line of the last run (mailmodel.check_log), whose
        uid field must be uid."""
        return check_log(self.servers, types.SimpleNamespace(pid=self.pid),
                         uid=uid, **want)


@pytest.fixture(scope="module")
def inst(servers):
    os.makedirs(os.path.dirname(LOCK), exist_ok=True)
    lock = open(LOCK, "w")
    fcntl.flock(lock, fcntl.LOCK_EX)
    base = servers.path("sysmode")
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    i = Install(servers, base)
    try:
        try:
            grp.getgrnam(GROUP)
        except KeyError:
            i.made_group = True  # make install creates it
        i.build()
        i.add_user()
        yield i
    finally:
        i.remove()
        lock.close()


def test_staged_install_without_the_group_installs_nothing(tmp_path):
    """make install SETGID=G DESTDIR=D with no group G on this machine
    stops before anything is built or installed (it used to install the
    plain binary, the manual pages and the completions first), saying to
    create the group; make exits 2 and the staging tree stays empty."""
    group = "mailhop-nosuchgroup"
    with pytest.raises(KeyError):
        grp.getgrnam(group)
    stage = tmp_path / "stage"
    build = tmp_path / "build"
    p = subprocess.run(
        ["make", "-C", REPO, "-s", "B=%s" % build,
         "PROG=%s" % (build / "mailhop"), "PREFIX=/usr",
         "DESTDIR=%s" % stage, "SETGID=%s" % group, "install"],
        env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err = p.stderr.decode()
    assert p.returncode == 2, (p.returncode, err)
    assert ("make: group %s does not exist; create it (groupadd --system "
            "%s) before installing with SETGID and DESTDIR" % (group, group)
            in err), err
    assert not stage.exists(), list(stage.rglob("*"))
    assert not build.exists(), list(build.rglob("*"))


def received_from(raw):
    """The HELO name in Postfix's Received line."""
    m = re.search(rb"^Received: from (\S+) ", raw, re.M)
    return m.group(1).decode() if m else None


def test_install_modes(inst):
    st = os.stat(inst.binary)
    gid = grp.getgrnam(GROUP).gr_gid
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, gid, 0o2755)
    # The queue and its areas are root's, writable by the group only:
    # make install makes them all, so that no user who happens to use
    # the queue first owns one.
    for d in ("", "msg", "failed", "tmp"):
        st = os.stat(os.path.join(inst.spool, d))
        assert (d, st.st_uid, st.st_gid, st.st_mode & 0o7777) == (
            d, 0, gid, 0o2770)
    # make install puts sample.conf there when there is no file yet, as
    # there is none in a fresh SYSCONFDIR.
    assert os.path.exists(inst.conf)
    st = os.stat(inst.conf)
    assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == (0, gid, 0o640)


def test_user_sends_through_system_file(inst, servers, rcpt):
    to = rcpt()
    inst.write_system(extra={"helo": '"sys.example.org"'})
    rc, out, err = inst.run(["--", to])
    assert (rc, err) == (0, ""), err
    # The account's address is every user's sender: the log line says
    # which user sent (the real uid, as Postfix's pickup logs it).
    inst.check_log(inst.uid, status="sent", rcpt=to,
                   from_="alice@example.org")
    msg = servers.wait_for_delivery(to)[0]
    assert received_from(msg) == "sys.example.org"
    assert servers.smtpd_sasl_method(msg)[1] == "alice"
    # The user cannot read the file that holds the password.
    r = subprocess.run(["setpriv", "--reuid=%d" % inst.uid,
                        "--regid=%d" % inst.gid, "--clear-groups", "--",
                        "cat", inst.conf], capture_output=True)
    assert r.returncode != 0 and b"Permission denied" in r.stderr
    assert servers.users["alice"].encode() not in r.stdout


def test_dash_C_refused(inst, servers, rcpt):
    to = rcpt()
    inst.write_system()
    rc, out, err = inst.run(["-C", inst.conf, "--", to])
    assert rc == 77  # EX_NOPERM, security.md S36
    assert err == (
        "mailhop: -C cannot be used while mailhop runs set-group-id: it "
        "reads %s, or ~/.config/mailhop/config when you have one (drop "
        "-C)\n" % inst.conf)
    servers.assert_nothing_delivered(to)


def test_pretend_is_root_only(inst, servers):
    """--pretend would show the system file, which the user may not read:
    77 for the user, nothing on stdout; root sees the settings, the
    password masked."""
    inst.write_system()
    rc, out, err = inst.run(["--pretend"])
    assert (rc, out) == (77, ""), err
    assert err == (
        "mailhop: --pretend would show the settings of %s, which only "
        "root and the group mailhop may read (run it as root)\n" % inst.conf)
    # The group named is the binary's, whatever it is called.
    other = os.path.join(inst.base, "nogroup-mailhop")
    shutil.copyfile(inst.binary, other)
    os.chown(other, 0, grp.getgrnam("nogroup").gr_gid)
    os.chmod(other, 0o2755)
    rc, out, err = inst.run(["--pretend"], binary=other)
    assert (rc, out) == (77, ""), err
    assert "which only root and the group nogroup may read" in err, err
    rc, out, err = inst.run(["--pretend"], as_root=True)
    assert (rc, err) == (0, ""), err
    assert out.startswith("account: test\nchosen by: default_account (%s, "
                          "line 1)\nfile: %s\n" % (inst.conf, inst.conf))
    assert "password          = (set, hidden)  (account, line" in out
    assert servers.users["alice"] not in out


def test_environment_does_not_steer(inst, servers, rcpt):
    """${VAR} in the system file expands in the cleared environment, and
    XDG_CONFIG_HOME or HOME do not bring in another file.  The same
    binary without the set-group-id bit, run by the same user on a
    readable copy, does expand the caller's variable: the check can
    fail."""
    to, to2 = rcpt(), rcpt()
    tmp_path = pathlib.Path(inst.base) / "envtest"
    shutil.rmtree(tmp_path, ignore_errors=True)
    inst.write_system(extra={"helo": '"sys${MAILHOP_T:-}.example.org"'})
    other = tmp_path / "xdg" / "mailhop"
    other.mkdir(parents=True)
    (other / "config").write_text(
        open(inst.conf).read().replace("sys${MAILHOP_T:-}", "xdg"))
    os.chmod(tmp_path, 0o755)
    os.chown(other / "config", inst.uid, inst.gid)
    os.chmod(other / "config", 0o600)
    env = {"MAILHOP_T": "evil", "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
           "HOME": str(tmp_path), "TMPDIR": "/nonexistent"}
    rc, out, err = inst.run(["--", to], env=env)
    assert (rc, err) == (0, ""), err
    assert received_from(servers.wait_for_delivery(to)[0]) == \
        "sys.example.org"
    # The control: no privilege, so the environment is the caller's.
    plain = os.path.join(inst.base, "plain-mailhop")
    shutil.copyfile(inst.binary, plain)
    os.chmod(plain, 0o755)
    copy = tmp_path / "copy.conf"
    shutil.copyfile(inst.conf, copy)
    os.chown(copy, inst.uid, inst.gid)
    os.chmod(copy, 0o600)
    rc, out, err = inst.run(["-C", str(copy), "--", to2], binary=plain,
                            env={"MAILHOP_T": "evil"})
    assert (rc, err) == (0, ""), err
    assert received_from(servers.wait_for_delivery(to2)[0]) == \
        "sysevil.example.org"
    # A variable with no default that the cleared environment lacks is
    # an error naming the line, not an empty string.
    inst.write_system(extra={"helo": '"sys${MAILHOP_T}.example.org"'})
    rc, out, err = inst.run(["--", rcpt()], env=env)
    assert rc == 78 and err.startswith("mailhop: %s:" % inst.conf), err
    assert "helo: ${MAILHOP_T} is not set in the environment" in err, err


def test_gnutls_environment_ignored(inst, servers, rcpt):
    """GnuTLS reads GNUTLS_SYSTEM_PRIORITY_FILE (S36) before main runs; in
    a set-group-id process it must not.  The control run without the
    privilege shows that the file does break TLS when it is read."""
    to, to2 = rcpt(), rcpt()
    d = os.path.join(inst.base, "gnutls")
    os.makedirs(d, exist_ok=True)
    prio = os.path.join(d, "config")
    with open(prio, "w") as f:
        f.write("[overrides]\ndisabled-version = tls1.3\n"
                "disabled-version = tls1.2\n")
    os.chmod(prio, 0o644)
    os.chmod(d, 0o755)
    inst.write_system()
    env = {"GNUTLS_SYSTEM_PRIORITY_FILE": prio, "GNUTLS_DEBUG_LEVEL": "9"}
    rc, out, err = inst.run(["--", to], env=env)
    assert (rc, err) == (0, ""), err
    servers.wait_for_delivery(to)
    plain = os.path.join(inst.base, "plain-mailhop")
    shutil.copyfile(inst.binary, plain)
    os.chmod(plain, 0o755)
    copy = os.path.join(d, "copy.conf")
    shutil.copyfile(inst.conf, copy)
    os.chown(copy, inst.uid, inst.gid)
    os.chmod(copy, 0o600)
    rc, out, err = inst.run(["-C", copy, "--", to2], binary=plain, env=env)
    assert rc != 0 and "TLS" in err, err
    servers.assert_nothing_delivered(to2)


def test_group_dropped_before_password_command(inst, servers, rcpt):
    """The password command runs after the drop and before the session:
    it reads mailhop's /proc/PID/status (its parent's), whose Gid line
    lists real, effective, saved and filesystem gid."""
    to = rcpt()
    status = os.path.join(inst.out, "status")
    if os.path.exists(status):
        os.unlink(status)
    cmd = "cat /proc/$PPID/status > %s; echo %s" % (
        status, servers.users["alice"])
    inst.write_system(extra={"password_command": '"%s"' % cmd})
    with open(inst.conf) as f:
        text = f.read()
    text = re.sub(r"\n\tpassword = .*", "", text)
    with open(inst.conf, "w") as f:
        f.write(text)
    rc, out, err = inst.run(["--", to])
    assert (rc, err) == (0, ""), err
    servers.wait_for_delivery(to)
    with open(status) as f:
        st = f.read()
    gids = re.search(r"^Gid:\s+(.*)$", st, re.M).group(1).split()
    mailhop_gid = grp.getgrnam(GROUP).gr_gid
    assert gids == [str(inst.gid)] * 4, st
    groups = re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split()
    assert str(mailhop_gid) not in groups


def test_user_with_own_config_reads_it(inst, servers, rcpt):
    """A user whose home (from the password database) has a config of
    their own: the group is dropped first and their file is read."""
    to = rcpt()
    inst.write_system(extra={"helo": '"sys.example.org"'})
    d = os.path.join(inst.home, ".config", "mailhop")
    os.makedirs(d, exist_ok=True)
    for p in (inst.home, os.path.join(inst.home, ".config"), d):
        os.chown(p, inst.uid, inst.gid)
    own = os.path.join(d, "config")
    shutil.copyfile(inst.conf, own)
    with open(own) as f:
        text = f.read().replace("sys.example.org", "own.example.org")
    with open(own, "w") as f:
        f.write(text)
    os.chown(own, inst.uid, inst.gid)
    os.chmod(own, 0o600)
    try:
        rc, out, err = inst.run(["--", to])
        assert (rc, err) == (0, ""), err
        assert received_from(servers.wait_for_delivery(to)[0]) == \
            "own.example.org"
        # Their queue is theirs too, private.
        with open(own, "a") as f:
            f.write(text.replace("account test", "account down").replace(
                "default_account", "#").replace(
                    "\tport = %d" % servers.ports["submission"],
                    "\tport = %d" % servers.ports["closed"]).replace(
                        "\tqueue = off\n", ""))
        state = os.path.join(inst.home, "s")
        rc, out, err = inst.run(["-a", "down", "--", rcpt()],
                                env={"XDG_STATE_HOME": state})
        assert (rc, err) == (0, ""), err
        st = os.stat(os.path.join(state, "mailhop", "queue"))
        assert (st.st_uid, st.st_mode & 0o7777) == (inst.uid, 0o700)
        assert len(os.listdir(os.path.join(state, "mailhop", "queue",
                                           "msg"))) == 1
        # Their file must still be theirs alone.
        os.chmod(own, 0o640)
        rc, out, err = inst.run(["--", rcpt()])
        assert rc == 78 and "readable by its group" in err, err
    finally:
        shutil.rmtree(inst.home)


def own_config(inst, text):
    """~/.config/mailhop/config of the test user, 0600, theirs."""
    d = os.path.join(inst.home, ".config", "mailhop")
    os.makedirs(d, exist_ok=True)
    for p in (inst.home, os.path.join(inst.home, ".config"), d):
        os.chown(p, inst.uid, inst.gid)
    own = os.path.join(d, "config")
    with open(own, "w") as f:
        f.write(text)
    os.chown(own, inst.uid, inst.gid)
    os.chmod(own, 0o600)
    return own


@pytest.mark.parametrize("setgid", [True, False], ids=["setgid", "plain"])
def test_own_config_without_default_account(inst, servers, rcpt, setgid):
    """The README's "Configure" file: one account, no default_account.
    The system file is unreadable to the user (0640 root:mailhop for the
    set-group-id binary; root's alone, 0600, for a plain one, as
    mailhop.conf(5) recommends): the user's file decides alone, with or
    without -f, and --pretend says the system file was not read.  -a of
    an account the user's file lacks needs the system file: 78 with the
    fix."""
    inst.write_system(extra={"helo": '"sys.example.org"'})
    binary = inst.binary
    if not setgid:
        binary = os.path.join(inst.base, "plain-mailhop")
        shutil.copyfile(inst.binary, binary)
        os.chmod(binary, 0o755)
        os.chown(inst.conf, 0, 0)
        os.chmod(inst.conf, 0o600)
    with open(inst.conf) as f:
        text = f.read().replace("sys.example.org", "own.example.org")
    text = re.sub(r"^default_account = .*\n", "", text)
    assert "default_account" not in text
    own_config(inst, text)
    # The plain binary finds the user's file through HOME.
    env = None if setgid else {"HOME": inst.home}
    try:
        for args in ([], ["-f", "alice@example.org"]):
            to = rcpt()
            rc, out, err = inst.run(args + ["--", to], binary=binary,
                                    env=env)
            assert (rc, err) == (0, ""), err
            assert received_from(servers.wait_for_delivery(to)[0]) == \
                "own.example.org"
        rc, out, err = inst.run(["--pretend"], binary=binary, env=env)
        assert (rc, err) == (0, ""), err
        assert "\nnot read: %s: Permission denied\n" % inst.conf in out
        to = rcpt()
        rc, out, err = inst.run(["-v", "--", to], binary=binary, env=env)
        assert rc == 0, err
        assert err.startswith("mailhop: not read: %s: Permission denied\n"
                              % inst.conf), err
        rc, out, err = inst.run(["-a", "relay", "--", rcpt()],
                                binary=binary, env=env)
        assert rc == 78, err
        assert err == (
            "mailhop: cannot read %s: Permission denied, and account relay "
            "is not in %s/.config/mailhop/config (define it there, or name "
            "one of its accounts)\n" % (inst.conf, inst.home)), err
    finally:
        shutil.rmtree(inst.home)


@pytest.mark.parametrize("mode,group,opens", [
    (0o644, GROUP, True), (0o660, GROUP, True), (0o650, GROUP, True),
    (0o640, "root", False), (0o604, GROUP, False)])
def test_system_file_mode_refused(inst, servers, rcpt, mode, group, opens):
    """Only 0640 with the set-group-id group (or 0600) passes; a file
    root's group may read, or others but not the group, is not even
    readable by mailhop."""
    to = rcpt()
    inst.write_system()
    os.chown(inst.conf, 0, grp.getgrnam(group).gr_gid)
    os.chmod(inst.conf, mode)
    rc, out, err = inst.run(["--", to])
    assert rc == 78, err
    if opens:
        assert err == (
            "mailhop: %s: holds a password but others may read or change "
            "it (run: chown root:mailhop %s; chmod 640 %s)\n"
            % (inst.conf, inst.conf, inst.conf))
    else:
        assert err == (
            "mailhop: cannot read %s: Permission denied (run: chown "
            "root:mailhop %s; chmod 640 %s)\n"
            % (inst.conf, inst.conf, inst.conf))
    servers.assert_nothing_delivered(to)


def queue_ids(inst, area="msg"):
    d = os.path.join(inst.spool, area)
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def test_system_queue_refused_copy(inst, servers, rcpt):
    """A permanent failure of a user's send in system mode (a wrong
    password): exit 77, one line that says where the copy is and that
    only root deletes it; the queue's areas stay root's."""
    to = rcpt()
    inst.write_system(queue=True, password="wrong-password")
    before = queue_ids(inst, "failed")
    rc, out, err = inst.run(["--", to])
    (qid,) = [i for i in queue_ids(inst, "failed") if i not in before]
    assert rc == 77 and err.count("\n") == 1, err
    assert err.startswith("mailhop: authentication failed"), err
    assert err.endswith(
        "; a copy is in the failed area (mailhop -qI%s sends it again, "
        "-qD%s deletes it, both run as root)\n" % (qid, qid)), err
    for d in ("", "msg", "failed", "tmp"):
        assert os.stat(os.path.join(inst.spool, d)).st_uid == 0, d
    # Others' refused mail is root's to put back, as to remove: the
    # user's -qI<id> and -qIfailed leave it in the failed area.
    for arg, words in (("-qI" + qid, "message %s is in the failed area, "
                        "and only root may put it back in the system "
                        "queue (run mailhop -qI%s as root)" % (qid, qid)),
                       ("-qIfailed", "only root may put the failed area "
                        "back in the system queue (run mailhop -qIfailed "
                        "as root)")):
        rc, out, err = inst.run([arg])
        assert (rc, err) == (77, "mailhop: queue: %s\n" % words), (arg, err)
        assert qid in queue_ids(inst, "failed")
    rc, out, err = inst.run(["-qD" + qid], as_root=True)
    assert rc == 0, err
    assert qid not in queue_ids(inst, "failed")
    servers.assert_nothing_delivered(to)


def test_system_queue(inst, servers, rcpt):
    """Queued as the user (server down) it lands in the system queue,
    0660 group mailhop, which the user cannot enter; the user's mailq
    lists it; root's -qI delivers it; a second one the user cannot
    remove, and the user's own -qI delivers it."""
    to, to2 = rcpt(), rcpt()
    inst.write_system(host="127.0.0.1", port=servers.ports["closed"],
                      timeout=5, queue=True)
    before = queue_ids(inst)
    rc, out, err = inst.run(["--", to])
    assert (rc, err) == (0, ""), err
    new = [i for i in queue_ids(inst) if i not in before]
    assert len(new) == 1
    data = os.path.join(inst.spool, "msg", new[0], "data")
    st = os.stat(data)
    assert (st.st_gid, st.st_mode & 0o777) == (
        grp.getgrnam(GROUP).gr_gid, 0o660)
    r = subprocess.run(["setpriv", "--reuid=%d" % inst.uid,
                        "--regid=%d" % inst.gid, "--clear-groups", "--",
                        "ls", inst.spool], capture_output=True)
    assert r.returncode != 0
    rc, out, err = inst.run(["-bp"])
    assert rc == 0 and new[0] in out and to in out, (out, err)
    servers.assert_nothing_delivered(to)

    inst.write_system(queue=True)
    rc, out, err = inst.run(["-qI" + new[0]], as_root=True)
    assert (rc, err) == (0, ""), err
    assert len(servers.wait_for_delivery(to)) == 1
    assert new[0] not in queue_ids(inst)

    inst.write_system(host="127.0.0.1", port=servers.ports["closed"],
                      timeout=5, queue=True)
    rc, out, err = inst.run(["--", to2])
    assert rc == 0, err
    second = [i for i in queue_ids(inst) if i not in before]
    assert len(second) == 1
    # Others' mail: only root removes from the system queue.
    rc, out, err = inst.run(["-qD" + second[0]])
    assert rc == 77 and err == (
        "mailhop: queue: only root may remove a message from the system "
        "queue\n"), err
    rc, out, err = inst.run(["-qDfailed"])
    assert rc == 77, err
    assert second[0] in queue_ids(inst)
    inst.write_system(queue=True)
    rc, out, err = inst.run(["-v", "-qI"])
    assert rc == 0, err
    assert "mailhop: queue: 1 sent, 0 still queued" in err, err
    assert len(servers.wait_for_delivery(to2)) == 1
    assert queue_ids(inst) == before
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 1


def test_system_queue_remembers_the_submitter(inst, servers, rcpt):
    """A message nobody queued in the system queue keeps nobody's uid:
    in its envelope, in the mailq another user lists, and on the line of
    root's flush that sends it (not root's uid)."""
    to = rcpt()
    nobody = pwd.getpwnam("nobody").pw_uid
    assert nobody not in (0, inst.uid)
    inst.write_system(host="127.0.0.1", port=servers.ports["closed"],
                      timeout=5, queue=True)
    before = queue_ids(inst)
    rc, out, err = inst.run(["--", to], user="nobody")
    assert (rc, err) == (0, ""), err
    inst.check_log(nobody, status="queued", rcpt=to)
    (qid,) = [i for i in queue_ids(inst) if i not in before]
    with open(os.path.join(inst.spool, "msg", qid, "env")) as f:
        text = f.read()
    assert text.startswith("mailhop-queue 2\naccount test\n"
                           "sender alice@example.org\nuid %d\n" % nobody), \
        text
    rc, out, err = inst.run(["-bp"])
    assert (rc, err) == (0, ""), err
    assert re.search(r"(?m)^%s .* alice@example\.org\n  \(account test, "
                     r"uid %d, 1 attempt, next try in \d+ min: "
                     % (qid, nobody), out), out

    inst.write_system(queue=True)
    rc, out, err = inst.run(["-qI" + qid], as_root=True)
    assert (rc, err) == (0, ""), err
    inst.check_log(nobody, status="sent", rcpt=to, queue=qid)
    assert len(servers.wait_for_delivery(to)) == 1
    assert queue_ids(inst) == before


def test_system_queue_killed_sender(inst, servers, rcpt):
    """A system-mode sender's message is in the system queue while it
    sends, held by its queue keeper: root's -qI meanwhile leaves it
    ("being sent by another mailhop"); after kill -9 of the sender (the
    keeper ends with it, and the lock) root's -q delivers it once."""
    to = rcpt()
    inst.write_system(host="127.0.0.1", port=servers.ports["silent"],
                      timeout=30, queue=True)
    before = queue_ids(inst)
    argv = ["setpriv", "--reuid=%d" % inst.uid, "--regid=%d" % inst.gid,
            "--clear-groups", "--", inst.binary, "--", to]
    p = servers.popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, cwd="/",
                      env={"PATH": "/usr/bin:/bin", "HOME": "/",
                           "LANG": "C.UTF-8"})
    p.stdin.write(MESSAGE)
    p.stdin.close()
    end = time.monotonic() + 15
    while not [i for i in queue_ids(inst) if i not in before]:
        assert p.poll() is None and time.monotonic() < end, p.stderr.read()
        time.sleep(0.01)
    (new,) = [i for i in queue_ids(inst) if i not in before]
    inst.write_system(queue=True)
    rc, out, err = inst.run(["-v", "-qI"], as_root=True)
    assert rc == 0 and "1 being sent by another mailhop" in err, err
    assert p.poll() is None
    servers.assert_nothing_delivered(to)
    p.kill()
    p.stdin = None
    p.communicate(timeout=10)
    assert p.returncode == -9
    end = time.monotonic() + 10
    while new in queue_ids(inst):
        assert time.monotonic() < end, "still queued"
        rc, out, err = inst.run(["-q"], as_root=True)
        assert rc == 0, err
        time.sleep(0.1)
    assert len(servers.wait_for_delivery(to)) == 1
    assert queue_ids(inst) == before
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 1


def blocked_on_stdin(inst, argv, binary=None):
    """argv run as USER with a pipe on stdin that is held open and no
    byte written, started with core dumps allowed (RLIMIT_CORE
    unlimited); returns the Popen once the process is inside read(2) of
    fd 0, or poll(2) of one descriptor as -bs waits for a command
    (/proc/PID/syscall), with the binary mapped (not setpriv)."""
    e = {"PATH": "/usr/bin:/bin", "HOME": "/", "LANG": "C.UTF-8"}

    def allow_core():
        resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY,
                                                  resource.RLIM_INFINITY))
    p = inst.servers.popen(
        ["setpriv", "--reuid=%d" % inst.uid, "--regid=%d" % inst.gid,
         "--clear-groups", "--", binary or inst.binary] + list(argv),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env=e, cwd="/", preexec_fn=allow_core)
    exe = os.path.realpath(binary or inst.binary)
    end = time.monotonic() + 20
    while time.monotonic() < end:
        try:
            if os.readlink("/proc/%d/exe" % p.pid) == exe and re.match(
                    r"(0 0x0 |7 0x[0-9a-f]+ 0x1 )", proc(p.pid, "syscall")):
                return p
        except OSError:
            pass
        if p.poll() is not None:
            break
        time.sleep(0.05)
    p.kill()
    out, err = p.communicate()
    pytest.fail("not blocked on stdin: rc %s, %r" % (p.returncode, err))


def kill_and_wait(p):
    p.kill()
    p.communicate()


def proc(pid, name):
    with open("/proc/%d/%s" % (pid, name)) as f:
        return f.read()


def core_limit(pid):
    """The soft and hard Max core file size of /proc/PID/limits."""
    m = re.search(r"^Max core file size\s+(\S+)\s+(\S+)",
                  proc(pid, "limits"), re.M)
    return m.group(1), m.group(2)


def memory_count(pid, needle):
    """How many times needle is in the writable mappings of pid (root may
    read /proc/PID/mem of a process that is not dumpable)."""
    n = 0
    with open("/proc/%d/maps" % pid) as maps, \
            open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for line in maps:
            f = line.split()
            if "w" not in f[1]:
                continue
            lo, hi = (int(x, 16) for x in f[0].split("-"))
            try:
                mem.seek(lo)
                n += mem.read(hi - lo).count(needle)
            except OSError:
                pass
    return n


def test_no_core_dump_while_a_password_is_held(inst, servers):
    """An ordinary user's run (the binary without the set-group-id bit, a
    config of the user's own with the password in it), started with core
    dumps allowed, waits for the message with the password in memory:
    its core limit is 0, and it is not dumpable, so the kernel gives its
    /proc/PID files to root.  The control, cat started the same way,
    keeps the unlimited core size and its own /proc files."""
    plain = os.path.join(inst.base, "plain-mailhop")
    shutil.copyfile(inst.binary, plain)
    os.chmod(plain, 0o755)
    conf = os.path.join(inst.out, "core.conf")
    shutil.copyfile(servers.write_config(), conf)
    os.chown(conf, inst.uid, inst.gid)
    os.chmod(conf, 0o600)
    password = servers.users["alice"].encode()
    p = blocked_on_stdin(inst, ["-C", conf, "--", "x@example.org"],
                         binary=plain)
    try:
        assert memory_count(p.pid, password) >= 1
        assert core_limit(p.pid) == ("0", "0")
        uids = re.search(r"^Uid:\s+(.*)$", proc(p.pid, "status"),
                         re.M).group(1).split()
        assert uids == [str(inst.uid)] * 4
        assert os.stat("/proc/%d/status" % p.pid).st_uid == 0
    finally:
        kill_and_wait(p)
    c = blocked_on_stdin(inst, [], binary="/usr/bin/cat")
    try:
        assert core_limit(c.pid) == ("unlimited", "unlimited")
        assert os.stat("/proc/%d/status" % c.pid).st_uid == inst.uid
    finally:
        kill_and_wait(c)


def test_group_dropped_and_file_wiped_before_stdin(inst, servers):
    """System mode blocked on the message: the group is gone (Gid and
    Groups of /proc/PID/status), core dumps are off, and the bytes of
    the system file, every account's password with them, are wiped once
    the account is chosen: a comment of the file (confparse blanks the
    comments of what it parses, so it is nowhere else) is not in memory,
    while the chosen account's password is.  -bs, which chooses an
    account for each message, keeps the file: the comment is found."""
    marker = b"# only in the system file, 7f3a9c"
    inst.write_system()
    with open(inst.conf, "rb") as f:
        text = f.read()
    with open(inst.conf, "wb") as f:
        f.write(marker + b"\n" + text)
    mailhop_gid = grp.getgrnam(GROUP).gr_gid
    p = blocked_on_stdin(inst, ["--", "x@example.org"])
    try:
        st = proc(p.pid, "status")
        gids = re.search(r"^Gid:\s+(.*)$", st, re.M).group(1).split()
        groups = re.search(r"^Groups:\s*(.*)$", st, re.M).group(1).split()
        assert gids == [str(inst.gid)] * 4, st
        assert str(mailhop_gid) not in groups, st
        assert core_limit(p.pid) == ("0", "0")
        assert memory_count(p.pid, servers.users["alice"].encode()) >= 1
        assert memory_count(p.pid, marker) == 0
    finally:
        kill_and_wait(p)
    p = blocked_on_stdin(inst, ["-bs"])
    try:
        assert memory_count(p.pid, marker) == 1
    finally:
        kill_and_wait(p)


def test_system_queue_lifetime_through_the_keeper(inst, servers, rcpt):
    """queue_lifetime reaches the queue keeper: the user's -q, whose due
    pass the keeper runs, expires a message of a 2h account queued 2 h
    and a second ago (its next try hours away), which the default five
    days would leave waiting; mailq says it expired after 2 hours."""
    to = rcpt()
    inst.write_system(host="127.0.0.1", port=servers.ports["closed"],
                      timeout=5, queue=True,
                      extra={"queue_lifetime": "2h"})
    before = queue_ids(inst)
    rc, out, err = inst.run(["--", to])
    assert (rc, err) == (0, ""), err
    (qid,) = [i for i in queue_ids(inst) if i not in before]
    envfile = os.path.join(inst.spool, "msg", qid, "env")
    now = int(time.time())
    with open(envfile) as f:
        lines = f.read().splitlines()
    lines = ["created %d" % (now - 2 * 3600 - 1) if ln.startswith("created ")
             else "next-try %d" % (now + 3 * 3600)
             if ln.startswith("next-try ") else ln for ln in lines]
    with open(envfile, "w") as f:  # in place: owner and mode stay
        f.write("\n".join(lines) + "\n")
    rc, out, err = inst.run(["-q"])
    assert (rc, err) == (0, ""), err
    assert qid not in queue_ids(inst) and qid in queue_ids(inst, "failed")
    rc, out, err = inst.run(["-bp"])
    assert rc == 0 and "expired after 2 hours; last error: " in out, out
    rc, out, err = inst.run(["-qD" + qid], as_root=True)
    assert rc == 0, err
    assert qid not in queue_ids(inst, "failed")
