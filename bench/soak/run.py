"""Soak and fault test: sustained webhook load against gunicorn on PostgreSQL, the scheduler
running, and the database cut off in the middle.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m bench.soak.run \
        [--seconds 60] [--rate 20] [--outage-at 20] [--outage 8] [--workers 2]

Topology (all on loopback): a load process (WeChat's behaviour: 5 s timeout, up to 3
deliveries of the same message) → gunicorn (deploy/gunicorn.conf.py) → a TCP proxy →
PostgreSQL; `qianjia scheduler` → the same proxy; the fake WeChat API for outbound calls.
The fault (--fault proxy, the default) is a TCP proxy cut (tests/support/tcpproxy.py): every database connection of
the web and scheduler processes drops and new ones are refused for --outage seconds.  (A
real `pg_ctlcluster … restart` would also hit everyone else using the shared server.)
SLA hours are shrunk so escalations fire during the run.

Checks afterwards: every message that got a 200 is stored exactly once; no escalation
fired twice; the report says how many requests failed during the outage and how fast
service recovered.  Bounded: --seconds of load, every request ≤ 5 s, 3 deliveries each.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

SECRETS = {
    "QIANJIA_WECHAT__TOKEN": "soak-token",
    "QIANJIA_WECHAT__ENCODING_AES_KEY": "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
    "QIANJIA_WECHAT__APP_ID": "wxsoak000000000000",
    "QIANJIA_WECHAT__APP_SECRET": "soak-secret",
    "QIANJIA_CONSOLE__SECRET_KEY": "soak-console-secret",
}
TEXTS = ["人民路支行排队等了一个多小时，只开了两个窗口", "手机银行转账一直提示系统繁忙", "ATM吞卡了，怎么取回？",
         "大堂经理很热情，谢谢！", "为什么每个月扣我小额账户管理费？", "网点的空调坏了，老人家在里面等太热了"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load(url: str, seconds: float, rate: float, retry_interval: float, out: Any) -> None:
    """The second process: WeChat's deliveries at a steady rate, retried like WeChat does."""
    from concurrent.futures import ThreadPoolExecutor

    from bot.simulator import WeChatUser, http_transport, next_msg_id

    users = [WeChatUser(http_transport(url, timeout=5.0), openid=f"o{uuid.uuid4().hex[:27]}",
                        token=SECRETS["QIANJIA_WECHAT__TOKEN"], mode="safe",
                        encoding_aes_key=SECRETS["QIANJIA_WECHAT__ENCODING_AES_KEY"],
                        app_id=SECRETS["QIANJIA_WECHAT__APP_ID"]) for _ in range(20)]
    records: list[dict[str, Any]] = []
    lock = threading.Lock()

    def deliver(i: int) -> None:
        user, msg_id = users[i % len(users)], next_msg_id()
        attempts = []
        for _attempt in range(3):  # WeChat: 3 deliveries in all
            started = time.time()
            try:
                status = user.send_text(TEXTS[i % len(TEXTS)] + f"（{i}）", msg_id=msg_id).status
            except Exception as exc:  # noqa: BLE001 - timeouts and refused connections are data here
                status = type(exc).__name__
            attempts.append({"at": started, "status": status, "seconds": time.time() - started})
            if status == 200:
                break
            time.sleep(retry_interval)
        with lock:
            records.append({"msg_id": msg_id, "attempts": attempts})

    start = time.time()
    with ThreadPoolExecutor(32) as pool:
        i = 0
        while time.time() - start < seconds:
            pool.submit(deliver, i)
            i += 1
            time.sleep(max(0.0, start + i / rate - time.time()))
    out.send(records)


def _pg_cluster(action: str) -> None:
    """Stop or start the local PostgreSQL cluster, as an operator would."""
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action], check=True)
    if action == "start":
        for _ in range(60):
            if subprocess.run(["pg_isready", "-q", "-h", "127.0.0.1"], check=False).returncode == 0:
                return
            time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rate", type=float, default=20, help="new messages per second")
    parser.add_argument("--outage-at", type=float, default=20)
    parser.add_argument("--outage", type=float, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fault", choices=("proxy", "restart"), default="proxy",
                        help="proxy: cut a TCP proxy in front of PostgreSQL; restart: stop and start the "
                             "PostgreSQL server itself (pg_ctlcluster; affects everything using it)")
    parser.add_argument("--retry-interval", type=float, default=3.0,
                        help="seconds between WeChat's deliveries of one message after a failure")
    args = parser.parse_args()

    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    from bot.fake_wechat import FakeWeChatServer
    from core.db import get_engine, normalize_url, upgrade
    from tests.conftest import _create_pg_database, _drop_pg_database
    from tests.support.tcpproxy import TcpProxy

    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        sys.exit("set DATABASE_URL to a PostgreSQL server (e.g. postgresql://postgres@127.0.0.1:5432/test)")
    db_url = _create_pg_database(base)
    url = make_url(normalize_url(db_url))
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="qianjia-soak-"))
    procs: list[subprocess.Popen[bytes]] = []
    fake = FakeWeChatServer(SECRETS["QIANJIA_WECHAT__APP_ID"], SECRETS["QIANJIA_WECHAT__APP_SECRET"]).start()
    try:
        upgrade(get_engine(db_url))
        port = _free_port()
        web_url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("QIANJIA_", "PROMETHEUS_"))}
        env.update(SECRETS)
        env.update({"DATABASE_URL": proxied, "QIANJIA_WECHAT__API_BASE_URL": fake.url,
                    "QIANJIA_BIND": f"127.0.0.1:{port}", "QIANJIA_WEB_WORKERS": str(args.workers),
                    "PROMETHEUS_MULTIPROC_DIR": str(tmp / "prom"), "QIANJIA_LOGGING__FORMAT": "json",
                    "QIANJIA_LOGGING__LEVEL": "WARNING", "QIANJIA_METRICS__SCHEDULER_PORT": "0",
                    # Escalations within the run: first reply due after ~18 s, the sweep every 5 s.
                    "QIANJIA_SLA__PRIORITIES__NORMAL__FIRST_REPLY_HOURS": "0.005",
                    "QIANJIA_SLA__PRIORITIES__URGENT__FIRST_REPLY_HOURS": "0.005",
                    "QIANJIA_ESCALATION__INTERVAL_SECONDS": "5"})
        for name, cmd in (("web", [sys.executable, "-m", "gunicorn", "-c", str(ROOT / "deploy/gunicorn.conf.py"),
                                   "bot.wsgi:app"]),
                          ("scheduler-1", [sys.executable, "-m", "cli.main", "scheduler"]),
                          ("scheduler-2", [sys.executable, "-m", "cli.main", "scheduler"])):
            log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115
            # Schedulers keep their own (single-process) metrics, as in deploy/systemd.
            own = env if name == "web" else {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
            procs.append(subprocess.Popen(cmd, cwd=ROOT, env=own, stdout=log, stderr=subprocess.STDOUT))
        import requests

        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(web_url + "/readyz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.5)
        else:
            sys.exit(f"web never became ready; logs in {tmp}")

        receiver, sender = mp.Pipe(duplex=False)
        loader = mp.get_context("spawn").Process(target=_load, args=(web_url, args.seconds, args.rate, args.retry_interval, sender))
        started = time.time()
        loader.start()
        time.sleep(args.outage_at)
        cut_at = time.time()
        if args.fault == "restart":
            _pg_cluster("stop")
            time.sleep(args.outage)
            _pg_cluster("start")
        else:
            proxy.cut()
            time.sleep(args.outage)
            proxy.restore()
        restored_at = time.time()
        records = receiver.recv()
        loader.join()
        time.sleep(15)  # let the schedulers sweep after the load

        attempts = [a for r in records for a in r["attempts"]]
        ok_ids = [r["msg_id"] for r in records if r["attempts"][-1]["status"] == 200]
        lost = [r for r in records if r["attempts"][-1]["status"] != 200]
        failed = [a for a in attempts if a["status"] != 200]
        in_outage = [a for a in failed if cut_at - 5 <= a["at"] <= restored_at + 5]
        after_ok = sorted(a["at"] + a["seconds"] for a in attempts if a["status"] == 200 and a["at"] >= restored_at)
        failures_after = [a["at"] for a in failed if a["at"] >= restored_at]
        engine = get_engine(db_url)
        with engine.connect() as conn:
            stored = dict(conn.execute(text(
                "SELECT wechat_msg_id, count(*) FROM messages WHERE direction = 'in' AND msg_type = 'text' "
                "GROUP BY wechat_msg_id")).all())
            escalations = conn.execute(text("SELECT count(*) FROM escalations")).scalar()
            doubled = conn.execute(text("SELECT count(*) FROM (SELECT ticket_id, level, due_at FROM escalations "
                                        "GROUP BY ticket_id, level, due_at HAVING count(*) > 1) d")).scalar()
        report = {
            "load": {"seconds": args.seconds, "rate_per_second": args.rate, "messages": len(records),
                     "requests": len(attempts), "web_workers": args.workers, "schedulers": 2},
            "fault": {"kind": "PostgreSQL stopped and started (pg_ctlcluster)" if args.fault == "restart"
                      else "tcp proxy cut (every DB connection dropped, new ones refused)",
                      "at_second": round(cut_at - started, 1), "seconds": args.outage},
            "failed_requests": len(failed),
            "failed_requests_during_outage": len(in_outage),
            "failure_kinds": {str(k): sum(1 for a in failed if a["status"] == k) for k in {a["status"] for a in failed}},
            "messages_never_acknowledged": len(lost),
            "recovery_seconds_to_first_200": round(after_ok[0] - restored_at, 2) if after_ok else None,
            "recovery_seconds_to_last_failure": round(max(failures_after) - restored_at, 2) if failures_after else 0.0,
            "acknowledged_and_stored_exactly_once": sum(1 for m in ok_ids if stored.get(m) == 1),
            "acknowledged_but_missing": sum(1 for m in ok_ids if m not in stored),
            "stored_more_than_once": sum(1 for n in stored.values() if n > 1),
            "escalations_fired": escalations,
            "escalations_fired_twice": doubled,
            "logs": str(tmp),
        }
        print(json.dumps(report, ensure_ascii=False, indent=2))
        ok = (report["acknowledged_and_stored_exactly_once"] == len(ok_ids) and not report["stored_more_than_once"]
              and not doubled)
        print("结果：" + ("通过" if ok else "失败"))
        sys.exit(0 if ok else 1)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
        fake.stop()
        proxy.close()
        from core.db import dispose_engines

        dispose_engines()
        _drop_pg_database(base, db_url)


if __name__ == "__main__":
    main()
