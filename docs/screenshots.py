"""Screenshots of the built documentation in headless Chromium (``make docs-screenshots``).

Renders the index page, one API page and one notebook page of ``docs/_build/html`` with the
real browser and writes PNGs to ``docs/_build/screenshots/`` to look at (layout, theme, code
blocks, notebook outputs and figures). Needs the Debian package ``chromium`` (the Makefile target
installs it) and a finished ``make docs``.

    python docs/screenshots.py [--html docs/_build/html] [--out docs/_build/screenshots] [--width 1280]
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
#: page (relative to the HTML folder) -> (PNG name, window height in pixels)
PAGES: dict[str, tuple[str, int]] = {
    "index.html": ("index.png", 1400),
    "api/generated/bridge.SleepReplay.html": ("api_SleepReplay.png", 2000),
    "generated/notebooks/01_quickstart.html": ("notebook_quickstart.png", 3200),
}


def browser() -> str:
    """The Chromium executable (``chromium`` on Debian)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise SystemExit("chromium not found: apt-get install chromium (or run make docs-screenshots as root)")


def screenshot(page: Path, png: Path, width: int, height: int) -> None:
    """One PNG of ``page`` as Chromium renders it in a ``width`` x ``height`` window."""
    cmd = [browser(), "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
           "--force-device-scale-factor=1", f"--window-size={width},{height}", "--virtual-time-budget=5000",
           f"--screenshot={png}", page.as_uri()]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if proc.returncode != 0 or not png.is_file() or png.stat().st_size == 0:
        raise SystemExit(f"chromium failed on {page}: {proc.stderr.strip()[-500:]}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--html", type=Path, default=DOCS / "_build" / "html", metavar="DIR",
                    help="built HTML (default docs/_build/html)")
    ap.add_argument("--out", type=Path, default=DOCS / "_build" / "screenshots", metavar="DIR",
                    help="where the PNGs go (default docs/_build/screenshots)")
    ap.add_argument("--width", type=int, default=1280, metavar="N", help="window width in pixels (default 1280)")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for rel, (name, height) in PAGES.items():
        page = args.html / rel
        if not page.is_file():
            raise SystemExit(f"{page} does not exist: run make docs first")
        screenshot(page, args.out / name, args.width, height)
        print(f"{args.out / name}  <- {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
