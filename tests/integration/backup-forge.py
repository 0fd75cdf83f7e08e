#!/usr/bin/env python3
"""Forges snapshots in an unencrypted backup repository, for the tests.

Usage: backup-forge.py COMMAND REPO [ARGS...]

REPO is an existing repository made by `spectrum backup init` without
--encrypt.  Each command adds one pack (every blob it needs), one index
file listing that pack and one snapshot file whose root tree is the
forged one, written (through REPO/tmp, then renamed) into REPO/packs,
REPO/index and REPO/snapshots under their hashes as doc/backup-format.md
says.  The repository's lock is not taken: run it only while no spectrum
command uses REPO.  Packs are written plain (encoding 0), trees and
chunks in one pack.  It prints the new snapshot's id
(or, for garbage-pack, the pack's path relative to REPO).  The snapshot's
time is now, so it is the `latest` one.

Commands:

  symroot REPO TARGET
      a root whose data, state and current are symlinks to TARGET.
  current REPO TARGET
      a root holding only current, a symlink to TARGET.
  dag REPO [--levels N] [--fanout N] [--missing-chunk]
      a tree of N levels (10) of FANOUT (16) directory entries that all
      name the one subtree below: FANOUT^N paths in a few KiB.  At the
      bottom, one file f of one stored chunk; with --missing-chunk, f also
      names a chunk that is in no pack.  The snapshot's counts are those
      of the distinct trees (what a forger would claim).
  badname REPO NAME
      a root holding data/ (one file) and a directory named NAME (any
      bytes, "" included; not checked) holding a file "escaped".
  badorder REPO unsorted|duplicate
      a root holding data/ whose two files are "b" then "a", or "a" twice.
  runs REPO --times N [--chunk-len L] [--byte B] [--lead N] [--size S]
      a root holding data/ in the second tree encoding ("SPBKTR02"): "b",
      one chunk of L (1) bytes B (0x41) repeated N times, claiming S
      bytes (L * N); with --lead, first "a", N bytes of "x" once.
  linkmodes REPO
      a root holding data/ with two hard-link groups whose copies
      disagree on the mode: "a" 0644 then "b" 04755, "c" 06755 then "d"
      0644.
  widechain REPO --levels N --width W
      a root of N nested listings, each holding "a" (the next) and W
      fifos f0000000... (sorted after "a"), stored zstd-compressed (the
      zstd program): LEVELS * WIDTH entries along one path, in a few MiB.
  hardlink REPO TARGET
      a root holding data/ with "a", a symlink to TARGET, and "b", a
      file: one dev+ino with a link count of 2 (one hard-link group whose
      first copy is the symlink).
  privileged REPO BINARY
      what a store never holds, each under data/ (itself 0755), state/w/
      (the home of instance w, 04755) and generations/ (0755): copies of
      BINARY setuid root (sh-suid, 04755), setgid root (sh-sgid, 02755)
      and with the file capability cap_setuid=ep (sh-cap: a v2
      security.capability attribute), a 0666 character device 1:1 (mem,
      /dev/mem), a 0660 block device 8:0 (sda), a file with a trusted.*
      attribute (trusted), one whose POSIX ACL lets uid 65534 read it
      (acl: system.posix_acl_access), one with a user.* attribute that a
      store may hold (user-ok), owned by 1234:5678 (owned), and state/w/sh
      another setuid copy.  The snapshot names instance w.
  garbage-pack REPO [--prefix HEX]
      no snapshot: a file of random bytes under packs/HH/HASH, named by
      its own hash like a pack but whose trailer does not parse; with
      --prefix, a name that starts with HEX ("ff": after every other
      pack, most likely).

Options common to the snapshot commands: --files N, --dirs N, --bytes N
set the counts the snapshot claims (default: computed over the distinct
trees written).
"""

import argparse
import hashlib
import json
import os
import struct
import subprocess
import sys
import time

TREE_MAGIC = b"SPBKTR01"
TREE_MAGIC_RUNS = b"SPBKTR02"  # chunk ids with repeat counts
PACK_MAGIC = b"SPBKPK01"
TRAILER_MAGIC = b"SPBKTL01"
INDEX_MAGIC = b"SPBKIX01"

BLOB_DATA, BLOB_TREE = 1, 2
NODE_FILE, NODE_DIR, NODE_SYMLINK, NODE_FIFO, NODE_CHR, NODE_BLK = 1, 2, 3, 4, 5, 6


def blake2b(data, key=b""):
    return hashlib.blake2b(data, digest_size=32, key=key).digest()


class Repo:
    """One forged pack, its index and a snapshot, in REPO."""

    def __init__(self, path):
        self.path = path
        with open(os.path.join(path, "config")) as f:
            cfg = json.load(f)
        if cfg.get("encryption") != "none":
            sys.exit("backup-forge: %s: only unencrypted repositories can be forged" % path)
        keys = bytes.fromhex(cfg["keys"])
        if len(keys) != 96:
            sys.exit("backup-forge: %s: keys are not 96 bytes" % path)
        # sealing key (unused in clear) | id key | chunker seed
        self.id_key = keys[32:64]
        self.blobs = []  # (type, id, plain bytes), in pack order
        self.ids = set()
        # Counts over the distinct trees: (files, dirs, bytes).
        self.files = self.dirs = self.bytes = 0
        self.instances = []  # what the snapshot says it holds the homes of
        self.zstd = False  # blobs stored zstd-compressed (encoding 1)

    def blob_id(self, data):
        return blake2b(data, self.id_key)

    def add(self, typ, data):
        """Stores DATA as a blob of TYPE (once) and returns its id."""
        bid = self.blob_id(data)
        if bid not in self.ids:
            self.ids.add(bid)
            self.blobs.append((typ, bid, data))
        return bid

    def chunk(self, data):
        return self.add(BLOB_DATA, data)

    # ---- tree entries: (name bytes, encoded bytes) ----

    @staticmethod
    def node(typ, name, body, mode=0o755, size=0, dev=1, ino=0, nlink=1, uid=0, gid=0, mtime=1000000000,
             xattrs=()):
        """One encoded entry: header, metadata, BODY (the type's part),
        XATTRS ((name bytes, value bytes) pairs)."""
        b = struct.pack("<BH", typ, len(name)) + name
        b += struct.pack("<III", mode, uid, gid)
        b += struct.pack("<qIqIqI", mtime, 0, mtime, 0, mtime, 0)  # mtime, atime, ctime
        b += struct.pack("<QQQI", size, dev, ino, nlink)
        b += body
        b += struct.pack("<I", len(xattrs))
        for xn, xv in xattrs:
            b += struct.pack("<H", len(xn)) + xn + struct.pack("<I", len(xv)) + xv
        return b

    def file(self, name, chunks, size, mode=0o644, **kw):
        body = struct.pack("<I", len(chunks)) + b"".join(chunks)
        return (name, self.node(NODE_FILE, name, body, mode=mode, size=size, **kw), NODE_FILE, size)

    def file_runs(self, name, runs, size, mode=0o644, **kw):
        """A file of RUNS, (chunk id, count) pairs, in the second tree
        encoding (only a tree whose magic is TREE_MAGIC_RUNS holds it)."""
        body = struct.pack("<I", len(runs)) + b"".join(i + struct.pack("<Q", n) for i, n in runs)
        return (name, self.node(NODE_FILE, name, body, mode=mode, size=size, **kw), NODE_FILE, size)

    def device(self, name, typ, major, minor, **kw):
        body = struct.pack("<Q", os.makedev(major, minor))
        return (name, self.node(typ, name, body, **kw), typ, 0)

    def file_of(self, name, content, **kw):
        return self.file(name, [self.chunk(content)] if content else [], len(content), **kw)

    def dir(self, name, subtree, mode=0o755, **kw):
        return (name, self.node(NODE_DIR, name, subtree, mode=mode, **kw), NODE_DIR, 0)

    def symlink(self, name, target, **kw):
        body = struct.pack("<I", len(target)) + target
        return (name, self.node(NODE_SYMLINK, name, body, mode=0o777, **kw), NODE_SYMLINK, 0)

    def tree(self, entries, sort=True, magic=TREE_MAGIC):
        """Stores a tree of ENTRIES (sorted by name unless SORT is false:
        the order given is kept, a forger's choice) and returns its id."""
        if sort:
            entries = sorted(entries, key=lambda e: e[0])
        data = magic + struct.pack("<I", len(entries)) + b"".join(e[1] for e in entries)
        bid = self.blob_id(data)
        if bid not in self.ids:
            for _, _, typ, size in entries:
                self.files += typ == NODE_FILE
                self.dirs += typ == NODE_DIR
                self.bytes += size
        return self.add(BLOB_TREE, data)

    # ---- files of the repository ----

    def put(self, kind, data):
        """Writes DATA under its hash in KIND (snapshots, index, packs/HH)."""
        h = blake2b(data).hex()
        d = os.path.join(self.path, kind, h[:2]) if kind == "packs" else os.path.join(self.path, kind)
        os.makedirs(d, exist_ok=True)
        # Written in tmp/ (which spectrum empties) and renamed: a file
        # under its name is complete.
        tmp = os.path.join(self.path, "tmp", "forge-" + h)
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.rename(tmp, os.path.join(d, h))
        return h

    def write(self, root, files=None, dirs=None, nbytes=None):
        """Writes the pack, its index and a snapshot of ROOT; returns the
        snapshot's id."""
        body = PACK_MAGIC
        locs = []
        for typ, bid, data in self.blobs:
            if self.zstd:
                # encoding 1: one zstd frame (the zstd program's)
                stored = b"\1" + subprocess.run(["zstd", "-q", "-c", "-3"], input=data, stdout=subprocess.PIPE,
                                                 check=True).stdout
            else:
                stored = b"\0" + data  # encoding 0: as it is; unsealed in clear
            locs.append((typ, bid, len(body), len(stored), len(data)))
            body += stored
        entries = b"".join(struct.pack("<B", t) + i + struct.pack("<III", o, sl, rl) for t, i, o, sl, rl in locs)
        trailer = TRAILER_MAGIC + struct.pack("<I", len(locs)) + entries
        pack = self.put("packs", body + trailer + struct.pack("<I", len(trailer)))
        self.put("index", INDEX_MAGIC + struct.pack("<I", 1) + bytes.fromhex(pack) +
                 struct.pack("<I", len(locs)) + entries)
        ns = time.time_ns()
        snap = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 10**9)) + ".%09dZ" % (ns % 10**9),
            "host": "forged",
            "source": "/forged",
            "tree": root.hex(),
            "full": True,
            "instances": self.instances,
            "parent": None,
            "files": self.files if files is None else files,
            "dirs": self.dirs if dirs is None else dirs,
            "bytes": self.bytes if nbytes is None else nbytes,
            "added_bytes": 0,
        }
        return self.put("snapshots", json.dumps(snap).encode())


# ---- the commands: each returns the root tree's id ----

def cmd_symroot(r, a):
    t = os.fsencode(a.target)
    return r.tree([r.symlink(b"current", t), r.symlink(b"data", t), r.symlink(b"state", t)])


def cmd_current(r, a):
    return r.tree([r.symlink(b"current", os.fsencode(a.target))])


def cmd_dag(r, a):
    chunks = [r.chunk(b"x")]
    size = 1
    if a.missing_chunk:
        chunks.append(b"\x01" * 32)  # in no pack
        size += 1
    t = r.tree([r.file(b"f", chunks, size)])
    for _ in range(a.levels):
        t = r.tree([r.dir(b"d%02d" % k, t) for k in range(a.fanout)])
    return t


def data_dir(r, entries=None, sort=True):
    if entries is None:
        entries = [r.file_of(b"ok", b"a file in data/\n")]
    return r.dir(b"data", r.tree(entries, sort=sort))


def cmd_badname(r, a):
    name = os.fsencode(a.name)
    hostile = r.dir(name, r.tree([r.file_of(b"escaped", b"written through a forged name\n")]))
    return r.tree([data_dir(r), hostile])


def cmd_badorder(r, a):
    if a.how == "unsorted":
        entries = [r.file_of(b"b", b"b\n"), r.file_of(b"a", b"a\n")]
    else:
        entries = [r.file_of(b"a", b"first a\n"), r.file_of(b"a", b"second a\n")]
    return r.tree([data_dir(r, entries, sort=False)])


def cmd_runs(r, a):
    # Every file of one tree is in the second encoding: "a" (LEAD bytes
    # of "x", counted first) as one chunk once, "b" as one chunk of
    # CHUNK_LEN bytes BYTE repeated TIMES times, claiming SIZE bytes.
    entries = []
    if a.lead:
        entries.append(r.file_runs(b"a", [(r.chunk(b"x" * a.lead), 1)], a.lead))
    size = a.chunk_len * a.times if a.size is None else a.size
    entries.append(r.file_runs(b"b", [(r.chunk(bytes([a.byte]) * a.chunk_len), a.times)], size))
    return r.tree([r.dir(b"data", r.tree(entries, magic=TREE_MAGIC_RUNS))])


def cmd_linkmodes(r, a):
    # Two hard-link groups whose copies disagree on the mode: "a" 0644
    # then "b" 04755; "c" 06755 then "d" 0644.
    one = dict(dev=7, ino=100, nlink=2)
    two = dict(dev=7, ino=200, nlink=2)
    entries = [r.file_of(b"a", b"group one\n", mode=0o644, **one),
               r.file_of(b"b", b"group one\n", mode=0o4755, **one),
               r.file_of(b"c", b"group two\n", mode=0o6755, **two),
               r.file_of(b"d", b"group two\n", mode=0o644, **two)]
    return r.tree([data_dir(r, entries)])


def cmd_widechain(r, a):
    # LEVELS nested listings, each of "a" (the next) and WIDTH fifos
    # f0000000...: what a restore holds in memory along one path.  Written
    # zstd-compressed: a 57 MiB listing of such names takes 2 MiB.
    r.zstd = True
    meta = struct.pack("<III", 0o600, 0, 0) + struct.pack("<qIqIqI", 1000000000, 0, 1000000000, 0, 1000000000, 0)
    meta += struct.pack("<QQQI", 0, 1, 0, 1) + struct.pack("<I", 0)
    fifos = b"".join(struct.pack("<BH", NODE_FIFO, 8) + b"f%07d" % k + meta for k in range(a.width))
    t = r.tree([r.file_of(b"f", b"the bottom\n")])
    for _ in range(a.levels):
        below = r.dir(b"a", t)
        data = TREE_MAGIC + struct.pack("<I", a.width + 1) + below[1] + fifos
        t = r.add(BLOB_TREE, data)
        r.dirs += 1
        r.files += a.width
    return t


def cmd_hardlink(r, a):
    same = dict(dev=7, ino=4242, nlink=2)
    entries = [r.symlink(b"a", os.fsencode(a.target), **same),
               r.file_of(b"b", b"the second name of the group\n", **same)]
    return r.tree([data_dir(r, entries)])


# struct vfs_cap_data, revision 2 (linux/capability.h): magic_etc (the
# revision, and bit 0: effective), then permitted and inheritable for
# capabilities 0-31 and 32-63.
VFS_CAP_REVISION_2, VFS_CAP_FLAGS_EFFECTIVE, CAP_SETUID = 0x02000000, 0x1, 7
CAP_SETUID_EP = struct.pack("<IIIII", VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, 1 << CAP_SETUID, 0, 0, 0)

# A POSIX ACL as system.posix_acl_access holds it (version 2, then tag,
# permissions, id per entry): owner rw, uid 65534 r, group r, mask r,
# others nothing.
ACL_UNDEFINED_ID = 0xFFFFFFFF
ACL_NOBODY_READS = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in
    ((0x01, 6, ACL_UNDEFINED_ID), (0x02, 4, 65534), (0x04, 4, ACL_UNDEFINED_ID),
     (0x10, 4, ACL_UNDEFINED_ID), (0x20, 0, ACL_UNDEFINED_ID)))


def cmd_privileged(r, a):
    with open(a.binary, "rb") as f:
        binary = f.read()
    data = [
        r.file_of(b"sh-suid", binary, mode=0o4755),
        r.file_of(b"sh-sgid", binary, mode=0o2755),
        r.file_of(b"sh-cap", binary, mode=0o755, xattrs=[(b"security.capability", CAP_SETUID_EP)]),
        r.device(b"mem", NODE_CHR, 1, 1, mode=0o666),
        r.device(b"sda", NODE_BLK, 8, 0, mode=0o660, gid=6),
        r.file_of(b"trusted", b"trusted.* is root's alone\n", xattrs=[(b"trusted.forged", b"y")]),
        r.file_of(b"acl", b"readable by uid 65534 through an ACL\n", mode=0o640,
                  xattrs=[(b"system.posix_acl_access", ACL_NOBODY_READS)]),
        r.file_of(b"user-ok", b"a user.* attribute is a store's\n", xattrs=[(b"user.note", b"kept")]),
        r.file_of(b"owned", b"owned by 1234:5678\n", uid=1234, gid=5678),
    ]
    home = r.tree([r.file_of(b"sh", binary, mode=0o4755)])
    r.instances = ["w"]
    return r.tree([
        r.dir(b"data", r.tree(data), mode=0o755),
        r.dir(b"state", r.tree([r.dir(b"w", home, mode=0o4755, uid=1234, gid=5678)]), mode=0o755),
        r.dir(b"generations", r.tree([r.dir(b"1", r.tree([r.file_of(b"plan.json", b"{}\n")]))]), mode=0o755),
        r.symlink(b"current", b"generations/1"),
    ])


def cmd_garbage_pack(r, a):
    # Random bytes: no "SPBKPK01", and a trailer that does not decode.
    # Drawn again until the hash (hence the name) starts with PREFIX, so
    # that the pack is listed where one wants it (packs are read in the
    # order of their names).
    while True:
        data = os.urandom(4096)
        if blake2b(data).hex().startswith(a.prefix):
            break
    h = r.put("packs", data)
    print("packs/%s/%s" % (h[:2], h))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)

    def command(name, fn, help_):
        s = sub.add_parser(name, help=help_)
        s.add_argument("repo")
        s.set_defaults(fn=fn)
        if name != "garbage-pack":
            s.add_argument("--files", type=int)
            s.add_argument("--dirs", type=int)
            s.add_argument("--bytes", type=int)
        return s

    command("symroot", cmd_symroot, "data, state and current symlinks to TARGET").add_argument("target")
    command("current", cmd_current, "current a symlink to TARGET").add_argument("target")
    s = command("dag", cmd_dag, "one subtree named FANOUT times at each of LEVELS levels")
    s.add_argument("--levels", type=int, default=10)
    s.add_argument("--fanout", type=int, default=16)
    s.add_argument("--missing-chunk", action="store_true")
    command("badname", cmd_badname, "a directory entry named NAME").add_argument("name")
    command("badorder", cmd_badorder, "entries out of order or repeated").add_argument(
        "how", choices=("unsorted", "duplicate"))
    s = command("runs", cmd_runs, "data/b: one chunk repeated TIMES times (SPBKTR02)")
    s.add_argument("--lead", type=int, default=0, help="bytes of data/a, restored before b")
    s.add_argument("--chunk-len", type=int, default=1)
    s.add_argument("--byte", type=int, default=0x41)
    s.add_argument("--times", type=int, required=True)
    s.add_argument("--size", type=int, help="what b claims (CHUNK_LEN * TIMES)")
    command("linkmodes", cmd_linkmodes, "hard-link groups whose copies disagree on setuid/setgid")
    s = command("widechain", cmd_widechain, "LEVELS nested listings of WIDTH fifos each (zstd)")
    s.add_argument("--levels", type=int, required=True)
    s.add_argument("--width", type=int, required=True)
    command("hardlink", cmd_hardlink, "a hard-link group whose first copy is a symlink").add_argument("target")
    command("privileged", cmd_privileged, "setuid/setgid copies of BINARY, devices, capabilities").add_argument(
        "binary")
    command("garbage-pack", cmd_garbage_pack, "a pack-named file whose trailer does not parse").add_argument(
        "--prefix", default="", help="hex digits its name starts with (each one takes 16 times longer)")
    a = p.parse_args()

    r = Repo(a.repo)
    if a.command == "garbage-pack":
        a.fn(r, a)
        return
    root = a.fn(r, a)
    print(r.write(root, a.files, a.dirs, a.bytes))


if __name__ == "__main__":
    main()
