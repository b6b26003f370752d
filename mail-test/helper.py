#!/usr/bin/python3
"""mail-test/helper.py - small network helpers for mail-test/test-mail.sh.

  helper.py port
      Print a TCP port on 127.0.0.1 that is free right now (bind to port 0,
      read the port, close).  The caller must retry if the server then
      finds it taken.

  helper.py probe PORT REGEX TIMEOUT [PID]
      Connect to 127.0.0.1:PORT until the first line the server sends
      matches REGEX (a server greeting such as "^\\* OK" or "^220 "), or
      TIMEOUT seconds pass, or process PID (if given) has exited.  Exit 0
      when ready, 1 otherwise.  Polls every 50 ms: no fixed sleeps.

  helper.py libs PORT PID REGEX
      Connect to 127.0.0.1:PORT, read the server's greeting line (so the
      process serving the connection is up and has loaded its SASL
      plugins), then print the shared objects matching REGEX that are
      mapped by PID or any of its descendants (one path per line, sorted,
      unique), and close the connection.  Shows which SASL plugins a
      server really loaded.

  helper.py inetd PORTFILE PIDFILE LOG -- COMMAND [ARGS...]
      A minimal inetd: listen on 127.0.0.1 on a port chosen by the kernel
      (port 0, so there is no race), write the port to PORTFILE and our PID
      to PIDFILE (each atomically), then run COMMAND once per connection
      with the connection as its standard input and output and LOG as its
      standard error.  Used for Postfix smtpd, which runs in stand-alone
      mode (smtpd -S) when there is no Postfix master (master(8) refuses to
      run unprivileged).  On SIGTERM/SIGINT it closes the socket,
      terminates the children still running (KILL after 5 s) and exits 0.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def cmd_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    print(s.getsockname()[1])
    s.close()
    return 0


def alive(pid):
    if pid is None:
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("State:"):
                    return "Z" not in line.split()[1]
    except OSError:
        pass
    return True


def cmd_probe(port, regex, timeout, pid=None):
    pat = re.compile(regex.encode())
    deadline = time.monotonic() + float(timeout)
    last = "no attempt"
    while time.monotonic() < deadline:
        if not alive(pid):
            sys.stderr.write("probe: server process %d exited\n" % pid)
            return 1
        try:
            with socket.create_connection(("127.0.0.1", int(port)), 1) as s:
                s.settimeout(max(0.2, min(5.0, deadline - time.monotonic())))
                buf = b""
                while b"\n" not in buf:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    buf += chunk
                line = buf.split(b"\n", 1)[0].rstrip(b"\r")
                if pat.search(line):
                    return 0
                last = "greeting %r" % line
        except OSError as e:
            last = str(e)
        time.sleep(0.05)
    sys.stderr.write("probe: 127.0.0.1:%s not ready after %ss (%s)\n"
                     % (port, timeout, last))
    return 1


def children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
        except OSError:
            continue
        # pid (comm) state ppid ...; comm may contain spaces and ')'
        ppid = int(st[st.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(d))
    return kids


def cmd_libs(port, pid, regex):
    pat = re.compile(regex)
    with socket.create_connection(("127.0.0.1", int(port)), 5) as s:
        s.settimeout(10)
        buf = b""
        while b"\n" not in buf:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        kids = children_map()
        todo, seen, found = [int(pid)], set(), set()
        while todo:
            p = todo.pop()
            if p in seen:
                continue
            seen.add(p)
            todo.extend(kids.get(p, []))
            try:
                with open("/proc/%d/maps" % p) as f:
                    for line in f:
                        parts = line.split(None, 5)
                        if len(parts) == 6 and pat.search(parts[5]):
                            found.add(parts[5].strip())
            except OSError:
                pass
    for path in sorted(found):
        print(path)
    return 0


def cmd_inetd(portfile, pidfile, log, argv):
    children = []
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    stopping = []

    def stop(signum, frame):
        stopping.append(signum)
        try:
            lsock.close()
        except OSError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    write_atomic(pidfile, "%d\n" % os.getpid())
    write_atomic(portfile, "%d\n" % lsock.getsockname()[1])
    logf = open(log, "ab", buffering=0)
    while not stopping:
        try:
            conn, _ = lsock.accept()
        except OSError:
            if stopping:
                break
            time.sleep(0.05)
            continue
        children = [c for c in children if c.poll() is None]
        try:
            children.append(subprocess.Popen(argv, stdin=conn, stdout=conn,
                                             stderr=logf, close_fds=True))
        except OSError as e:
            logf.write(("inetd: cannot run %s: %s\n" % (argv[0], e)).encode())
        conn.close()
    for c in children:
        if c.poll() is None:
            c.terminate()
    deadline = time.monotonic() + 5
    for c in children:
        try:
            c.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            c.kill()
            c.wait()
    return 0


def main(args):
    if args[:1] == ["port"] and len(args) == 1:
        return cmd_port()
    if args[:1] == ["probe"] and len(args) in (4, 5):
        pid = int(args[4]) if len(args) == 5 and args[4] else None
        return cmd_probe(args[1], args[2], args[3], pid)
    if args[:1] == ["libs"] and len(args) == 4:
        return cmd_libs(args[1], args[2], args[3])
    if args[:1] == ["inetd"] and len(args) >= 6 and args[4] == "--":
        return cmd_inetd(args[1], args[2], args[3], args[5:])
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
