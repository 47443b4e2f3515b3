# SPDX-License-Identifier: ISC
"""What a send maps: libgsasl only when an exchange needs it (SCRAM), so
that a PLAIN, LOGIN, EXTERNAL or OAuth login never pays for loading it
and the libraries it brings (libidn, libntlm, libgssglue); the binary is
not linked with it (make bench, issue 7).  libsecret has its own test in
test_keyring.py."""

import subprocess
import time

import pytest

from conftest_fault import *  # noqa: F401,F403
from faultserver import Scenario, Sleep

MESSAGE = b"From: alice@example.org\nSubject: libraries\n\nbody\n"


def maps_after_auth(servers, mailhop, srv, conf):
    """The shared objects mapped into mailhop once it has logged in and
    waits for the (delayed) reply to MAIL."""
    msg = conf + ".msg"
    with open(msg, "wb") as f:
        f.write(MESSAGE)
    with open(msg, "rb") as f:
        p = servers.popen([mailhop.path, "-C", conf, "--",
                           "bob@example.org"], stdin=f,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    end = time.monotonic() + 10
    while time.monotonic() < end and not (
            srv.sessions and any(c[1].startswith(b"MAIL ")
                                 for c in srv.sessions[0].commands)):
        time.sleep(0.02)
    with open("/proc/%d/maps" % p.pid) as f:
        maps = f.read()
    _, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    return {ln.split()[-1].rsplit("/", 1)[-1] for ln in maps.splitlines()
            if ".so" in ln}


def test_not_linked_with_libgsasl(mailhop):
    ldd = subprocess.run(["ldd", mailhop.path], capture_output=True,
                         text=True, check=True).stdout
    assert "libgnutls" in ldd and "libgsasl" not in ldd, ldd


@pytest.mark.parametrize("mech,loaded", [("PLAIN", False), ("LOGIN", False),
                                         ("SCRAM-SHA-256", True)])
def test_libgsasl_loaded_only_for_scram(servers, mailhop, fault, fault_conf,
                                        mech, loaded):
    srv = fault(Scenario(ehlo_tls=["AUTH " + mech],
                         replies={"MAIL": [Sleep(1.0), "250 ok"]},
                         user="alice", password="pw"))
    maps = maps_after_auth(servers, mailhop, srv,
                           fault_conf(srv, password="pw",
                                      auth=mech.lower()))
    assert srv.sessions[0].auth[0][0] == mech, srv.sessions[0].auth
    assert any(m.startswith("libgnutls") for m in maps), maps
    assert any(m.startswith("libgsasl") for m in maps) == loaded, maps
