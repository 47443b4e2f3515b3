# SPDX-License-Identifier: ISC
"""Real input: every message of CPython's email test corpus goes through
mailhop and Postfix (STARTTLS, SCRAM-SHA-256, one argument recipient, no
-t).  What arrives must be the input after the documented changes (see
mailmodel.py); a message mailhop refuses must exit 65 with one line naming
the problem, and nothing may arrive.  The tally is printed at the end of
the run (conftest.py) and, with MAILHOP_CORPUS_SUMMARY=FILE, written
there."""

import glob
import os

import pytest

import conftest
from mailmodel import check_arrival, check_error_line, check_log

CORPUS_DIR = "/usr/lib/python3.11/test/test_email/data"
CORPUS = sorted(glob.glob(os.path.join(CORPUS_DIR, "msg_*.txt")))


def test_corpus_is_there():
    assert len(CORPUS) >= 40, (
        "CPython's email corpus is missing from %s (Debian package "
        "libpython3.11-testsuite; make deps installs it)" % CORPUS_DIR)


@pytest.fixture(scope="module")
def corpus_conf(servers):
    # Other people's messages, From as they wrote it: the policy is not
    # what this tests.
    return servers.write_config(auth="scram-sha-256", name="corpus.conf",
                                allow_from="*")


@pytest.mark.parametrize("path", CORPUS, ids=[os.path.basename(p)
                                              for p in CORPUS])
def test_corpus_message(servers, mailhop, rcpt, corpus_conf, path):
    name = os.path.basename(path)
    with open(path, "rb") as f:
        data = f.read()
    to = rcpt("corpus")
    res = mailhop.send(corpus_conf, [to], data)
    summary = conftest.CORPUS_SUMMARY
    summary[name] = ("failed", "exit %d: %s" % (res.rc, res.stderr.strip())
                     if res.rc != 0 else "delivered, but not as expected")
    if res.rc == 65:
        line = check_error_line(res, 65)
        servers.assert_nothing_delivered(to)
        check_log(servers, res, status="refused", exit=65)
        summary[name] = ("refused", line)
        return
    assert res.rc == 0 and res.stderr == "", res
    got = check_arrival(servers.wait_for_delivery(to)[0], data,
                        "alice@example.org", to)
    check_log(servers, res, status="sent", exit=0, rcpt=to, size=got["size"])
    servers.wait_queue_empty()
    assert len(servers.maildir_messages(to)) == 1
    exp = got["expected"]
    changes = ["added " + k for k in ("Date", "Message-ID", "From")
               if k in got]
    if exp.mbox_from:
        changes.append("mbox From_ line dropped")
    if exp.blank_inserted:
        changes.append("empty line put after the header")
    changes += ["%s removed" % n for n in exp.removed]
    if len(exp.header) < len(exp.sent_header):
        changes.append("Return-Path removed (by Postfix)")
    summary[name] = ("sent", changes)
