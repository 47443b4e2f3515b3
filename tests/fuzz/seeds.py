#!/usr/bin/python3
# SPDX-License-Identifier: ISC
"""Seed corpus for one fuzz target (make fuzz-run), taken from the unit
test tables in tests/data: seeds.py TARGET DIR writes one file per case
into DIR.  A target with no table gets a few hand-written seeds."""
import hashlib
import os
import re
import sys

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'data')


def table(name):
    with open(os.path.join(DATA, name), 'rb') as f:
        return [ln.rstrip(b'\n') for ln in f if not ln.startswith(b'#')]


def unescape(s):
    """The escapes of the tables: \\r \\n \\t \\s \\0 \\\\ \\" \\xHH."""
    out, i = bytearray(), 0
    simple = {ord('r'): b'\r', ord('n'): b'\n', ord('t'): b'\t',
              ord('s'): b' ', ord('0'): b'\0', ord('\\'): b'\\',
              ord('"'): b'"'}
    while i < len(s):
        if s[i] == ord('\\') and i + 1 < len(s):
            c = s[i + 1]
            if c == ord('x') and i + 3 < len(s) + 1:
                try:
                    out.append(int(s[i + 2:i + 4], 16))
                    i += 4
                    continue
                except ValueError:
                    pass
            if c in simple:
                out += simple[c]
                i += 2
                continue
        out.append(s[i])
        i += 1
    return bytes(out)


def quoted(row):
    return [unescape(m) for m in re.findall(rb'"((?:[^"\\]|\\.)*)"', row)]


def reply():
    for row in table('reply_cases.txt') + table('reply_caps.txt'):
        lines = quoted(row.split(b'==>')[0])
        if lines:
            yield b'\r\n'.join(lines) + b'\r\n'


def lhs(name):
    for row in table(name):
        if b'==>' in row:
            yield unescape(row.split(b'==>')[0].strip())


def addr():
    for name in ('addr_lists.txt', 'addr_rewrite.txt', 'addr_check.txt',
                 'addr_idn.txt', 'addr_utf8.txt'):
        yield from lhs(name)


def messages():
    """The input of each msg_cases.txt case."""
    cur = None
    for row in table('msg_cases.txt') + [b'=== end']:
        if row.startswith(b'=== '):
            if cur:
                yield bytes(cur)
            cur = bytearray()
        elif row.startswith(b'in. '):
            cur += unescape(row[4:])
        elif row.startswith(b'in ') or row == b'in':
            cur += unescape(row[3:]) + b'\n'


def msg():
    for i, m in enumerate(messages()):
        yield bytes([i % 32, len(m) // 3 % 256]) + m


def body():
    for i, m in enumerate(messages()):
        yield bytes([i % 256]) + m
    for row in lhs('qp_cases.txt'):
        yield b'\x07' + row


def hdr():
    for m in messages():
        line = m.split(b'\n')[0]
        yield line + b'\0me@example.org\0Fuzz Tester'


def options():
    for row in table('options_cases.txt'):
        if b'|' in row:
            words = row.split(b'|')[0].split()
            yield b'\0'.join(b'' if w == b'_' else unescape(w) for w in words)


def blocks(name, section):
    """The text of each "--- section" of a case file."""
    cur = None
    for row in table(name) + [b'=== end']:
        if row.startswith(b'=== ') or row.startswith(b'--- '):
            if cur is not None:
                yield bytes(cur)
            cur = bytearray() if row == b'--- ' + section else None
        elif cur is not None:
            cur += row + b'\n'


def conf():
    for sec in (b'user', b'system', b'conf'):
        yield from blocks('conf_cases.txt', sec)
    with open(os.path.join(DATA, '..', '..', 'sample.conf'), 'rb') as f:
        yield f.read()


def alias():
    cur = None
    for row in table('alias_cases.txt') + [b'=== end']:
        if row.startswith(b'=== '):
            if cur is not None:
                yield bytes(cur)
            cur = bytearray()
        elif row == b'---':
            yield bytes(cur)
            cur = None
        elif cur is not None:
            cur += row + b'\n'


def server():
    for row in table('server_sessions.txt'):
        if b'|' in row:
            yield unescape(row.split(b' | ')[0])


def peek():
    yield from messages()


def auth():
    yield b'\x00\n'
    yield b'\x01VXNlcm5hbWU6\nUGFzc3dvcmQ6\n'
    yield b'\x03eyJzdGF0dXMiOiI0MDAifQ==\n'
    yield b'\x04eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIn0=\n'
    yield (b'\x06cj1meWtvK2QybGJiRmdPTlJ2OXFreG' +
           b'Rhd0wzcmZjTkhZSlkxWlZ2V1ZzN2oscz1RU1hDUitRNnNlazhiZjkyLGk9NDA5Ng==\n')
    for row in table('smtp_sasl_choose.txt'):
        if b'|' in row:
            yield b'\x00' + row.split(b'|')[0].strip() + b'\n'


def session():
    """The S rows of each smtp_sessions.txt case: the server's side."""
    cur = None
    for row in table('smtp_sessions.txt') + [b'']:
        if row.startswith(b'case '):
            cur = bytearray(b'\x00')
        elif row == b'' and cur:
            yield bytes(cur)
            cur = None
        elif cur is not None and row.startswith(b'S '):
            cur += unescape(row[2:]) + b'\r\n'
        elif cur is not None and row.startswith(b'S! '):
            cur += unescape(row[3:])
        elif cur is not None and row.startswith(b'params '):
            flags = 0
            for kw, bit in ((b'partial=1', 1), (b'8bit', 2), (b'utf8=1', 4),
                            (b'notify=N', 8), (b'notify=S', 8),
                            (b'rcpt=', 16), (b'auth=', 64)):
                if kw in row:
                    flags |= bit
            cur[0] = flags


SEEDS = {'reply': reply, 'addr': addr, 'msg': msg, 'body': body,
         'hdr': hdr, 'options': options, 'conf': conf, 'alias': alias,
         'server': server, 'peek': peek, 'auth': auth, 'session': session}


def main():
    target, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    gen = SEEDS.get(target)
    if gen is None:
        return
    for s in gen():
        name = hashlib.sha1(s).hexdigest()
        with open(os.path.join(out, name), 'wb') as f:
            f.write(s)


if __name__ == '__main__':
    main()
