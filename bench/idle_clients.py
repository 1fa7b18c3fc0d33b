#!/usr/bin/env python3
"""Opens N idle PostgreSQL connections and reports how much a server process's RSS grew.

usage: idle_clients.py HOST PORT PID [N] [USER] [DATABASE]
Prints one line: connected=.. failed=.. rss_before_kib=.. rss_after_kib=.. per_client_kib=..
"""
import asyncio
import struct
import sys


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def startup_message(user, database):
    body = struct.pack("!I", 196608)  # protocol 3.0
    for key, value in (("user", user), ("database", database)):
        body += key.encode() + b"\0" + value.encode() + b"\0"
    body += b"\0"
    return struct.pack("!I", len(body) + 4) + body


async def connect(host, port, message, limit):
    """Returns the open writer once ReadyForQuery arrives, or None on failure."""
    async with limit:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
        except (OSError, asyncio.TimeoutError):
            return None
        try:
            writer.write(message)
            while True:
                kind, length = struct.unpack("!cI", await asyncio.wait_for(reader.readexactly(5), 30))
                payload = await reader.readexactly(length - 4)
                if kind == b"Z":
                    return writer
                if kind == b"E" or (kind == b"R" and struct.unpack("!I", payload[:4])[0] != 0):
                    break  # error, or a password was asked for: this benchmark uses trust
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
            pass
        writer.close()
        return None


async def main():
    host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    count = int(sys.argv[4]) if len(sys.argv) > 4 else 10000
    user = sys.argv[5] if len(sys.argv) > 5 else "bench"
    database = sys.argv[6] if len(sys.argv) > 6 else "bench"

    before = vm_rss_kib(pid)
    limit = asyncio.Semaphore(200)  # handshakes in flight; keeps the listen backlog happy
    message = startup_message(user, database)
    results = await asyncio.gather(*(connect(host, port, message, limit) for _ in range(count)))
    writers = [w for w in results if w is not None]
    await asyncio.sleep(2)  # let the server settle
    after = vm_rss_kib(pid)

    per_client = (after - before) / len(writers) if writers else float("nan")
    print(f"connected={len(writers)} failed={count - len(writers)} "
          f"rss_before_kib={before} rss_after_kib={after} per_client_kib={per_client:.1f}")
    for w in writers:
        w.close()
    return 0 if len(writers) == count else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
