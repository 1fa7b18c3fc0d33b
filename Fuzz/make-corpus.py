#!/usr/bin/env python3
"""Writes the seed corpus of the wire fuzzer (Fuzz/corpus): real protocol traffic, one file per
seed, each led by the selector byte that picks the decoder (0 startup, 1 stream, 2 error body)."""
import os, struct

def msg(kind, body=b""):
    return kind + struct.pack("!i", len(body) + 4) + body

def cstr(s):
    return s.encode() + b"\0"

def startup(**params):
    body = struct.pack("!i", 196608) + b"".join(cstr(k) + cstr(v) for k, v in params.items()) + b"\0"
    return struct.pack("!i", len(body) + 4) + body

ssl = struct.pack("!ii", 8, 80877103)
cancel = struct.pack("!iiii", 16, 80877102, 4242, 777)
frontend = (msg(b"Q", cstr("SELECT 1")) + msg(b"P", cstr("s1") + cstr("SELECT $1") + struct.pack("!h", 0))
            + msg(b"B", cstr("") + cstr("s1") + struct.pack("!hhih", 0, 1, 2, 0)[:-2] + b"42" + struct.pack("!h", 0))
            + msg(b"D", b"S" + cstr("")) + msg(b"E", cstr("") + struct.pack("!i", 0)) + msg(b"S") + msg(b"X"))
fields = b"S" + cstr("ERROR") + b"V" + cstr("ERROR") + b"C" + cstr("42P01") + b"M" + cstr('relation "x" does not exist') + b"\0"
backend = (msg(b"R", struct.pack("!i", 0)) + msg(b"S", cstr("client_encoding") + cstr("UTF8"))
           + msg(b"K", struct.pack("!ii", 1, 2)) + msg(b"Z", b"I") + msg(b"T", struct.pack("!h", 1) + cstr("x") + struct.pack("!ihihih", 0, 0, 23, 4, -1, 0))
           + msg(b"D", struct.pack("!hi", 1, 1) + b"1") + msg(b"C", cstr("SELECT 1")) + msg(b"E", fields) + msg(b"Z", b"E"))
seeds = {
    "startup": b"\x00" + startup(user="app", database="app", application_name="psql"),
    "ssl-then-startup": b"\x00" + ssl + startup(user="app"),
    "cancel": b"\x00" + cancel,
    "frontend-stream": b"\x01" + frontend,
    "frontend-stream-small-reads": b"\x04" + frontend,
    "backend-stream": b"\x07" + backend,
    "copy": b"\x0a" + msg(b"G", b"\0\0\0") + msg(b"d", b"1\t2\n" * 20) + msg(b"c") + msg(b"Z", b"I"),
    "error-body": b"\x02" + fields,
}
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "corpus"), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, "corpus", name), "wb") as f:
        f.write(data)
