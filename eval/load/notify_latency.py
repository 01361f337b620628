"""Redis pub/sub against PostgreSQL LISTEN/NOTIFY as the live-update bus, measured.

``python -P -m eval.load.notify_latency [--signals 1000]`` starts a throw-away Redis and
PostgreSQL on loopback and, for each bus of ``assistant.live``, two instances standing
for two server processes: one publishes (from worker threads, as the storage wrapper
does after a commit), the other's stream waits.  Reported per backend: delivery latency
(publish to the waiting stream woken, one signal at a time, p50/p95/p99), the cost of one
publish to the writing request (p50/p95), and the publish throughput of 8 threads at
once.  The figures and the load average go to standard output as JSON; docs/DEPLOY.md
records a run and the choice it supports.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from assistant.live import PostgresEventBus, RedisEventBus, conversation_topic
from eval.load.bench import percentile
from eval.load.servers import start_postgres, start_redis


async def _measure(writer: Any, reader: Any, signals: int) -> dict[str, float]:
    await writer.start()
    await reader.start()
    loop = asyncio.get_running_loop()
    try:
        waiter = reader.waiter([conversation_topic("bench")])
        delivery, cost = [], []
        for _ in range(signals):
            waiter.clear()
            sent = time.perf_counter()

            def publish() -> float:
                t = time.perf_counter()
                writer.publish(conversation_topic("bench"))
                return time.perf_counter() - t

            cost.append(await loop.run_in_executor(None, publish))
            if not await waiter.wait(5):
                raise RuntimeError("a signal was not delivered within 5 s")
            delivery.append(time.perf_counter() - sent)
        waiter.close()
        # throughput: 8 threads publishing at once (8 requests committing together)
        per_thread = max(1, signals // 8)
        started = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda _: [writer.publish(conversation_topic("other")) for _ in range(per_thread)], range(8)))
        seconds = time.perf_counter() - started
    finally:
        await writer.close()
        await reader.close()
    ms = lambda xs, q: round(percentile([x * 1000 for x in xs], q), 3)  # noqa: E731
    return {
        "delivery_p50_ms": ms(delivery, 50),
        "delivery_p95_ms": ms(delivery, 95),
        "delivery_p99_ms": ms(delivery, 99),
        "publish_p50_ms": ms(cost, 50),
        "publish_p95_ms": ms(cost, 95),
        "publishes_per_s_8_threads": round(8 * per_thread / seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--signals", type=int, default=1000)
    args = parser.parse_args()
    out: dict[str, Any] = {"signals": args.signals, "load_average_start": os.getloadavg()}
    redis = start_redis()
    pg = start_postgres()
    try:
        for name, make in (("redis", lambda: RedisEventBus(redis.url)), ("postgres", lambda: PostgresEventBus(pg.url))):
            out[name] = asyncio.run(_measure(make(), make(), args.signals))
    finally:
        redis.stop()
        pg.stop()
    out["load_average_end"] = os.getloadavg()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    threading.current_thread().name = "notify-latency"
    main()
