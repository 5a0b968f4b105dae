#!/usr/bin/env python3
"""nbdev_tgt stopped under NBD load: its network NBD server (from the SPDK config's nbd section)
exports a uring bdev on a file and a malloc bdev; fio's nbd engine writes the malloc export
while a client of this test pipelines 4 KiB writes of distinct data to distinct blocks of the
file's export, and sends the signal itself once 2,000 writes were acknowledged. For SIGTERM and
SIGINT: the daemon exits 0 within 30 s, fio ends, and every write the daemon acknowledged
before it went is in the file, byte for byte.

  test_nbdev_tgt_stop_under_nbd.py NBDEV_TGT WORK_DIR"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time

tgt, work = sys.argv[1], os.path.abspath(sys.argv[2])
os.makedirs(work, exist_ok=True)
failures = []
BLOCK, BLOCKS, DEPTH = 4096, 16384, 32


def check(cond, what, detail=""):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)
        print(str(detail)[-3000:])


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
    return buf


def connect(port, export):
    """Fixed newstyle handshake with NBD_OPT_GO; the socket in transmission."""
    deadline = time.time() + 20
    while True:
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            break
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)
    hello = recv_exact(s, 18)
    assert hello[:16] == b"NBDMAGICIHAVEOPT", hello
    s.sendall(struct.pack(">I", 3))  # FIXED_NEWSTYLE | NO_ZEROES
    name = export.encode()
    data = struct.pack(">I", len(name)) + name + struct.pack(">H", 0)
    s.sendall(b"IHAVEOPT" + struct.pack(">II", 7, len(data)) + data)
    while True:
        magic, opt, rtype, length = struct.unpack(">QIII", recv_exact(s, 20))
        recv_exact(s, length)
        if rtype == 1:  # NBD_REP_ACK
            return s
        if rtype & 0x80000000:
            raise ConnectionError(f"NBD_OPT_GO refused: {rtype:#x}")


def pattern(block):
    return struct.pack(">Q", block * 0x9E3779B97F4A7C15 & (2 ** 64 - 1)) * (BLOCK // 8)


def run(sig):
    d = os.path.join(work, sig.name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    backing = os.path.join(d, "disk.img")
    with open(backing, "wb") as f:
        f.truncate(BLOCK * BLOCKS)
    port = free_port()
    cfg = os.path.join(d, "cfg.json")
    with open(cfg, "w") as f:
        json.dump({"subsystems": [
            {"subsystem": "bdev", "config": [
                {"method": "bdev_uring_create", "params": {"filename": backing, "name": "File0", "block_size": 4096}},
                {"method": "bdev_malloc_create", "params": {"name": "Malloc0", "num_blocks": 16384,
                                                            "block_size": 4096}}]},
            {"subsystem": "nbd", "config": [
                {"method": "nbd_server_start", "params": {"listen_address": f"127.0.0.1:{port}"}},
                {"method": "nbd_server_add_export", "params": {"name": "file", "bdev_name": "File0"}},
                {"method": "nbd_server_add_export", "params": {"name": "mem", "bdev_name": "Malloc0"}}]}]}, f)
    p = subprocess.Popen([tgt, "-r", os.path.join(d, "rpc.sock"), "-c", cfg], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    s = connect(port, "file")
    fio = None
    if shutil.which("fio"):
        fio = subprocess.Popen(["fio", "--name=load", "--ioengine=nbd", f"--uri=nbd://127.0.0.1:{port}/mem",
                                "--rw=randwrite", "--bs=4k", "--iodepth=16", "--time_based", "--runtime=60",
                                "--size=64m"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        time.sleep(1.0)
    acked, sent, next_block, signalled, pending = set(), {}, 0, None, b""
    s.settimeout(30)
    try:
        while True:
            while len(sent) < DEPTH and next_block < BLOCKS:
                b = next_block
                next_block += 1
                s.sendall(struct.pack(">IHHQQI", 0x25609513, 0, 1, b, b * BLOCK, BLOCK) + pattern(b))
                sent[b] = True
            if not sent:
                break
            magic, error, cookie = struct.unpack(">IIQ", recv_exact(s, 16))
            assert magic == 0x67446698, hex(magic)
            del sent[cookie]
            if error == 0:
                acked.add(cookie)
            if len(acked) == 2000 and signalled is None:
                signalled = time.time()
                p.send_signal(sig)
    except (ConnectionError, OSError):
        pass  # the daemon went: what it acknowledged must be on the file
    try:
        out, _ = p.communicate(timeout=30)
        rc = p.returncode
    except subprocess.TimeoutExpired:
        p.kill()
        out, _ = p.communicate()
        rc = "hung"
    check(signalled is not None, f"{sig.name}: sent under load (2,000 writes acknowledged, more in flight)")
    check(rc == 0, f"{sig.name}: nbdev_tgt exits 0 within 30 s", out)
    if fio:
        try:
            fio.communicate(timeout=30)
            check(True, f"{sig.name}: fio's nbd client ends once the daemon stopped")
        except subprocess.TimeoutExpired:
            fio.kill()
            check(False, f"{sig.name}: fio's nbd client ends once the daemon stopped")
    bad = []
    with open(backing, "rb") as f:
        for b in sorted(acked):
            f.seek(b * BLOCK)
            if f.read(BLOCK) != pattern(b):
                bad.append(b)
    check(not bad and len(acked) >= 2000,
          f"{sig.name}: all {len(acked)} acknowledged writes are in the backing file", f"missing: {bad[:20]}")


for sig in (signal.SIGTERM, signal.SIGINT):
    run(sig)
if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
