#!/usr/bin/env python3
"""Traffic for the network tests, run inside instances and test namespaces.

  serve PORT SECONDS      accept TCP connections on PORT for SECONDS; print
                          each peer's address, one line each, then exit
  connect ADDR PORT       exit 0 when a TCP connection to ADDR:PORT is made
                          within 3 s (and send one line), 1 otherwise
  udp ADDR PORT           send one UDP datagram; exit 0 when it was sent
  spray ADDR PORT SECONDS [STOP]
                          send broadcast UDP datagrams to ADDR:PORT, one
                          each millisecond, for SECONDS or until the file
                          STOP exists (errors, e.g. no link for a moment,
                          are counted and go on); print "spraying", then
                          "sent N failed M"
  count PORT SECONDS [STOP]
                          count the UDP datagrams that reach PORT in
                          SECONDS or until the file STOP exists; print
                          "listening", then "count N"
Every wait is bounded.
"""
import os
import socket
import sys
import time


def serve(port, seconds):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(16)
    print("listening", flush=True)
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return 0
        s.settimeout(left)
        try:
            c, peer = s.accept()
        except socket.timeout:
            return 0
        print(peer[0], flush=True)
        c.close()


def connect(addr, port):
    try:
        c = socket.create_connection((addr, port), timeout=3)
        c.sendall(b"hello\n")
        c.close()
        print("connected")
        return 0
    except OSError as e:
        print("refused:", e)
        return 1


def udp(addr, port):
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.sendto(b"hello\n", (addr, port))
        return 0
    except OSError as e:
        print("refused:", e)
        return 1


def stopped(stop):
    return stop is not None and os.path.exists(stop)


def spray(addr, port, seconds, stop=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    sent = failed = 0
    print("spraying", flush=True)
    end = time.monotonic() + seconds
    while time.monotonic() < end and not stopped(stop):
        try:
            s.sendto(b"spray\n", (addr, port))
            sent += 1
        except OSError:
            failed += 1
        time.sleep(0.001)
    print("sent", sent, "failed", failed, flush=True)
    return 0


def count(port, seconds, stop=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
    s.bind(("0.0.0.0", port))
    print("listening", flush=True)
    n = 0
    end = time.monotonic() + seconds
    while not stopped(stop):
        left = end - time.monotonic()
        if left <= 0:
            break
        s.settimeout(min(left, 0.2))
        try:
            s.recvfrom(2048)
            n += 1
        except socket.timeout:
            pass
    print("count", n, flush=True)
    return 0


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        return serve(int(sys.argv[2]), float(sys.argv[3]))
    if cmd == "connect":
        return connect(sys.argv[2], int(sys.argv[3]))
    if cmd == "udp":
        return udp(sys.argv[2], int(sys.argv[3]))
    if cmd == "spray":
        return spray(sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), *sys.argv[5:6])
    if cmd == "count":
        return count(int(sys.argv[2]), float(sys.argv[3]), *sys.argv[4:5])
    print(__doc__, file=sys.stderr)
    return 2


sys.exit(main())
