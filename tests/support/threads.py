"""Races on demand: one call from many threads, released together."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_threads(n: int, target: Callable[[], T]) -> list[T]:
    """Run `target` in n threads released together; return results, re-raising any error."""
    barrier = threading.Barrier(n)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work() -> None:
        try:
            barrier.wait(timeout=30)
            value = target()
            with lock:
                results.append(value)
        except BaseException as exc:  # noqa: BLE001 (re-raised in the caller's thread below)
            with lock:
                errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    if errors:
        raise errors[0]
    return results
