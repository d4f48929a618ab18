"""Screenshots of the console for the README: seed the demo into a fresh SQLite database, start the server and save
PNGs, 1280 pixels wide, of the dashboard, a member's page and an import's preview to docs/img/.

    .venv/bin/python docs/screenshots.py [--members 300] [--out docs/img]

Needs Debian's chromium (as the browser tests do) and a Chinese font for the members' names
(`apt-get install fonts-wqy-microhei`; without one they show as boxes, and the script says so). Nothing leaves
the machine: the database and uploads live in a temporary directory, the server listens on 127.0.0.1, and a request
to any other host is refused (and reported).
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "screenshots-demo-1234"  # the demo superuser's, in the throwaway database only
WIDTH = 1280
# Every chart of the dashboard drawn by Unfold's own Chart.js (as tests/browser/helpers.py checks).
CHARTS_DRAWN = """() => {
    const canvases = [...document.querySelectorAll('#console-charts canvas.chart')];
    return canvases.length > 0 && canvases.every(canvas => window.Chart && Chart.getChart(canvas) !== undefined);
}"""
# The member shown: the first demo member of the first store with the most purchases.
PICK_MEMBER = """
import json
from django.db.models import Count
from members.models import Member
member = (Member.objects.filter(status="active").annotate(n=Count("purchases")).order_by("-n", "pk").first())
print(json.dumps({"pk": member.pk}))
"""
IMPORT_CSV = (
    "phone,name,gender,birthday,email,locale,tier,store,tags\n"
    "61230001,陳小明,m,1991-03-14,siu.ming@example.com,zh-hant,V1,cwb,VIP\n"
    "61230002,Jenny Lau,f,1988-11-02,jenny.lau@example.com,en,V2,central,\n"
    "61230003,李嘉欣,f,1995-02-30,,zh-hant,,tst,\n"
    "61230004,Wong Ka Ho,m,1979-07-21,ka.ho@example.com,en,V1,mongkok,Newsletter\n"
).encode()


def manage(env, *args, capture=False):
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=capture, text=True
    )
    return result.stdout


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_server(port, process, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server stopped (exit {process.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("the server did not start in time")


def shoot(base_url, member_pk, out):
    from playwright.sync_api import expect, sync_playwright

    outside = []

    def only_local(route):
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "localhost"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), headless=True, args=["--no-sandbox", "--disable-gpu"]
        )
        context = browser.new_context(
            base_url=base_url, viewport={"width": WIDTH, "height": 900}, locale="en-GB", device_scale_factor=1
        )
        context.set_default_timeout(30_000)
        context.route("**/*", only_local)
        page = context.new_page()

        page.goto("/console/")
        page.fill("#id_username", "admin")
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        expect(page.locator("#console-kpis")).to_be_visible()
        page.wait_for_function(CHARTS_DRAWN)
        page.screenshot(path=out / "dashboard.png", full_page=True)

        page.goto(f"/console/member/{member_pk}/")
        expect(page.locator("#member-profile")).to_be_visible()
        # The page's top: profile, card, tier, the ledger (the whole page runs to ~3,000 pixels).
        page.screenshot(path=out / "member.png", full_page=True, clip={"x": 0, "y": 0, "width": WIDTH, "height": 1500})

        page.goto("/console/members/member/import/")
        page.set_input_files("#id_file", files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": IMPORT_CSV}])
        page.click("#member-import-form input[type=submit]")
        expect(page.locator("#import-errors")).to_be_visible()
        page.screenshot(path=out / "import-preview.png", full_page=True)
        browser.close()
    if outside:
        raise SystemExit(f"requests left the machine: {outside}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=300, help="demo members to seed (default 300)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img", help="where the PNGs go")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    fonts = subprocess.run(["fc-list", ":lang=zh"], capture_output=True, text=True, check=False).stdout
    if not fonts.strip():
        print("warning: no Chinese font installed (apt-get install fonts-wqy-microhei): names will show as boxes")

    with tempfile.TemporaryDirectory(prefix="screenshots-") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp}/demo.sqlite3",
            "MEDIA_ROOT": f"{tmp}/media",
            "CELERY_BROKER_URL": "",  # tasks run eagerly, in the process
            "CACHE_URL": "locmemcache://",
            "DEBUG": "true",  # runserver serves the static files
        }
        manage(env, "migrate", "--noinput", "-v", "0")
        manage(env, "seed_demo", "--members", str(args.members), "--password", PASSWORD, capture=True)
        manage(env, "seed_demo_program", capture=True)
        shell = ("shell", "--no-imports", "-v", "0", "-c")
        manage(env, *shell, "from console.tasks import refresh_daily_figures; refresh_daily_figures()")
        member_pk = json.loads(manage(env, *shell, PICK_MEMBER, capture=True).splitlines()[-1])["pk"]

        port = free_port()
        server = subprocess.Popen(
            [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            wait_for_server(port, server)
            shoot(f"http://127.0.0.1:{port}", member_pk, args.out)
        finally:
            server.terminate()
            server.wait(timeout=30)
    for name in ("dashboard.png", "member.png", "import-preview.png"):
        path = args.out / name
        print(f"{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}: {path.stat().st_size // 1024} KB")


if __name__ == "__main__":
    main()
