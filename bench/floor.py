"""The floor: what one bare PostgreSQL insert+commit and one Redis publish→subscribe cost.

A push can be no faster than storing a row and passing one message through Redis, so
push latency is read against this floor, measured in the same run on the same machine.
"""

import statistics
import time

import psycopg
import redis


def postgres_insert_commit_ms(database_url, samples=300, warmup=30):
    with psycopg.connect(database_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bench_floor (id bigserial, at timestamptz)")
        conn.commit()
        times = []
        for n in range(warmup + samples):
            started = time.perf_counter()
            conn.execute("INSERT INTO bench_floor (at) VALUES (now())")
            conn.commit()
            if n >= warmup:
                times.append((time.perf_counter() - started) * 1000)
        conn.execute("TRUNCATE bench_floor")
        conn.commit()
    return statistics.median(times)


def redis_round_trip_ms(redis_url, samples=300, warmup=30):
    """Publish on one connection, receive on a subscriber's: the time between."""
    publisher = redis.Redis.from_url(redis_url)
    subscriber = redis.Redis.from_url(redis_url).pubsub()
    subscriber.subscribe("bench-floor")
    subscriber.get_message(timeout=1)  # the subscribe confirmation
    times = []
    for n in range(warmup + samples):
        started = time.perf_counter()
        publisher.publish("bench-floor", str(n))
        message = None
        while message is None:
            message = subscriber.get_message(timeout=1)
        if n >= warmup:
            times.append((time.perf_counter() - started) * 1000)
    subscriber.close()
    publisher.close()
    return statistics.median(times)


def measure(environment):
    postgres = postgres_insert_commit_ms(environment.database_url)
    round_trip = redis_round_trip_ms(environment.redis_url)
    return {
        "postgres_insert_commit_p50_ms": round(postgres, 3),
        "redis_publish_subscribe_p50_ms": round(round_trip, 3),
        "floor_ms": round(postgres + round_trip, 3),
    }
