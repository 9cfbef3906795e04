#!/usr/bin/env python3
"""Seeds for the fuzz targets from a real capture (tcpdump -i lo -w cap.pcap) of traffic
between third-party clients and a LedgerMQ cluster (see FUZZING.md "Seed corpora").

    fuzz/seeds_from_pcap.py cap.pcap --remoting PORT,PORT,... --raft PORT,PORT,... [--out fuzz/corpus]

Each TCP direction to or from a listed port is reassembled and cut into frames. Remoting
frames become seeds for `frame` (whole frames), `header_json` / `header_binary` (header and
body in the targets' split format), `batch_body` (SEND_BATCH_MESSAGE bodies),
`stored_message` (PULL response bodies), `fastjson_body` (heartbeat, register-broker, lock,
unlock, route bodies) and `properties` (the properties ext field of sends); Raft peer frames
become `raft_rpc` seeds. Seeds are named by content hash, so re-running adds only new ones;
at most --per-kind of each kind of seed (by request code) are kept, to keep the corpus small.
"""
import argparse
import hashlib
import json
import os
import struct
import sys
from collections import defaultdict

SEND_V1, SEND_V2, SEND_BATCH, SEND_REPLY, PULL = 10, 310, 320, 324, 11
HEARTBEAT, REGISTER_BROKER, LOCK, UNLOCK = 34, 103, 41, 42
GET_ROUTE = 105
FASTJSON_KIND = {HEARTBEAT: 0, REGISTER_BROKER: 1, LOCK: 2, UNLOCK: 3}


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    pos = 24
    while pos + 16 <= len(data):
        _, _, incl, _ = struct.unpack(endian + "IIII", data[pos:pos + 16])
        pkt = data[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        if linktype == 1:  # Ethernet (what Linux gives for lo)
            if len(pkt) < 14 or pkt[12:14] != b"\x08\x00":
                continue
            ip = pkt[14:]
        elif linktype in (101, 12):  # raw IP
            ip = pkt
        elif linktype == 113:  # Linux cooked
            ip = pkt[16:]
        else:
            sys.exit(f"unsupported link type {linktype}")
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 6:
            continue
        ihl = (ip[0] & 15) * 4
        total = struct.unpack(">H", ip[2:4])[0]
        tcp = ip[ihl:total]
        if len(tcp) < 20:
            continue
        sport, dport, seq = struct.unpack(">HHI", tcp[:8])
        off = (tcp[12] >> 4) * 4
        payload = tcp[off:]
        if payload:
            yield (ip[12:16], sport, ip[16:20], dport), seq, payload


def streams(path, ports):
    segs = defaultdict(dict)
    for key, seq, payload in packets(path):
        if key[1] in ports or key[3] in ports:
            segs[key].setdefault(seq, payload)
    for key, by_seq in segs.items():
        out, expect = bytearray(), None
        for seq in sorted(by_seq):
            p = by_seq[seq]
            if expect is not None and seq < expect:
                p = p[expect - seq:]
            out += p
            expect = seq + len(by_seq[seq]) if expect is None else max(expect, seq + len(by_seq[seq]))
        yield key, bytes(out)


def frames(stream):
    pos = 0
    while pos + 4 <= len(stream):
        n = struct.unpack(">I", stream[pos:pos + 4])[0]
        if n > 64 << 20 or pos + 4 + n > len(stream):
            break
        yield stream[pos:pos + 4 + n]
        pos += 4 + n


def remoting(frame):
    word = struct.unpack(">I", frame[4:8])[0]
    kind, hlen = word >> 24, word & 0xFFFFFF
    header, body = frame[8:8 + hlen], frame[8 + hlen:]
    code, ext = None, {}
    if kind == 0:
        try:
            h = json.loads(header.decode("utf-8"))
            code, ext = h.get("code"), h.get("extFields") or {}
        except (ValueError, UnicodeDecodeError):
            pass
    elif kind == 1 and len(header) >= 2:
        code = struct.unpack(">h", header[:2])[0]
    return kind, code, header, body, ext


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("pcap")
    ap.add_argument("--remoting", default="")
    ap.add_argument("--raft", default="")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "corpus"))
    ap.add_argument("--per-kind", type=int, default=12)
    a = ap.parse_args()
    rem = {int(p) for p in a.remoting.split(",") if p}
    raft = {int(p) for p in a.raft.split(",") if p}
    kept = defaultdict(int)
    written = defaultdict(int)

    def seed(target, kind, data):
        if not data or kept[(target, kind)] >= a.per_kind:
            return
        kept[(target, kind)] += 1
        d = os.path.join(a.out, target)
        os.makedirs(d, exist_ok=True)
        p = os.path.join(d, hashlib.sha1(data).hexdigest()[:16])
        if not os.path.exists(p):
            with open(p, "wb") as f:
                f.write(data)
            written[target] += 1

    requests = {}  # (client key, opaque) -> request code, to name responses
    for key, stream in streams(a.pcap, rem | raft):
        server_port = key[3] if key[3] in rem | raft else key[1]
        if server_port in raft:
            for fr in frames(stream):
                seed("raft_rpc", ("to" if key[3] == server_port else "from", fr[12:16]), fr[4:])
            continue
        to_server = key[3] == server_port
        for fr in frames(stream):
            if len(fr) < 8:
                continue
            kind, code, header, body, ext = remoting(fr)
            tag = (to_server, kind, code)
            seed("frame", tag, fr)
            split = struct.pack(">H", min(len(header), 0xFFFF)) + header + body
            seed("header_json" if kind == 0 else "header_binary", tag, split)
            if to_server and code == SEND_BATCH:
                seed("batch_body", code, body)
            if to_server and code in FASTJSON_KIND:
                seed("fastjson_body", code, bytes([FASTJSON_KIND[code]]) + body)
            props = ext.get("properties") or ext.get("i")
            if to_server and props:
                seed("properties", code, props.encode("utf-8"))
            if not to_server and body and code == 0:
                # Responses carry code 0 (SUCCESS); pull bodies are stored messages, route
                # and other answers are JSON.
                if body[:1] in (b"{", b"["):
                    seed("fastjson_body", "answer", bytes([7]) + body)
                else:
                    seed("stored_message", "pull", body)
    for t in sorted(written):
        print(f"{t}: {written[t]} new seeds")


if __name__ == "__main__":
    main()
