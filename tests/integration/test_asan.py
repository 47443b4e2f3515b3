# SPDX-License-Identifier: ISC
"""Smoke test of the AddressSanitizer/UBSan build (env MAILHOP_ASAN,
default build/mailhop-asan): a real delivery and a refused login, with any
sanitizer report on stderr failing the test."""

import re

from mailmodel import check_arrival, check_error_line, check_log

SANITIZER = re.compile(r"AddressSanitizer|LeakSanitizer|runtime error:|"
                       r"UndefinedBehaviorSanitizer|SUMMARY: ")
ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:exitcode=99",
       "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1:exitcode=98"}


def test_asan_delivery(servers, mailhop_asan, rcpt):
    to1, to2 = rcpt("one"), rcpt("two")
    data = (b"From: Alice <alice@example.org>\nTo: %s\nCc: Two <%s>\n"
            b"Bcc: hidden@example.org\nSubject: asan\n\nbody\r\n.\nend"
            % (to1.encode(), to2.encode()))
    conf = servers.write_config(auth="scram-sha-256")
    res = mailhop_asan.run(["-C", conf, "-t"], data, env=ENV)
    assert not SANITIZER.search(res.stderr), res.stderr
    assert res.rc == 0 and res.stderr == "", res
    for to in (to1, to2):
        check_arrival(servers.wait_for_delivery(to)[0], data,
                      "alice@example.org", to)
    check_log(servers, res, status="sent", auth="SCRAM-SHA-256")


def test_asan_refused_login(servers, mailhop_asan, rcpt):
    to = rcpt()
    conf = servers.write_config(password="wrong", auth="plain")
    res = mailhop_asan.run(["-C", conf, to], b"Subject: x\n\ny\n", env=ENV)
    assert not SANITIZER.search(res.stderr), res.stderr
    check_error_line(res, 77)
    servers.assert_nothing_delivered(to)
