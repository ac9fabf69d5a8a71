"""HTML → PDF (and page screenshots) with whatever is installed: headless Chromium, else LibreOffice."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LIBREOFFICE_NAMES = ("soffice", "libreoffice")
TIMEOUT_SECONDS = 120


def find_browser() -> str | None:
    """Path of a Chromium-family browser (Debian package `chromium`), or None."""
    env = os.environ.get("QIANJIA_CHROMIUM")
    if env and Path(env).is_file():
        return env
    return next((p for p in (shutil.which(n) for n in CHROMIUM_NAMES) if p), None)


def find_libreoffice() -> str | None:
    return next((p for p in (shutil.which(n) for n in LIBREOFFICE_NAMES) if p), None)


def _chromium(browser: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    # A throwaway profile: never touch (or wait on the lock of) a user's browser profile.
    with tempfile.TemporaryDirectory(prefix="qianjia-chromium-") as profile:
        cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
               f"--user-data-dir={profile}", *args]
        return subprocess.run(cmd, capture_output=True, timeout=TIMEOUT_SECONDS, check=False)


def html_to_pdf(html: Path, pdf: Path, *, converter: str = "auto") -> tuple[Path | None, str | None]:
    """Convert; returns (the PDF, None) or (None, a Chinese note saying why there is none)."""
    if converter == "none":
        return None, None
    browser = find_browser() if converter in ("auto", "chromium") else None
    if browser:
        try:
            _chromium(browser, "--no-pdf-header-footer", f"--print-to-pdf={pdf}", html.resolve().as_uri())
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"PDF 未生成：Chromium 转换失败（{exc}）"
        if pdf.is_file() and pdf.stat().st_size > 0:
            return pdf, None
        return None, "PDF 未生成：Chromium 没有输出文件"
    office = find_libreoffice() if converter in ("auto", "libreoffice") else None
    if office:
        try:
            subprocess.run([office, "--headless", "--convert-to", "pdf:writer_web_pdf_Export", "--outdir",
                            str(pdf.parent), str(html)], capture_output=True, timeout=TIMEOUT_SECONDS, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"PDF 未生成：LibreOffice 转换失败（{exc}）"
        produced = pdf.parent / (html.stem + ".pdf")
        if produced.is_file():
            if produced != pdf:
                produced.replace(pdf)
            return pdf, None
        return None, "PDF 未生成：LibreOffice 没有输出文件"
    return None, "PDF 未生成：未安装 Chromium 或 LibreOffice（Debian：apt-get install chromium），已跳过"


def screenshot(html: Path, png: Path, *, width: int = 1240, height: int = 1754) -> bool:
    """Save the first screen (an A4 page at 150 dpi by default) of a page as PNG; False without a browser."""
    browser = find_browser()
    if browser is None:
        return False
    png.parent.mkdir(parents=True, exist_ok=True)
    _chromium(browser, f"--window-size={width},{height}", f"--screenshot={png.resolve()}", html.resolve().as_uri())
    return png.is_file() and png.stat().st_size > 0
