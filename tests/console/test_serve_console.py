"""`qianjia serve --demo` in its own process: it prints the console and simulator addresses, and a
staff account made with `qianjia staff add` can sign in there over plain http."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requests

from tests.cli.test_serve_and_simulate import QIANJIA, clean_env, free_port, wait_for_port


def test_demo_serve_prints_the_console_and_simulator_addresses(tmp_path: Path) -> None:
    port, fake_port = free_port(), free_port()
    env = clean_env(DATABASE_URL=f"sqlite:///{tmp_path / 'demo.db'}", QIANJIA_DEMO__FAKE_WECHAT_PORT=str(fake_port))
    subprocess.run(QIANJIA + ["db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path, timeout=60)
    subprocess.run(QIANJIA + ["staff", "add", "demoadmin", "--role", "admin", "--password-stdin"], env=env,
                   input="demo-admin-password\n", text=True, check=True, capture_output=True, cwd=tmp_path,
                   timeout=60)
    proc = subprocess.Popen(QIANJIA + ["serve", "--demo", "--port", str(port)], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(port, proc)
        lines: list[str] = []
        assert proc.stdout is not None
        while not any("微信模拟器" in line for line in lines):
            lines.append(proc.stdout.readline())
        output = "".join(lines)
        assert f"反馈工作台：http://127.0.0.1:{port}/console/" in output
        assert f"微信模拟器：http://127.0.0.1:{port}/console/simulator" in output
        web = requests.Session()
        login = web.get(f"http://127.0.0.1:{port}/console/login", timeout=10)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login.text).group(1)
        resp = web.post(f"http://127.0.0.1:{port}/console/login", timeout=10, allow_redirects=False,
                        data={"username": "demoadmin", "password": "demo-admin-password", "csrf_token": token})
        assert resp.status_code == 302
        assert web.get(f"http://127.0.0.1:{port}/console/simulator", timeout=10).status_code == 200
        web.close()
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()
