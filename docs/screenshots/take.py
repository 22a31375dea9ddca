"""The README's screenshots, of the loop a new user runs on the embedded default.

In a fresh workspace: `python -m lab train` (the default recipe), `python -m lab eval` of base vs that
run on all 200 demo test rows in generate mode, then the page in headless Chromium: the Train tab,
the Evaluate tab showing that evaluation, and Predict answering demo test row 0 (a scam).

    python docs/screenshots/take.py [WORKSPACE]     # about 5 minutes on 2 CPU cores

Needs Debian's Chromium and playwright (as .ci/run installs them).
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parents[2]
WS = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.mkdtemp(prefix="fraud-lab-shots-"))
OUT = REPO / "docs" / "screenshots"


def lab(*args):
    """`python -m lab --workspace WS ...`, as a user runs it."""
    result = subprocess.run([sys.executable, "-m", "lab", "--workspace", str(WS), *args], cwd=REPO,
                            capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stdout[-3000:] + result.stderr[-3000:])
    return result.stdout
if not (WS / "shots.json").exists():
    run = json.loads(lab("train", "--json"))
    print("train", run["status"], run["metrics"].get("train_loss"), flush=True)
    evaluation = lab("eval", "--adapters", run["run_dir"], "--mode", "generate", "--json")
    (WS / "shots.json").write_text(json.dumps({"run": run, "eval": evaluation[-2000:]}))
print((WS / "shots.json").read_text()[:1500], flush=True)
port = 7911
env = dict(os.environ, FRAUD_LAB_WORKSPACE=str(WS))
server = subprocess.Popen([sys.executable, "-m", "lab", "serve", "--port", str(port)], cwd=REPO, env=env,
                          stdout=open(WS / "server.log", "w"), stderr=subprocess.STDOUT)
url = f"http://127.0.0.1:{port}/"
for _ in range(240):
    try:
        urllib.request.urlopen(url, timeout=2)
        break
    except OSError:
        time.sleep(0.5)
try:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, locale="en-US")
        page.goto(url)
        page.wait_for_timeout(4000)
        page.get_by_label("English").check()
        page.wait_for_timeout(2000)
        page.get_by_role("tab", name="Train", exact=True).click()
        page.wait_for_timeout(5000)
        page.screenshot(path=str(OUT / "train.png"), full_page=False)  # the curve and the log
        page.get_by_role("tab", name="Evaluate", exact=True).click()
        page.wait_for_timeout(3000)
        show = page.get_by_role("button", name="Show", exact=True)
        show.click()
        page.wait_for_timeout(6000)
        page.screenshot(path=str(OUT / "evaluate.png"), full_page=True)
        page.get_by_role("tab", name="Predict", exact=True).click()
        page.wait_for_timeout(2000)
        # A demo test row (row 0, a scam): the embedded model knows only the demo's scripts, so the
        # hand-written examples show a real model's behaviour better than its own (the page says so).
        page.get_by_role("button", name="Use this row", exact=True).click()
        page.wait_for_timeout(1500)
        page.get_by_role("button", name="Predict", exact=True).click()
        page.get_by_text("Fine-tuned: runs/", exact=False).first.wait_for(timeout=120_000)
        page.wait_for_timeout(1500)
        page.screenshot(path=str(OUT / "predict.png"), full_page=True)
        browser.close()
finally:
    server.terminate()
