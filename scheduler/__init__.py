"""Periodic jobs: thin functions `job(runtime, now) -> result` in a registry, run by APScheduler.

`qianjia scheduler` runs them in their own process, `qianjia serve` in-process (unless
--no-scheduler), and `qianjia jobs run NAME [--now ISO-TIME]` runs one job once.
"""
