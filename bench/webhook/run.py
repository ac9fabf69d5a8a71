"""Webhook throughput and latency: the full Qianjia path beside a bare wechatpy echo bot.

Both servers run the same way (werkzeug threaded server on loopback, safe mode: AES
decrypt + encrypt) and take the same load from a second process (keep-alive HTTP
clients, fixed concurrency, every message a new MsgId). The full path also verifies
the timestamp window, dedups, redacts, classifies, stores the ticket and the message
log and commits before answering.

    python -m bench.webhook.run [--messages 2000] [--concurrency 4]
    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test python -m bench.webhook.run
    DATABASE_URL=… python -m bench.webhook.run --gunicorn-workers 2   # + the production server

With --gunicorn-workers N the full path is also measured under gunicorn
(deploy/gunicorn.conf.py, N gthread workers) for the sizing figures in deploy/README.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import threading
import time
import uuid
from typing import Any

from flask import Flask, Response, request

TOKEN = "bench-token"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
APP_ID = "wxbench00000000000"

SAMPLES = [
    "人民路支行排队等了一个多小时，只开了两个窗口",
    "ATM吞卡了，卡号 6222 0212 3456 7890 128，怎么取回？",
    "手机银行转账一直提示系统繁忙，能不能修一下",
    "大堂经理很热情，帮我父亲办完了业务，谢谢！",
    "为什么每个月扣我小额账户管理费？",
    "理财经理推销保险，说是存款，回家才发现是保险",
    "网点的空调坏了，老人家在里面等太热了",
    "接到自称你们银行的电话让我转账，是不是诈骗？",
]


def echo_app() -> Flask:
    """The baseline: a bare wechatpy echo bot (signature, decrypt, parse, reply, encrypt)."""
    from wechatpy import create_reply, parse_message
    from wechatpy.crypto import WeChatCrypto

    crypto = WeChatCrypto(TOKEN, AES_KEY, APP_ID)
    app = Flask("echo")

    @app.post("/wechat")
    def echo() -> Response:
        args = request.args
        xml = crypto.decrypt_message(request.get_data(), args["msg_signature"], args["timestamp"], args["nonce"])
        msg = parse_message(xml)
        reply = create_reply(getattr(msg, "content", "ok"), msg)
        return Response(crypto.encrypt_message(reply.render(), args["nonce"], args["timestamp"]),
                        mimetype="application/xml")

    return app


def full_app(db_url: str) -> Flask:
    from bot.app import create_app
    from core.config import load_config
    from core.db import get_engine, upgrade

    upgrade(get_engine(db_url))
    cfg = load_config(environ={}, overrides={
        "wechat.token": TOKEN, "wechat.encoding_aes_key": AES_KEY, "wechat.app_id": APP_ID,
        "wechat.app_secret": "bench-secret", "wechat.mode": "safe", "database.url": db_url,
        "console.secret_key": "bench-console-secret",
    })
    app = create_app(cfg)
    app.extensions["qianjia.runtime"].analyzer  # noqa: B018  (load the model before timing)
    return app


def build_requests(n: int) -> list[tuple[str, bytes]]:
    from bot.simulator import WeChatUser

    out = []
    for i in range(n):
        user = WeChatUser(lambda p, b: (0, b""), openid=f"obench{i % 200:06d}{uuid.uuid4().hex[:8]}", token=TOKEN,
                          mode="safe", encoding_aes_key=AES_KEY, app_id=APP_ID)
        from bot.simulator import next_msg_id, text_xml

        xml = text_xml(openid=user.openid, account="gh_bench", content=SAMPLES[i % len(SAMPLES)] + f" #{i}",
                       msg_id=next_msg_id(), create_time=int(time.time()))
        out.append(user.signed_request(xml))
    return out


def _load(url: str, reqs: list[tuple[str, bytes]], concurrency: int, queue: Any) -> None:
    import requests

    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    chunks = [reqs[i::concurrency] for i in range(concurrency)]

    def worker(chunk: list[tuple[str, bytes]]) -> None:
        nonlocal errors
        session = requests.Session()
        local: list[float] = []
        bad = 0
        for path, body in chunk:
            t0 = time.perf_counter()
            resp = session.post(url + path, data=body, headers={"Content-Type": "text/xml"}, timeout=30)
            local.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                bad += 1
        with lock:
            latencies.extend(local)
            errors += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(c,)) for c in chunks]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((time.perf_counter() - started, latencies, errors))


def summarize(elapsed: float, latencies: list[float], errors: int) -> dict[str, float]:
    """Throughput and p50/p99 latency of one load run."""
    latencies = sorted(latencies)
    return {
        "messages": len(latencies),
        "errors": errors,
        "per_second": len(latencies) / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
    }


def measure(app: Flask, reqs: list[tuple[str, bytes]], concurrency: int) -> dict[str, float]:
    from werkzeug.serving import WSGIRequestHandler, make_server

    class QuietHandler(WSGIRequestHandler):
        def log_request(self, *args: Any, **kwargs: Any) -> None:  # access logs would dominate the timing
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_load, args=(url, reqs, concurrency, queue))
    proc.start()
    elapsed, latencies, errors = queue.get()
    proc.join()
    server.shutdown()
    return summarize(elapsed, latencies, errors)


def measure_gunicorn(db_url: str, workers: int, reqs: list[tuple[str, bytes]], concurrency: int) -> dict[str, float]:
    """The full path under gunicorn with the production config, load from a second process."""
    import socket
    import subprocess
    import sys
    import urllib.request
    from pathlib import Path

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = Path(__file__).resolve().parents[2]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QIANJIA_")}
    env.update({
        "DATABASE_URL": db_url, "QIANJIA_WECHAT__TOKEN": TOKEN, "QIANJIA_WECHAT__ENCODING_AES_KEY": AES_KEY,
        "QIANJIA_WECHAT__APP_ID": APP_ID, "QIANJIA_WECHAT__APP_SECRET": "bench-secret",
        "QIANJIA_CONSOLE__SECRET_KEY": "bench-console-secret", "QIANJIA_BIND": f"127.0.0.1:{port}",
        "QIANJIA_WEB_WORKERS": str(workers), "QIANJIA_LOGGING__LEVEL": "warning",
    })
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(root / "deploy" / "gunicorn.conf.py"),
                             "--access-logfile", "/dev/null", "bot.wsgi:app"], cwd=root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        ready = 0
        while ready < workers and time.monotonic() < deadline:  # every worker has loaded its model
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as resp:
                    ready = ready + 1 if resp.status == 200 else 0
            except OSError:
                time.sleep(0.3)
        url = f"http://127.0.0.1:{port}"
        ctx = mp.get_context("spawn")
        queue = ctx.Queue()
        load = ctx.Process(target=_load, args=(url, reqs, concurrency, queue))
        load.start()
        elapsed, latencies, errors = queue.get()
        load.join()
    finally:
        proc.terminate()
        proc.wait(30)
    return summarize(elapsed, latencies, errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--gunicorn-workers", type=int, default=0,
                        help="also measure the full path under gunicorn with this many workers")
    args = parser.parse_args()

    from bench.databases import private_database

    bench_url, drop = private_database(os.environ.get("DATABASE_URL"), prefix="qj_bench_webhook")
    try:
        print(f"database: {bench_url.split('@')[-1]}  messages: {args.messages}  concurrency: {args.concurrency}")
        reqs_echo = build_requests(args.messages)
        reqs_full = build_requests(args.messages)
        echo = measure(echo_app(), reqs_echo, args.concurrency)
        full = measure(full_app(bench_url), reqs_full, args.concurrency)
        print(f"{'':28}{'msg/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        for name, r in (("bare wechatpy echo bot", echo), ("qianjia full webhook path", full)):
            print(f"{name:28}{r['per_second']:10.1f}{r['p50_ms']:10.2f}{r['p99_ms']:10.2f}{r['errors']:8d}")
        print(f"ratio full/echo: throughput {full['per_second'] / echo['per_second']:.2f}x, "
              f"p50 latency {full['p50_ms'] / echo['p50_ms']:.2f}x, p99 latency {full['p99_ms'] / echo['p99_ms']:.2f}x")
        if args.gunicorn_workers:
            gun = measure_gunicorn(bench_url, args.gunicorn_workers, build_requests(args.messages),
                                   args.concurrency * 2)
            name = f"gunicorn, {args.gunicorn_workers} workers"
            print(f"{name:28}{gun['per_second']:10.1f}{gun['p50_ms']:10.2f}{gun['p99_ms']:10.2f}{gun['errors']:8d}")
            print(f"per worker: {gun['per_second'] / args.gunicorn_workers:.1f} msg/s "
                  f"({gun['per_second'] / echo['per_second']:.2f}x the echo bot's single process)")
    finally:
        from core.db import dispose_engines

        dispose_engines()
        drop()


if __name__ == "__main__":
    main()
