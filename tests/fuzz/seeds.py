#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""tests/fuzz/seeds.py DIR TARGET - write the seed inputs of TARGET into DIR.

A fuzz input is a little program of guest actions (tests/fuzz/harness.c):
an operation byte, then its arguments.  The seeds are what a well-behaved
driver does -- set a device up, post requests of every kind, ring the
doorbell, reap -- so that the fuzzer starts past the checks a random input
fails and mutates from the paths that do I/O.  They are written at run time
rather than kept in git: they follow the operation codes of harness.c.
"""
import os
import struct
import sys

# enum in tests/fuzz/harness.c
(WIN_WRITE, RAM_WRITE, PREPARE, RUN, SETUP, CHAIN, RESET, REAP, TICK, LOOP,
 CONFIG, STATUS, EXTRA) = range(13)

F_WRITE, F_HDR = 0x02, 0x04
ALL_OFFERED = 0x7fffffffffffffff   # bit 63 clear: masked by what is offered


def setup(dev, nq, features=ALL_OFFERED):
    return bytes([SETUP, dev]) + struct.pack("<Q", features) + bytes([nq - 1])


def seg(addr, length, write=False):
    """A data slot: mode byte, 3 bytes of address, 2 of length - 1."""
    return (bytes([F_WRITE if write else 0]) + addr.to_bytes(3, "little") +
            (length - 1).to_bytes(2, "little"))


def hdr(body):
    """A header slot: mode F_HDR, unused address and length, 12 bytes."""
    return bytes([F_HDR]) + bytes(5) + body.ljust(12, b"\0")[:12]


def chain(dev, q, rid, slots):
    return bytes([CHAIN, dev, q, len(slots) - 1]) + struct.pack("<H", rid) + b"".join(slots)


def run(dev, q):
    return bytes([RUN, dev, q])


def reap(dev, q):
    return bytes([REAP, dev, q])


def ram(off, data):
    out = b""
    for i in range(0, len(data), 64):
        part = data[i:i + 64]
        out += bytes([RAM_WRITE]) + struct.pack("<I", off + i) + bytes([len(part)]) + part
    return out


def settle():
    return bytes([LOOP, PREPARE, LOOP, PREPARE])


def echo_seeds():
    yield "requests", (setup(0, 2) + setup(1, 1) + ram(0x1000, b"ping" * 16) +
                       chain(0, 0, 1, [seg(0x1000, 64), seg(0x3000, 4096, True)]) +
                       chain(0, 1, 2, [seg(0x1000, 64), seg(0x2000, 64),
                                       seg(0x4000, 128, True)]) +
                       run(0, 0) + run(0, 1) + settle() + reap(0, 0) + reap(0, 1))
    yield "small-ring", (setup(1, 1) + b"".join(
        chain(1, 0, i, [seg(0x1000, 16), seg(0x8000 + 64 * i, 64, True)])
        for i in range(10)) + run(1, 0) + settle() + reap(1, 0) + run(1, 0) + settle())
    yield "reset", (setup(0, 2) + chain(0, 0, 7, [seg(0x1000, 64), seg(0x3000, 64, True)]) +
                    bytes([RESET, 0]) + run(0, 0) + settle() + bytes([TICK]) + setup(0, 2) +
                    run(0, 0) + settle())
    yield "status-config", setup(0, 1) + bytes([STATUS, 0, 0x4f, 0, 0, 0, CONFIG, TICK, PREPARE])


def net_frame(size, flags=0, gso=0, hdr_len=0, gso_size=0, cs=0, co=0):
    h = struct.pack("<BBHHHHH", flags, gso, hdr_len, gso_size, cs, co, 0)
    eth = bytes.fromhex("02000000000102000000000208004500")
    return h + (eth + bytes(size)).ljust(size, b"\x5a")


def net_seeds():
    frame = net_frame(60)
    rx = [chain(0, 0, 100 + i, [seg(0x10000 + 0x800 * i, 2048, True)]) for i in range(4)]
    yield "tx-rx", (setup(0, 2) + ram(0x2000, frame) + b"".join(rx) +
                    chain(0, 1, 1, [seg(0x2000, len(frame))]) + run(0, 0) + run(0, 1) +
                    settle() + reap(0, 0) + reap(0, 1))
    # Header and frame in separate segments, a checksum offload request.
    csum = net_frame(80, flags=1, cs=34, co=6)
    yield "tx-split-csum", (setup(0, 2) + ram(0x2000, csum) + b"".join(rx) +
                            chain(0, 1, 2, [seg(0x2000, 12), seg(0x200c, len(csum) - 12)]) +
                            run(0, 1) + settle() + run(0, 0) + settle() + reap(0, 0))
    gso = net_frame(200, flags=1, gso=1, hdr_len=54, gso_size=64, cs=34, co=16)
    yield "tx-gso", (setup(0, 4) + ram(0x2000, gso) + b"".join(rx) +
                     chain(0, 3, 3, [seg(0x2000, len(gso))]) + run(0, 3) + settle() +
                     run(0, 0) + settle() + reap(0, 0) + reap(0, 3))
    # MRG_RXBUF with small rx buffers: a packet over several requests.
    small = [chain(0, 0, 200 + i, [seg(0x20000 + 0x100 * i, 64, True)]) for i in range(8)]
    yield "mrg-small-rx", (setup(0, 2) + ram(0x2000, frame) + b"".join(small) +
                           chain(0, 1, 4, [seg(0x2000, len(frame))]) + run(0, 1) + settle() +
                           run(0, 0) + settle() + reap(0, 0))
    yield "reset-mid", (setup(0, 2) + ram(0x2000, frame) + chain(0, 1, 5, [seg(0x2000, 72)]) +
                        bytes([RESET, 0]) + run(0, 1) + settle() + setup(0, 2) + settle())


def blk_req(sector, op, rflags=0):
    return hdr(struct.pack("<QBBH", sector, op, rflags, 0))


def blk_seeds():
    data = ram(0x1000, bytes(range(256)) * 2)
    reqs = [
        chain(0, 0, 1, [blk_req(8, 1), seg(0x1000, 4096)]),                 # write
        chain(0, 0, 2, [blk_req(8, 0), seg(0x4000, 4096, True)]),           # read
        chain(0, 0, 3, [blk_req(0, 2)]),                                   # flush
        chain(0, 0, 4, [blk_req(64, 3), hdr(struct.pack("<QI", 16, 0))]),  # discard
        chain(0, 0, 5, [blk_req(96, 4, 2), hdr(struct.pack("<QI", 8, 0))]),  # zeroes
        chain(0, 0, 6, [blk_req(0, 5), seg(0x6000, 20, True)]),            # get id
        chain(0, 0, 7, [blk_req(16, 1, 1), seg(0x1000, 512), seg(0x2000, 1024)]),  # FUA
    ]
    yield "every-op", setup(0, 2) + data + b"".join(reqs) + run(0, 0) + settle() + reap(0, 0)
    yield "two-queues", (setup(0, 2) + data + reqs[0] + chain(0, 1, 9, [blk_req(8, 0),
                         seg(0x8000, 512, True), seg(0x9000, 3584, True)]) +
                         run(0, 0) + run(0, 1) + settle() + reap(0, 1))
    yield "beyond-end", (setup(0, 1) + chain(0, 0, 1, [blk_req(32767, 0),
                         seg(0x4000, 1024, True)]) + run(0, 0) + settle())
    yield "reset-in-flight", (setup(0, 1) + data + reqs[0] + run(0, 0) + bytes([RESET, 0]) +
                              settle() + setup(0, 1) + reqs[1] + run(0, 0) + settle())


def balloon_seeds():
    yield "inflate-deflate", (setup(0, 3) + chain(0, 0, 1, [seg(0x100000, 0x10000)]) +
                              run(0, 0) + settle() + chain(0, 1, 2, [seg(0x100000, 0x8000)]) +
                              run(0, 1) + settle() + reap(0, 0) + reap(0, 1))
    yield "report", (setup(0, 3) + chain(0, 2, 3, [seg(0x200000, 0x1000), seg(0x300000, 0x2000)]) +
                     run(0, 2) + settle() + reap(0, 2))
    # Statistics under the seq protocol, the timer, the policy, control.
    yield "stats-policy", (setup(0, 3) + bytes([EXTRA, 0x80, EXTRA, 2, EXTRA, 0, EXTRA, 4,
                                                TICK, EXTRA, 0x80, EXTRA, 1, EXTRA, 5]))


def control_seeds():
    # The worker's form: VERB DEVICE ARGS (the supervisor took the guest).
    lines = [b"devices", b"status e", b"status n", b"status b", b"status m",
             b"balloon m status", b"balloon m set 2M", b"balloon m policy auto",
             b"balloon m headroom 1M", b"blk-resize b", b"blk-resize b 2M",
             b"net-link n down"]
    for i, line in enumerate(lines):
        body = line.ljust(200, b"\0")
        yield f"req{i}", body + setup(0, 1) + setup(1, 2) + setup(2, 1) + setup(3, 3)


def config_seeds():
    # The first byte's low bit picks `guest add` (no [pviod] section).
    yield "main", b"""
# the example of operations.md
[pviod]
control = /run/pviod.sock
heartbeat_ms = 100
user = nobody

[guest vm1]
socket = /run/pvio-vm1.sock
ram = /dev/shm/pvio-vm1
ram_size = 1G
machine = pc

[device vm1 echo0]
type = echo
queues = 2
queue_size = 256

[device vm1 net0]
type = net
tap = pvtap0
queues = 4
mtu = 9000
mac = 52:54:00:12:34:56
poll = 0,1

[device vm1 disk0]
type = blk
path = /var/lib/pvio/vm1-disk0.img
queues = 2
cache = none
readonly = no
"""
    yield "add", b"""[guest vm2]
socket = /run/pvio-vm2.sock
ram = /dev/shm/pvio-vm2
ram_size = 3584M
ram_layout = 0:0xc0000000:0,0x100000000:0x20000000:0xc0000000

[device vm2 bal]
type = balloon
policy = auto
headroom = 256M
min = 0
max = 2G
stats_interval_ms = 1000

[device vm2 n]
type = net
net = null
null_rx = echo
"""


def ext_seeds():
    # Byte 0: how many fds go with the message (mod 4); then the message.
    yield "ram-offer", bytes([1]) + struct.pack("<QQ", 0x5056494F52414D31, 1 << 30)
    # core/msg.h: op, len, a, b, c, data -- a CTL answer with its text.
    body = b'{"ok":true}'
    yield "worker-msg", bytes([0]) + struct.pack("<IIQQQ", 4, len(body), 1, 0, 0) + body
    yield "worker-fds", bytes([3]) + struct.pack("<IIQQQ", 3, 0, 0, 0, 0)


TARGETS = {"ext": ext_seeds, "config": config_seeds, "echo": echo_seeds, "net": net_seeds, "blk": blk_seeds,
           "balloon": balloon_seeds, "control": control_seeds}


def main():
    out, target = sys.argv[1], sys.argv[2]
    if target not in TARGETS:
        return 0
    os.makedirs(out, exist_ok=True)
    for name, data in TARGETS[target]():
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
