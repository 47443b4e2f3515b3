# SPDX-License-Identifier: ISC
"""The shell completions' account names (completions/): a quoted account
name with a space ("my home") is one name, completed as such.  bash is
run for real; zsh's sed command and fish's regular expression are taken
from their files and run on the same file (zsh and fish are not part of
the test machine)."""

import os
import re
import subprocess

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
COMPLETIONS = os.path.join(REPO, "completions")
CONF = """default_account = "work"
account work {
\thost = "a.example.org"
}
account "my home" {
}
\taccount 'other one'{
account bare{
# account commented {
"""
NAMES = ["bare", "my home", "other one", "work"]


def conf(tmp_path):
    p = tmp_path / "config"
    p.write_text(CONF)
    return str(p)


def bash(script, path):
    r = subprocess.run(
        ["bash", "-c", "source %s; %s" % (
            os.path.join(COMPLETIONS, "mailhop.bash"), script), "bash", path],
        capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    return r.stdout.splitlines()


def test_bash_account_names(tmp_path):
    path = conf(tmp_path)
    assert bash('_mailhop_accounts "$1"', path) == NAMES


def test_bash_completes_a_name_with_a_space(tmp_path):
    path = conf(tmp_path)
    for words, want in (
            ('mailhop -C "$1" -a my', ["my\\ home"]),
            ('mailhop -C "$1" -aot', ["-aother\\ one"]),
            ('mailhop -C "$1" --store-password w', ["work"])):
        script = ('COMP_WORDS=(%s); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); '
                  '_mailhop; printf "%%s\\n" "${COMPREPLY[@]}"' % words)
        assert bash(script, path) == want, words


def test_zsh_sed_account_names(tmp_path):
    """The sed command of _mailhop, run by sh on the file."""
    text = open(os.path.join(COMPLETIONS, "_mailhop")).read()
    m = re.search(r"\$\((sed -n .*?) -- \$f 2>/dev/null\)", text, re.S)
    assert m, "no sed command in _mailhop"
    cmd = m.group(1).replace("\\\n", " ")
    r = subprocess.run(["sh", "-c", cmd + ' -- "$1"', "sh", conf(tmp_path)],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r
    assert sorted(r.stdout.splitlines()) == NAMES


def test_fish_regex_account_names(tmp_path):
    """fish's string replace -rf pattern (PCRE2), through Python's re,
    which reads this one alike."""
    text = open(os.path.join(COMPLETIONS, "mailhop.fish")).read()
    m = re.search(r"string replace -rf '((?:[^'\\]|\\.)*)' '([^']*)'", text)
    assert m, "no string replace in mailhop.fish"
    pat = re.sub(r"\\(['\\])", r"\1", m.group(1))
    repl = m.group(2)
    got = []
    for line in CONF.splitlines():
        mm = re.match(pat, line)
        if mm:
            got.append(re.sub(r"\$(\d)",
                              lambda g: mm.group(int(g.group(1))) or "",
                              repl))
    assert sorted(got) == NAMES
