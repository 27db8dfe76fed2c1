"""Release error of the Python client (clients/python), lead mode or not, against a running gateway.

N playbacks of the demo's taxi channel in this one process, each paced to ``--rate`` events/s; records
|hand-over to the loop − due| of every event after the first second and prints p50, p99 and max, and the gateway's CPU
over the run when ``--server-pid`` is given (Linux: /proc). The figures in docs/performance.md ("The Python client asks
for lead mode too") came from:

    dotnet server/Tivo.Server/bin/Release/net10.0/Tivo.Server.dll --urls http://127.0.0.1:8097 &
    python3 -m venv --system-site-packages .venv && .venv/bin/pip install --no-index --no-build-isolation --no-deps ./clients/python
    .venv/bin/python bench/python/lead_clients.py --url http://127.0.0.1:8097 --sessions 100 --lead 500 --server-pid <pid>
    .venv/bin/python bench/python/lead_clients.py --url http://127.0.0.1:8097 --sessions 100 --lead 0 --server-pid <pid>
"""

import argparse
import asyncio
import os
import time
from typing import List, Optional

import tivo


def cpu_seconds(pid: Optional[int]) -> Optional[float]:
    if pid is None:
        return None
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime, in clock ticks


async def play(client: tivo.Client, lead: float, rate: float, seconds: float, errors: List[float]) -> None:
    async with client.play("taxi", "2016-01-15T14:00:00Z", "2016-01-15T16:00:00Z", rate=rate, lead=lead) as playback:
        start = time.time()
        async for event in playback:
            now = time.time()
            if now - start > 1:  # the first second warms up
                errors.append(abs(now * 1000 - event["due"]))
            if now - start > seconds + 1:
                return


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--sessions", type=int, default=1)
    parser.add_argument("--lead", type=float, default=tivo.DEFAULT_LEAD_MS)
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()
    client = tivo.Client(args.url)
    errors: List[float] = []
    cpu = cpu_seconds(args.server_pid)
    await asyncio.gather(*(play(client, args.lead, args.rate, args.seconds, errors) for _ in range(args.sessions)))
    used = None if cpu is None else cpu_seconds(args.server_pid) - cpu
    errors.sort()
    if not errors:
        raise SystemExit("no events were measured")
    q = lambda f: errors[min(len(errors) - 1, int(f * len(errors)))]  # noqa: E731
    print(f"sessions {args.sessions} lead {args.lead:g} ms: {len(errors)} events, |hand-over − due| p50 {q(0.5):.2f} ms"
          f" p99 {q(0.99):.2f} ms max {errors[-1]:.2f} ms" + ("" if used is None else f"; the gateway's CPU {used:.2f} s"))


if __name__ == "__main__":
    asyncio.run(main())
