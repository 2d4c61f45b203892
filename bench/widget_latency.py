"""Visitor send → agent screen latency, against a running Switchboard.

A visitor writes through the widget's HTTP API; an agent's inbox is open in Chromium.
For each message we take the time just before the visitor's POST and the time the
message's text appears in the agent's open thread (a MutationObserver in the page).
Both clocks are this machine's wall clock.

    make run                       # in another terminal (or any running instance)
    .venv/bin/python bench/widget_latency.py --url http://127.0.0.1:8000 --samples 200
"""

import argparse
import json
import statistics
import time

import httpx
from playwright.sync_api import sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

WATCH = """
window.__seen = {};
new MutationObserver(() => {
  document.querySelectorAll("#thread .message-body").forEach((el) => {
    const m = /^latency-(\\d+)$/.exec(el.textContent.trim());
    if (m && !(m[1] in window.__seen)) { window.__seen[m[1]] = Date.now(); }
  });
}).observe(document.body, { childList: true, subtree: true });
"""


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--interval", type=float, default=0.05)
    parser.add_argument("--email", default="agent@example.com")
    parser.add_argument("--password", default="switchboard")
    args = parser.parse_args()

    visitor = httpx.Client(base_url=args.url, headers={"Origin": args.url}, timeout=10)
    demo = httpx.get(f"{args.url}/widget/demo/", timeout=10).text
    inbox = demo.split('data-inbox="')[1].split('"')[0]
    token = visitor.post(f"/widget/{inbox}/sessions/", json={"site": args.url}).json()["token"]
    headers = {"X-Visitor-Token": token}

    def send(n):
        started = time.time() * 1000
        response = visitor.post(
            f"/widget/{inbox}/messages/", data={"body": f"latency-{n}"}, headers=headers
        )
        response.raise_for_status()
        return started

    send(0)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{args.url}/accounts/login/")
        page.get_by_label("Email").fill(args.email)
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Sign In").click()
        page.wait_for_url(f"{args.url}/")
        page.goto(f"{args.url}/?view=all")
        page.locator(".conv-row", has_text="latency-0").get_by_role("link").click()
        page.locator("#connection-status[data-state='online']").wait_for()
        page.locator("#thread .message-body", has_text="latency-0").wait_for()
        page.evaluate(WATCH)

        total = args.warmup + args.samples
        sent_at = {}
        for n in range(1, total + 1):
            sent_at[n] = send(n)
            time.sleep(args.interval)
        page.wait_for_function(f"Object.keys(window.__seen).length >= {total}", timeout=60_000)
        seen = {int(k): v for k, v in page.evaluate("window.__seen").items()}
        browser.close()

    latencies = [seen[n] - sent_at[n] for n in range(args.warmup + 1, total + 1)]
    result = {
        "samples": len(latencies),
        "interval_s": args.interval,
        "p50_ms": round(statistics.median(latencies), 1),
        "p90_ms": round(percentile(latencies, 90), 1),
        "p99_ms": round(percentile(latencies, 99), 1),
        "max_ms": round(max(latencies), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
