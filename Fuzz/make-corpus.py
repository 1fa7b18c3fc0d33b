#!/usr/bin/env python3
"""Writes the seed corpus of the wire fuzzer (Fuzz/corpus): real protocol traffic, one file per
seed, each led by the selector byte that picks the decoder (selector % 5: 0 startup, 1 stream
read in pieces of 1 + (selector / 5) % 17 bytes, 2 error body, 3 a client's SCRAM messages,
4 a server's login messages; 128 and above: with channel binding)."""
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
client_first = b"n,,n=,r=rOprNGfwEbeRWgbNEkqO"
client_final = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
login = (msg(b"R", struct.pack("!i", 10) + cstr("SCRAM-SHA-256-PLUS") + cstr("SCRAM-SHA-256") + b"\0")
         + msg(b"R", struct.pack("!i", 11) + server_first) + msg(b"R", struct.pack("!i", 12) + b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
         + msg(b"R", struct.pack("!i", 0)) + msg(b"S", cstr("server_version") + cstr("15.18")) + msg(b"K", struct.pack("!ii", 1, 2)) + msg(b"Z", b"I"))
seeds = {
    "startup": b"\x00" + startup(user="app", database="app", application_name="psql"),
    "ssl-then-startup": b"\x00" + ssl + startup(user="app"),
    "cancel": b"\x00" + cancel,
    "frontend-stream": b"\x01" + frontend,
    "frontend-stream-small-reads": b"\x06" + frontend,
    "backend-stream": b"\x0b" + backend,
    "copy": b"\x10" + msg(b"G", b"\0\0\0") + msg(b"d", b"1\t2\n" * 20) + msg(b"c") + msg(b"Z", b"I"),
    "error-body": b"\x02" + fields,
    "scram-client": b"\x03" + client_first + b"\0" + client_final,
    "scram-client-plus": b"\x83" + b"p=tls-server-end-point,," + client_first[3:] + b"\0" + client_final,
    "server-login-scram": b"\x04" + login,
    "server-login-scram-plus": b"\x84" + login,
    "server-login-md5": b"\x09" + msg(b"R", struct.pack("!i", 5) + b"\x01\x02\x03\x04") + msg(b"R", struct.pack("!i", 0)) + msg(b"Z", b"I"),
    "server-login-error": b"\x0e" + msg(b"E", fields),
}
here = os.path.dirname(os.path.abspath(__file__))
os.makedirs(os.path.join(here, "corpus"), exist_ok=True)
for name, data in seeds.items():
    with open(os.path.join(here, "corpus", name), "wb") as f:
        f.write(data)
