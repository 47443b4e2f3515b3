# SPDX-License-Identifier: ISC
"""Every argv of callers.md section 5, replayed as that caller runs it:
argv[0] as it passes it (a symlink of that name to mailhop), its options,
its message shape (its headers, line ends, missing Date, Message-ID or
From, a bare `root`), stdin as a pipe or as a regular file not at offset
0, stdout and stderr where it points them.  The config is found the way
the caller's environment finds it ($XDG_CONFIG_HOME); bare local names go
through the account's aliases file.  Each test asserts the exit code and
what arrived through the real Postfix: the bytes and the envelope."""

import os
import re
import socket
import subprocess
import time

import pytest

import harness
from conftest import MAILHOP
from mailmodel import check_arrival

# Where the callers look for the binary, under the test's own root.
NAMES = ["usr/sbin/sendmail", "usr/lib/sendmail", "bin/sendmail",
         "bin/send-mail", "bin/mailq", "bin/newaliases"]

CRON_BODY = "Grüße from a job: ✓\n".encode()


class Caller:
    """One test's world: symlinks named as the callers name mailhop, a
    config in $XDG_CONFIG_HOME with an aliases file, a way to run argv."""

    def __init__(self, servers, root, aliases=None, extra=None,
                 allow_from=None):
        self.servers = servers
        self.root = str(root)
        for n in NAMES:
            p = os.path.join(self.root, n)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            os.symlink(MAILHOP, p)
        keys = {k: harness.conf_quote(v) for k, v in (extra or {}).items()}
        if aliases is not None:
            ap = os.path.join(self.root, "aliases")
            with open(ap, "w") as f:
                f.write("".join("%s: %s\n" % kv for kv in aliases.items()))
            keys["aliases"] = harness.conf_quote(ap)
        src = servers.write_config(extra=keys, allow_from=allow_from)
        self.xdg = os.path.join(self.root, "xdg")
        os.makedirs(os.path.join(self.xdg, "mailhop"))
        dst = os.path.join(self.xdg, "mailhop", "config")
        with open(src, "rb") as f:
            text = f.read()
        fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(text)

    def path(self, argv0):
        """The symlink for the caller's argv[0]: "/usr/sbin/sendmail" is
        ROOT/usr/sbin/sendmail; a bare name is looked up in ROOT/bin."""
        if argv0.startswith("/"):
            return self.root + argv0
        return argv0

    def env(self, **kw):
        e = {"PATH": "%s/bin:/usr/bin:/bin" % self.root,
             "HOME": os.path.join(self.root, "home"),
             "XDG_CONFIG_HOME": self.xdg, "LANG": "C.UTF-8", "TZ": "UTC"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        e.update(kw)
        return e

    def run(self, argv, data=b"", stdin="pipe", quiet=False, env=None,
            shell=False, timeout=30):
        """Run argv (argv[0] as the caller gives it; with shell, one
        command string for /bin/sh -c).  stdin: "pipe", "file" (a regular
        file whose offset is past some other bytes), "unlinked" (the same,
        unlinked after open), or "open" (a pipe never closed).  quiet:
        stdout and stderr are /dev/null.  Returns (exit code, stdout,
        stderr)."""
        if shell:
            argv = ["/bin/sh", "-c", argv.replace(
                "/usr/sbin/", self.root + "/usr/sbin/")]
        else:
            argv = [self.path(argv[0])] + list(argv[1:])
        env = env or self.env()
        cmd = argv
        if hasattr(self.servers, "command"):
            cmd = self.servers.command(argv, env)
        out = subprocess.DEVNULL if quiet else subprocess.PIPE
        f = None
        hold = None
        if stdin == "open":
            f, hold = os.pipe()
        elif stdin in ("file", "unlinked"):
            name = os.path.join(self.root, "stdin")
            f = open(name, "w+b")
            f.write(b"Subject: not this one\n\nbytes before the offset\n")
            start = f.tell()
            f.write(data)
            f.flush()
            f.seek(start)
            if stdin == "unlinked":
                os.unlink(name)
        p = subprocess.Popen(cmd, stdin=f or subprocess.PIPE, stdout=out,
                             stderr=out, env=env)
        try:
            # With "open", the write end stays open in this process for
            # the whole run: mailhop must not wait for the end of input.
            o, e = p.communicate(None if f is not None else data,
                                 timeout=timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
            pytest.fail("%s did not finish in %ss" % (argv, timeout))
        finally:
            if hold is not None:
                os.close(f)
                os.close(hold)
            elif f is not None:
                f.close()
        return p.returncode, o or b"", (e or b"").decode("utf-8", "replace")


# The address of the account Caller writes (harness.write_config).
ACCOUNT_FROM = b"alice@example.org"


def qualified(data, fields, domain="example.org"):
    """data with the header fields named in fields (lines, without their
    line end) as mailhop sends them: each bare name in To or Cc qualified
    with the local domain, each in From replaced by the account's address
    (issue 4: a local From is rewritten), the rest of the field as it was
    (alias.h).  fields maps a header line to the same line with the names
    given in it qualified; every line given must be in the header."""
    head, sep, body = data.partition(b"\n\n")
    if not sep:
        head, sep, body = data.partition(b"\r\n\r\n")
    lines = head.split(b"\n")
    for old, names in fields.items():
        i = [ln.rstrip(b"\r") for ln in lines].index(old)
        new = old
        for n in names:
            to = ACCOUNT_FROM if old.startswith(b"From:") \
                else n + b"@" + domain.encode()
            new = re.sub(rb"(?<![\w.@-])" + re.escape(n) + rb"(?![\w.@-])",
                         to, new, count=1)
        assert new != old, (old, names)
        lines[i] = new + lines[i][len(old):]
    return b"\n".join(lines) + sep + body


def arrived(servers, rcpts, data, sender, sent=None, **kw):
    """Each of rcpts got data once, with envelope sender sender; sent is
    data as mailhop sends it (header names qualified), when it differs."""
    got = []
    for r in rcpts:
        msgs = servers.wait_for_delivery(r)
        got.append(check_arrival(msgs[0], sent or data, sender, r, **kw))
    servers.wait_queue_empty()
    for r in rcpts:
        assert len(servers.maildir_messages(r)) == 1, r
    return got


def sent_ok(res):
    rc, out, err = res
    assert (rc, out, err) == (0, b"", ""), res


# ---------------------------------------------------------------- cron


def cron_message(from_line, to, extra=""):
    return ("From: %s\nTo: %s\nSubject: Cron <alice@host> ./job.sh\n"
            "MIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 8bit\n%s"
            "X-Cron-Env: <SHELL=/bin/sh>\nX-Cron-Env: <HOME=/root>\n"
            "\n" % (from_line, to, extra)).encode() + CRON_BODY


def test_cronie(servers, rcpt, tmp_path):
    """cronie: -t with To: root, -f root, a bare <root> in From; the job's
    environment; a pipe."""
    to = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": to})
    data = cron_message('"(Cron Daemon)" <root>', "root",
                        "Auto-Submitted: auto-generated\n"
                        "Precedence: bulk\n")
    sent_ok(c.run(["/usr/sbin/sendmail", "-FCronDaemon", "-i", "-odi",
                   "-oem", "-oi", "-t", "-f", "root"], data))
    sent = qualified(data, {b'From: "(Cron Daemon)" <root>': [b"root"],
                            b"To: root": [b"root"]})
    # -f root is local: the envelope sender is the account's address.
    (got,) = arrived(servers, [to], data, "alice@example.org", sent)
    assert set(got) >= {"Date", "Message-ID"}


@pytest.mark.parametrize("argv", [
    ["/usr/sbin/sendmail", "-FCronDaemon", "-i", "-B8BITMIME", "-oem",
     "root"],
    ["/usr/sbin/sendmail", "-i", "-FCronDaemon", "-B8BITMIME", "-oem",
     "root"],
], ids=["bookworm", "older-order"])
def test_debian_cron(servers, rcpt, tmp_path, argv):
    """Debian cron: the recipient as an argument, an 8-bit body with
    -B8BITMIME, From: root (Cron Daemon)."""
    to = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": to})
    data = cron_message("root (Cron Daemon)", "root")
    sent_ok(c.run(argv, data))
    sent = qualified(data, {b"From: root (Cron Daemon)": [b"root"],
                            b"To: root": [b"root"]})
    (got,) = arrived(servers, [to], data, "alice@example.org", sent)
    assert got["protocol"] == "ESMTPSA"


def test_debian_cron_comma_list(servers, rcpt, tmp_path):
    """MAILTO=a@x,b@y reaches sendmail as one argument (R6)."""
    a, b = rcpt("a"), rcpt("b")
    c = Caller(servers, tmp_path)
    data = cron_message("root (Cron Daemon)", "%s,%s" % (a, b))
    sent_ok(c.run(["/usr/sbin/sendmail", "-FCronDaemon", "-i",
                   "-B8BITMIME", "-oem", "%s,%s" % (a, b)], data))
    sent = qualified(data, {b"From: root (Cron Daemon)": [b"root"]})
    arrived(servers, [a, b], data, "alice@example.org", sent)


def test_anacron(servers, rcpt, tmp_path):
    """anacron: no -i, stdin a regular file not at offset 0, stdout and
    stderr /dev/null."""
    to = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": to})
    data = ("From: Anacron <root>\nTo: root\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=\"UTF-8\"\n"
            "Content-Transfer-Encoding: 8bit\n"
            "Subject: Anacron job 'cron.daily' on host\n\n"
            "run-parts: /etc/cron.daily/x exited with return code 1\n"
            ".\nthe line above is a lone dot\n").encode()
    rc, _, _ = c.run(["/usr/sbin/sendmail", "-FAnacron", "-odi", "root"],
                     data, stdin="file", quiet=True)
    assert rc == 0
    sent = qualified(data, {b"From: Anacron <root>": [b"root"],
                            b"To: root": [b"root"]})
    arrived(servers, [to], data, "alice@example.org", sent)


def test_busybox_crond(servers, rcpt, tmp_path):
    """busybox crond: `sendmail -ti` through PATH, only To and Subject,
    stdin a file."""
    to = rcpt("mailto")
    c = Caller(servers, tmp_path)
    data = ("To: %s\nSubject: cron: ./job.sh\n\nsome output\n" % to).encode()
    sent_ok(c.run(["sendmail", "-ti"], data, stdin="file"))
    (got,) = arrived(servers, [to], data, "alice@example.org")
    assert set(got) >= {"Date", "Message-ID", "From"}


def test_fcron(servers, rcpt, tmp_path):
    """fcron: a bare argument recipient, no -i, stdin a temp file; From
    user@host with this host's name (gethostname), rewritten to the
    account's address."""
    to = rcpt("root")
    host = socket.gethostname()
    c = Caller(servers, tmp_path, aliases={"root": to})
    data = ("From: alice@%s (fcron)\n"
            "To: root@%s\n"
            "Subject: fcron <alice@host> ./job.sh\n"
            "Content-Type: text/plain; charset=UTF-8\n"
            "Auto-Submitted: auto-generated\n"
            "X-Cron-Env: <HOME=/home/alice>\n\n" % (host, host)
            ).encode() + CRON_BODY
    sent_ok(c.run(["/usr/sbin/sendmail", "-Ffcron", "-odi", "root"], data,
                  stdin="unlinked"))
    line = ("From: alice@%s (fcron)" % host).encode()
    sent = qualified(data, {line: [("alice@%s" % host).encode()]})
    arrived(servers, [to], data, "alice@example.org", sent)


def test_systemd_cron(servers, rcpt, tmp_path):
    """systemd-cron: -B and its value apart, CTE binary, a Date."""
    to = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": to})
    data = ("Content-Type: text/plain; charset=\"utf-8\"\n"
            "MIME-Version: 1.0\nContent-Transfer-Encoding: binary\n"
            "Date: Thu, 03 Dec 2026 17:00:00 +0000\n"
            "From: root (systemd-cron)\nTo: root\n"
            "Subject: [host] result of job failed\n"
            "X-Mailer: systemd-cron 2.8.1\n"
            "Auto-Submitted: auto-generated\n\n").encode() + CRON_BODY
    sent_ok(c.run(["/usr/sbin/sendmail", "-i", "-B", "8BITMIME", "root"],
                  data))
    sent = qualified(data, {b"From: root (systemd-cron)": [b"root"],
                            b"To: root": [b"root"]})
    (got,) = arrived(servers, [to], data, "alice@example.org", sent)
    assert "Date" not in got


# ---------------------------------------------------------------- MUAs


def test_mutt(servers, rcpt, tmp_path):
    """mutt/neomutt: argv[0] the basename, -f, DSN options, --, To, Cc and
    Bcc as arguments; a full header without Bcc; stdin an unlinked temp
    file."""
    a, b, bcc = rcpt("a"), rcpt("b"), rcpt("bcc")
    c = Caller(servers, tmp_path, allow_from=["me@example.org"])
    data = ("Date: Thu, 3 Dec 2026 17:00:00 +0000\n"
            "From: Me <me@example.org>\nTo: %s\nCc: %s\n"
            "Subject: mutt\nMessage-ID: <20261203170000.ab12@example.org>\n"
            "User-Agent: Mutt/2.2.12\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=utf-8\n"
            "Content-Disposition: inline\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "Grüße\n" % (a, b)).encode()
    sent_ok(c.run(["sendmail", "-oem", "-oi", "-B8BITMIME", "-f",
                   "me@example.org", "-N", "failure,delay", "-R", "hdrs",
                   "--", a, b, bcc], data, stdin="unlinked"))
    for g in arrived(servers, [a, b, bcc], data, "me@example.org"):
        assert g["expected"].added == []


def test_git_send_email(servers, rcpt, tmp_path):
    to, cc = rcpt("to"), rcpt("cc")
    c = Caller(servers, tmp_path, allow_from=["me@example.org"])
    data = ("From: Me <me@example.org>\nTo: %s\nCc: %s\n"
            "Subject: [PATCH 1/2] fix the thing\n"
            "Date: Thu,  3 Dec 2026 17:00:00 +0000\n"
            "Message-ID: <20261203170000.1-me@example.org>\n"
            "X-Mailer: git-send-email 2.55.0\nMIME-Version: 1.0\n"
            "Content-Transfer-Encoding: 8bit\n\n"
            "---\n a.c | 2 +-\n\ndiff --git a/a.c b/a.c\n" % (to, cc)
            ).encode()
    sent_ok(c.run(["/usr/sbin/sendmail", "-f", "me@example.org", "-i", to,
                   cc], data))
    arrived(servers, [to, cc], data, "me@example.org")


def test_bsd_mailx(servers, rcpt, tmp_path):
    """bsd-mailx -r: -t with Bcc written into the message (removed before
    sending), a bare root in To, a lone dot, no Date or Message-ID."""
    root, u2, cc, bcc = rcpt("root"), rcpt("u2"), rcpt("cc"), rcpt("bcc")
    c = Caller(servers, tmp_path, aliases={"root": root},
               allow_from=["sender@example.org"])
    data = ("From: sender@example.org\nTo: root, %s\nSubject: mailx\n"
            "Cc: %s\nBcc: %s\nMIME-Version: 1.0\n"
            "Content-Type: text/plain; charset=\"UTF-8\"\n"
            "Content-Transfer-Encoding: 8bit\n\nline\n.\nafter the dot\n"
            % (u2, cc, bcc)).encode()
    sent_ok(c.run(["sendmail", "-i", "-t", "-f", "sender@example.org"],
                  data, stdin="file"))
    sent = qualified(data, {("To: root, %s" % u2).encode(): [b"root"]})
    got = arrived(servers, [root, u2, cc, bcc], data, "sender@example.org",
                  sent)
    assert got[3]["expected"].removed == ["Bcc"]
    raw = servers.maildir_messages(bcc)[0]
    assert bcc.encode() not in harness.split_trace(raw)[1]


def test_s_nail(servers, rcpt, tmp_path):
    """s-nail -r: -F and a value with a space as two arguments, -m -v
    (the transcript goes to stderr only), --, a bare user1."""
    u1, u2 = rcpt("user1"), rcpt("u2")
    c = Caller(servers, tmp_path, aliases={"user1": u1},
               allow_from=["sender@example.org"])
    data = ("Date: Thu, 03 Dec 2026 17:00:00 +0000\n"
            "From: Sender Name <sender@example.org>\nTo: user1, %s\n"
            "Subject: s-nail\n"
            "Message-ID: <20261203170000.x@example.org>\n"
            "User-Agent: s-nail v14.9.24\n\nbody\n" % u2).encode()
    rc, out, err = c.run(["sendmail", "-i", "-m", "-v", "-F", "Sender Name",
                          "-f", "sender@example.org", "--", "user1", u2],
                         data, stdin="file")
    assert (rc, out) == (0, b""), err
    assert "MAIL FROM:<sender@example.org>" in err
    sent = qualified(data, {("To: user1, %s" % u2).encode(): [b"user1"]})
    arrived(servers, [u1, u2], data, "sender@example.org", sent)


def test_gnu_mailutils(servers, rcpt, tmp_path):
    """mailutils mail: -oi -f addr -t, Bcc in the header."""
    to, bcc = rcpt("to"), rcpt("bcc")
    c = Caller(servers, tmp_path, allow_from=["root@example.org"])
    data = ("To: %s\nBcc: %s\nSubject: mailutils\n"
            "Date: Thu, 3 Dec 2026 17:00:00 +0000\n"
            "User-Agent: mail (GNU Mailutils 3.17)\n\nbody\n" % (to, bcc)
            ).encode()
    sent_ok(c.run(["/usr/sbin/sendmail", "-oi", "-f", "root@example.org",
                   "-t"], data))
    arrived(servers, [to, bcc], data, "root@example.org")


def test_send_mail_argv0(servers, rcpt, tmp_path):
    """Historical BSD mail: argv[0] send-mail means send mode (R13)."""
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = b"To: root\nSubject: old BSD mail\n\nbody\n"
    sent_ok(c.run(["send-mail", "-i", "--", "root"], data))
    sent = qualified(data, {b"To: root": [b"root"]})
    arrived(servers, [root], data, "alice@example.org", sent)


# --------------------------------------------------------- scripts, daemons


def test_php_mail(servers, rcpt, tmp_path):
    """PHP mail() with a 5th argument: through /bin/sh, -t with To: Name
    <a>, b; CRLF header lines around an LF body; no From, Date or
    Message-ID."""
    a, b = rcpt("a"), rcpt("b")
    c = Caller(servers, tmp_path, allow_from=["bounce@example.org"])
    data = ("To: Someone <%s>, %s\r\nSubject: php\r\n"
            "X-Mailer: PHP/8.2\r\n\r\nline one\nline two\n" % (a, b)
            ).encode()
    sent_ok(c.run("/usr/sbin/sendmail -t -i -fbounce@example.org", data,
                  shell=True))
    got = arrived(servers, [a, b], data, "bounce@example.org")
    assert got[0]["expected"].added == ["Date", "Message-ID", "From"]


def test_sudo(servers, rcpt, tmp_path):
    """sudo: `sendmail -t` with sudo's four variables (HOME=/), To: root
    and a bare login in From."""
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = ("To: root\nFrom: alice\nAuto-Submitted: auto-generated\n"
            "Subject: *** SECURITY information for host ***\n\n"
            "host : Dec  3 17:00:00 : alice : user NOT in sudoers\n"
            ).encode()
    # XDG_CONFIG_HOME stands in for the system file, which a test cannot
    # write; everything else is sudo's environment.
    env = c.env()
    env = {"HOME": "/", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin",
           "LOGNAME": "root", "USER": "root",
           "XDG_CONFIG_HOME": env["XDG_CONFIG_HOME"]}
    sent_ok(c.run(["/usr/sbin/sendmail", "-t"], data, env=env))
    sent = qualified(data, {b"To: root": [b"root"], b"From: alice": [b"alice"]})
    arrived(servers, [root], data, "alice@example.org", sent)


def test_mdadm(servers, rcpt, tmp_path):
    """mdadm with MAILFROM: a glued -f through a shell."""
    to = rcpt("raid")
    c = Caller(servers, tmp_path, allow_from=["raid@example.org"])
    data = ("From: raid@example.org\nTo: %s\n"
            "Subject: Fail event on /dev/md0:host\n\n"
            "This is an automatically generated mail message.\n" % to
            ).encode()
    sent_ok(c.run("/usr/sbin/sendmail -t -fraid@example.org", data,
                  shell=True))
    arrived(servers, [to], data, "raid@example.org")


def test_mdadm_bare_root(servers, rcpt, tmp_path):
    """mdadm without MAILFROM: From: mdadm monitoring <root>, -t."""
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = (b"From: mdadm monitoring <root>\nTo: root\n"
            b"Subject: DegradedArray event on /dev/md0:host\n\n"
            b"Personalities : [raid1]\n")
    sent_ok(c.run("/usr/sbin/sendmail -t", data, shell=True))
    sent = qualified(data, {b"From: mdadm monitoring <root>": [b"root"],
                            b"To: root": [b"root"]})
    arrived(servers, [root], data, "alice@example.org", sent)


def test_logwatch(servers, rcpt, tmp_path):
    """logwatch: -t, From: Logwatch (a bare word, not an address)."""
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = (b"To: root\nFrom: Logwatch\nSubject: Logwatch for host (Linux)\n"
            b"MIME-Version: 1.0\nContent-Transfer-Encoding: 7bit\n"
            b"Content-Type: text/plain; charset=\"UTF-8\"\n\n"
            b" ### Logwatch 7.4.3 ###\n")
    sent_ok(c.run(["/usr/sbin/sendmail", "-t"], data))
    # "Logwatch" is a bare word; as a mailbox it is a local name too.
    sent = qualified(data, {b"To: root": [b"root"],
                            b"From: Logwatch": [b"Logwatch"]})
    arrived(servers, [root], data, "alice@example.org", sent)


def test_unattended_upgrades(servers, rcpt, tmp_path):
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = (b"Subject: unattended-upgrades result for host: SUCCESS\n"
            b"From: root\nTo: root\nAuto-Submitted: auto-generated\n"
            b"MIME-Version: 1.0\n"
            b"Content-Type: text/plain; charset=\"utf-8\"\n"
            b"Content-Transfer-Encoding: quoted-printable\n\n"
            b"Packages that were upgraded:\n libc6=20\n")
    sent_ok(c.run(["/usr/sbin/sendmail", "-oi", "-t"], data))
    sent = qualified(data, {b"From: root": [b"root"], b"To: root": [b"root"]})
    arrived(servers, [root], data, "alice@example.org", sent)


def test_fail2ban(servers, rcpt, tmp_path):
    """fail2ban: a bare envelope sender and recipient, no -i, no final
    newline."""
    root = rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root})
    data = (b"Subject: [Fail2Ban] sshd: banned 192.0.2.1 from host\n"
            b"Date: Thu, 03 Dec 2026 17:00:00 +0000\n"
            b"From: Fail2Ban <fail2ban>\nTo: root\n\n"
            b"Hi,\n\nThe IP 192.0.2.1 has just been banned.\n\nRegards,\n"
            b"\nFail2Ban")
    sent_ok(c.run("/usr/sbin/sendmail -f \"fail2ban\" \"root\"", data,
                  shell=True))
    sent = qualified(data, {b"From: Fail2Ban <fail2ban>": [b"fail2ban"],
                            b"To: root": [b"root"]})
    # -f fail2ban is local: the account's address goes in MAIL FROM.
    arrived(servers, [root], data, "alice@example.org", sent)


def test_atd(servers, rcpt, tmp_path):
    """atd: the owner's login as the recipient, qualified with the
    account's local_domain (no alias); only a Subject; stdin a file;
    stdout and stderr /dev/null."""
    domain = "at-%s.example.net" % os.urandom(4).hex()
    alice = servers.add_mailbox("alice@%s" % domain)
    c = Caller(servers, tmp_path, extra={"local_domain": domain})
    data = b"Subject: Output from your job 42\nTo: alice\n\nhello\n"
    rc, _, _ = c.run(["sendmail", "-i", "alice"], data, stdin="file",
                     quiet=True)
    assert rc == 0
    sent = qualified(data, {b"To: alice": [b"alice"]}, domain)
    arrived(servers, [alice], data, "alice@example.org", sent)


def test_ruby_mail(servers, rcpt, tmp_path):
    to = rcpt("to")
    c = Caller(servers, tmp_path, allow_from=["from@example.org"])
    data = ("Date: Thu, 03 Dec 2026 17:00:00 +0000\n"
            "From: from@example.org\nTo: %s\n"
            "Message-ID: <abc@example.org>\nSubject: rails\n"
            "Mime-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
            "Content-Transfer-Encoding: 7bit\n\nhi\n" % to).encode()
    sent_ok(c.run(["/usr/sbin/sendmail", "-i", "-f", "from@example.org",
                   "--", to], data))
    arrived(servers, [to], data, "from@example.org")


def test_script_t_with_argument(servers, rcpt, tmp_path):
    """A script: `sendmail -t <addr>` adds the argument to the header
    recipients; lower-case names and no blank line before the body."""
    to, arg = rcpt("to"), rcpt("arg")
    c = Caller(servers, tmp_path)
    data = ("subject: script\nto: %s\nthe body starts here\n" % to).encode()
    sent_ok(c.run(["/usr/sbin/sendmail", "-t", arg], data))
    arrived(servers, [to, arg], data, "alice@example.org")


# --------------------------------------------------------------- modes


def smtp_replies(out):
    """The server's replies, one string per line, CRLF checked."""
    assert out.endswith(b"\r\n"), out
    lines = out[:-2].split(b"\r\n")
    assert all(b"\n" not in ln and b"\r" not in ln for ln in lines), out
    return [ln.decode() for ln in lines]


def test_alpine_bs(servers, rcpt, tmp_path):
    """Alpine's -bs: an SMTP dialogue on stdin and stdout.  Each message
    goes through the account (aliases too), and the reply to its dot is
    the relay's outcome: a refused recipient gets 554 and nothing is
    sent; the next message in the same session still goes."""
    to, root = rcpt("to"), rcpt("root")
    c = Caller(servers, tmp_path, aliases={"root": root},
               allow_from=["me@example.org"])
    msg1 = ("From: Me <me@example.org>\r\nTo: %s\r\nCc: root\r\n"
            "Subject: alpine\r\nDate: Thu, 3 Dec 2026 17:00:00 +0000\r\n"
            "Message-ID: <alpine.1@example.org>\r\n\r\n"
            ".leading dot\r\n.\r\nlast\r\n" % to).encode()
    stuffed = msg1.replace(b"\r\n.", b"\r\n..")
    dialogue = (b"EHLO client.example.org\r\n"
                b"MAIL FROM:<me@example.org>\r\n"
                b"RCPT TO:<" + to.encode() + b">\r\nRCPT TO:<root>\r\n"
                b"DATA\r\n" + stuffed + b".\r\n"
                b"MAIL FROM:<me@example.org>\r\n"
                b"RCPT TO:<reject@example.org>\r\nDATA\r\n"
                b"Subject: refused\r\n\r\nx\r\n.\r\nQUIT\r\n")
    rc, out, err = c.run(["/usr/sbin/sendmail", "-bs", "-odb", "-oem"],
                         dialogue)
    assert rc == 0, err
    r = smtp_replies(out)
    assert r[0].startswith("220 ") and r[0].endswith(" ESMTP mailhop")
    assert r[1:] == [r[1], "250 8BITMIME", "250 2.1.0 Ok", "250 2.1.5 Ok",
                     "250 2.1.5 Ok", "354 End data with <CR><LF>.<CR><LF>",
                     r[7], "250 2.1.0 Ok", "250 2.1.5 Ok",
                     "354 End data with <CR><LF>.<CR><LF>", r[11],
                     "221 2.0.0 Bye"], r
    # The 250 says it was sent, quoting Postfix's reply (sent, not
    # queued: there is no queue here).
    assert re.fullmatch(r"250 2\.0\.0 Ok: sent through account \S+ "
                        r"\(server said: 250 2\.0\.0 Ok: [^()]*queued as \w+\)",
                        r[7]), r
    assert r[11].startswith("554 5.0.0 ") and "reject@example.org" in r[11]
    # The refusal is also the one stderr line a person would see.
    assert err.count("\n") == 1 and "reject@example.org" in err, err
    sent = qualified(msg1.replace(b"\r\n", b"\n"), {b"Cc: root": [b"root"]})
    arrived(servers, [to, root], sent, "me@example.org")
    servers.assert_nothing_delivered("reject@example.org")


def test_bs_does_not_wait_for_a_quiet_client(servers, tmp_path):
    """-bs greets at once, with stdin open and silent."""
    c = Caller(servers, tmp_path)
    name = os.path.join(str(tmp_path), "greeting")
    r, w = os.pipe()
    with open(name, "wb") as out:
        p = subprocess.Popen([c.path("/usr/sbin/sendmail"), "-bs"],
                             stdin=r, stdout=out, env=c.env())
    try:
        t0 = time.monotonic()
        while time.monotonic() - t0 < 5:
            with open(name, "rb") as f:
                if f.read().endswith(b"ESMTP mailhop\r\n"):
                    break
            time.sleep(0.02)
        else:
            pytest.fail("no greeting within 5 s")
        os.write(w, b"QUIT\r\n")
        assert p.wait(timeout=10) == 0
    finally:
        os.close(r)
        os.close(w)
        if p.poll() is None:
            p.kill()
            p.wait()


@pytest.mark.parametrize("argv", [
    ["mailq"], ["/usr/sbin/sendmail", "-bp"], ["sendmail", "-bp"]],
    ids=["mailq", "sendmail-bp", "bp-basename"])
def test_list_queue(servers, tmp_path, argv):
    c = Caller(servers, tmp_path)
    assert c.run(argv, stdin="open") == (0, b"mail queue is empty\n", "")


def test_mailq_with_arguments(servers, tmp_path):
    c = Caller(servers, tmp_path)
    rc, out, err = c.run(["mailq", "root"])
    assert (rc, out) == (64, b"")
    assert err == ("mailhop: listing the queue (-bp, mailq) takes no "
                   "recipient arguments; leave them out\n")


@pytest.mark.parametrize("argv", [
    ["newaliases"], ["/usr/sbin/sendmail", "-bi"], ["sendmail", "-I"]],
    ids=["newaliases", "sendmail-bi", "sendmail-I"])
def test_newaliases(servers, rcpt, tmp_path, argv):
    """newaliases checks the account's aliases file and exits 0; a target
    mailhop cannot use is noted on stderr."""
    c = Caller(servers, tmp_path, aliases={"root": "alice, bob@example.org",
                                           "logs": "|/usr/bin/logger"})
    rc, out, err = c.run(argv, stdin="open")
    assert (rc, out) == (0, b"")
    assert err.count("\n") == 1 and "logs" in err, err


def test_newaliases_clean_file_is_silent(servers, tmp_path):
    c = Caller(servers, tmp_path, aliases={"root": "alice"})
    assert c.run(["newaliases"]) == (0, b"", "")


def test_newaliases_without_config(servers, tmp_path):
    """Package scripts run newaliases on machines mailhop does not send
    from yet: a warning, exit 0."""
    c = Caller(servers, tmp_path)
    env = c.env(XDG_CONFIG_HOME=str(tmp_path / "none"))
    rc, out, err = c.run(["newaliases"], env=env)
    assert (rc, out) == (0, b"")
    assert err.startswith("mailhop: warning: ") and \
        err.endswith("; no aliases file checked\n"), err


def test_newaliases_broken_config(servers, tmp_path):
    """A configuration that is there but wrong (its aliases file is
    missing) is an error with its FILE:LINE: KEY, as is a -C file that
    does not exist: only having no configuration at all is a warning."""
    c = Caller(servers, tmp_path, aliases={"root": "alice"})
    os.unlink(os.path.join(str(tmp_path), "aliases"))
    rc, out, err = c.run(["newaliases"])
    assert (rc, out) == (78, b"")
    assert re.fullmatch(r"mailhop: \S+/mailhop/config:\d+: aliases: "
                        r"cannot read \S+/aliases: No such file or "
                        r"directory \(.*\)\n", err), err
    rc, out, err = c.run(["newaliases", "-C", str(tmp_path / "none")])
    assert (rc, out) == (78, b"")
    assert err.startswith("mailhop: cannot read ") and \
        err.count("\n") == 1, err


def test_newaliases_broken_file(servers, tmp_path):
    """A broken aliases file is an error: sending would fail on it."""
    c = Caller(servers, tmp_path, aliases={"root": "alice"})
    with open(os.path.join(str(tmp_path), "aliases"), "a") as f:
        f.write("root: bob\n")
    rc, out, err = c.run(["newaliases"])
    assert (rc, out) == (78, b"")
    assert err.startswith("mailhop: ") and err.count("\n") == 1, err
    assert "aliases:2" in err, err


@pytest.mark.parametrize("argv", [
    ["sendmail", "-q"], ["/usr/sbin/sendmail", "-q30m"]],
    ids=["q", "q30m"])
def test_flush_queue(servers, tmp_path, argv):
    c = Caller(servers, tmp_path)
    assert c.run(argv, stdin="open") == (0, b"", "")


@pytest.mark.parametrize("flag,words", [
    ("-bd", "-bd (run as a daemon) is not supported"),
    ("-bv", "-bv (verify addresses) is not supported"),
    ("-bh", "-bh (host status) is not supported"),
    ("-bx", 'option -b: bad value "x"'),
    ("-k", "unknown option -k"),
])
def test_unsupported_flags(servers, tmp_path, flag, words):
    c = Caller(servers, tmp_path)
    rc, out, err = c.run(["/usr/sbin/sendmail", flag, "root"],
                         stdin="open")
    assert (rc, out) == (64, b"")
    assert err.startswith("mailhop: ") and words in err, err
    assert err.count("\n") == 1


def test_line_break_in_sender_refused_before_connecting(servers, rcpt,
                                                        tmp_path):
    """-f with CR LF: 64, and nothing reaches the server (S26)."""
    to = rcpt("to")
    c = Caller(servers, tmp_path)
    rc, out, err = c.run(["sendmail", "-f", "a@example.org\r\nRCPT TO:<%s>"
                          % to, "-i", to], b"Subject: x\n\nbody\n")
    assert (rc, out) == (64, b"")
    assert "holds a line break" in err
    servers.assert_nothing_delivered(to)
