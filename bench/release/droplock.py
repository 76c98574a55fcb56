#!/usr/bin/env python3
# Used to make stages/release/testdata/replay/semantic-release-error.bundle (see its README).
# Filters a git fast-export stream: drops the lock files from every commit
# (and their blobs), keeps everything else byte for byte.
import sys, re
DROP = re.compile(rb'(^|/)(package-lock\.json|yarn\.lock|npm-shrinkwrap\.json|pnpm-lock\.yaml)$')
inp = sys.stdin.buffer
out = sys.stdout.buffer
blobs = {}
def readline():
    return inp.readline()
def read_data(line):
    n = int(line.split()[1])
    return line + inp.read(n)
pending = []
while True:
    line = readline()
    if not line:
        break
    if line == b'blob\n':
        mark = readline()
        d = readline()
        data = read_data(d)
        blobs[mark.split()[1]] = b'blob\n' + mark + data
        continue
    if line.startswith(b'commit '):
        block = [line]
        pre = []
        while True:
            l = readline()
            if l.startswith(b'data '):
                block.append(read_data(l)); continue
            if l == b'\n' or not l:
                block.append(l); break
            if l.startswith(b'M '):
                parts = l.rstrip(b'\n').split(b' ', 3)
                if DROP.search(parts[3].strip(b'"')):
                    continue
                if parts[2] in blobs:
                    pre.append(blobs[parts[2]] + b'\n')
            if l.startswith(b'D ') and DROP.search(l.rstrip(b'\n')[2:].strip(b'"')):
                continue
            block.append(l)
        out.write(b''.join(pre) + b''.join(block))
        continue
    if line.startswith(b'data '):
        out.write(read_data(line)); continue
    if line == b'\n':
        continue  # the optional LF after a dropped blob's data
    out.write(line)
