"""The admin console in a real browser: Debian's Chromium, headless, driven by Playwright.

Run by tests/tests/served/console.rs against the functions as `make dev` serves them; it can also
be run by hand against a running `make dev`:

    eval "$(scripts/tools.sh)"
    PROVISIO_URL=http://127.0.0.1:9000 PROVISIO_ADMIN_KEY=pk_... \\
        "$PROVISIO_PLAYWRIGHT_PYTHON" tests/browser/console.py

Every page is checked with axe-core (no serious or critical violations) and saved as a
screenshot in $PROVISIO_SCREENSHOTS (default: a temporary directory).
"""

import json
import os
import sys
import tempfile
import time
import traceback

from playwright.sync_api import expect, sync_playwright

BASE = os.environ["PROVISIO_URL"].rstrip("/")
KEY = os.environ["PROVISIO_ADMIN_KEY"]
SHOTS = os.environ.get("PROVISIO_SCREENSHOTS") or tempfile.mkdtemp(prefix="provisio-console-")
AXE = os.environ["PROVISIO_AXE_JS"]
CHROMIUM = os.environ.get("PROVISIO_CHROMIUM", "/usr/bin/chromium")
RUN = str(int(time.time() * 1000))[-7:]

# Chromium as this machine runs it: no sandbox (root), no background calls to Google.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

expect.set_options(timeout=20_000)


def step(name):
    print(f"console: {name}", flush=True)


def check_accessibility(page, name):
    """axe-core, loaded into every page as an init script (which the page's CSP does not govern:
    the console itself runs under it unchanged, and a violation would fail the run)."""
    result = page.evaluate("""async () => {
        const r = await axe.run(document, { resultTypes: ['violations'] });
        return r.violations.map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5) }));
    }""")
    bad = [v for v in result if v["impact"] in ("serious", "critical")]
    assert not bad, f"{name}: accessibility violations: {json.dumps(bad, indent=1)}"


def visit(page, name):
    """The page as shown: accessible, and saved as a screenshot."""
    page.wait_for_load_state("networkidle")
    check_accessibility(page, name)
    page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def field_error(page, label):
    """The error shown beside the input labelled `label`."""
    input_ = page.get_by_label(label, exact=True)
    described = input_.get_attribute("aria-describedby").split()
    return page.locator(f"#{described[-1]}")


def sign_in_by_keyboard(page, key):
    page.get_by_label("Admin key", exact=True).focus()
    page.keyboard.type(key)
    page.keyboard.press("Enter")


def run(page, context):
    step("the console asks to sign in")
    page.goto(f"{BASE}/console")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    visit(page, "sign-in")

    step("a wrong key is refused beside the key field")
    sign_in_by_keyboard(page, "pk_wrong")
    expect(field_error(page, "Admin key")).to_have_text("This admin key is not valid.")
    expect(page.get_by_label("Admin key", exact=True)).to_have_attribute("aria-invalid", "true")

    step("the right key signs in, by keyboard; the session is a cookie scripts can't read")
    page.get_by_label("Admin key", exact=True).fill("")
    sign_in_by_keyboard(page, KEY)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    cookies = {c["name"]: c for c in context.cookies()}
    session = cookies["provisio_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict", session
    assert KEY not in session["value"]
    assert "provisio_session" not in page.evaluate("document.cookie")
    stored = page.evaluate("JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])")
    assert KEY not in stored, "the key is never kept in the browser's storage"
    visit(page, "dashboard")

    step("a user is added; a wrong email shows its error beside the email field")
    page.get_by_role("link", name="Users", exact=True).first.click()
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    page.get_by_role("link", name="Add user").click()
    page.get_by_label("userName", exact=True).fill(f"ada.{RUN}")
    page.get_by_label("Email", exact=True).fill("not-an-email")
    page.get_by_label("Given name", exact=True).fill("Ada")
    page.get_by_role("button", name="Create user").click()
    expect(field_error(page, "Email")).not_to_be_empty()
    expect(page.get_by_label("Email", exact=True)).to_have_attribute("aria-invalid", "true")
    visit(page, "user-form-error")
    page.get_by_label("Email", exact=True).fill(f"ada.{RUN}@example.com")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"ada.{RUN}")).to_be_visible()
    visit(page, "user")

    step("the user is edited with the version check, then deactivated")
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Display name", exact=True).fill("Ada Lovelace")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", name=f"ada.{RUN}")).to_be_visible()
    expect(page.locator("dl.props")).to_contain_text("Ada Lovelace")
    page.get_by_role("button", name="Deactivate").click()
    expect(page.get_by_role("button", name="Activate")).to_be_visible()
    expect(page.locator("dl.props")).to_contain_text("inactive")

    step("the user is found by a userName prefix and by email")
    page.goto(f"{BASE}/console#/users?q=ADA.{RUN}")
    expect(page.get_by_role("link", name=f"ada.{RUN}")).to_be_visible()
    visit(page, "users")
    page.get_by_label("Search by userName (starts with) or email").fill(f"ada.{RUN}@example.com")
    page.get_by_label("Search by userName (starts with) or email").press("Enter")
    expect(page.get_by_role("link", name=f"ada.{RUN}")).to_be_visible()
    page.get_by_label("Search by userName (starts with) or email").fill(f"nobody.{RUN}")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_text("None yet.")).to_be_visible()

    step("the user is deleted")
    page.goto(f"{BASE}/console#/users?q=ada.{RUN}")
    page.get_by_role("link", name=f"ada.{RUN}").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.goto(f"{BASE}/console#/users?q=ada.{RUN}")
    expect(page.get_by_text("None yet.")).to_be_visible()

    step("an ended session sends the console back to sign-in")
    context.clear_cookies()
    page.goto(f"{BASE}/console#/users")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    sign_in_by_keyboard(page, KEY)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()

    step("sign out ends the session")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "provisio_session" not in {c["name"] for c in context.cookies()}
    page.goto(f"{BASE}/console#/users")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def main():
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1200, "height": 800})
        context.add_init_script(path=AXE)
        page = context.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # Script errors and CSP violations; failed loads are judged by their responses below.
        page.on("console", lambda m: errors.append(m.text)
                if m.type == "error" and not m.text.startswith("Failed to load resource") else None)
        # The run provokes 400 (a wrong field) and 401 (a wrong key, an ended session); anything
        # else is a bug: a missing file, a route the pages call that does not exist, a 5xx.
        page.on("response", lambda r: errors.append(f"{r.status} {r.request.method} {r.url}")
                if r.status >= 400 and r.status not in (400, 401) else None)
        try:
            run(page, context)
            assert not errors, f"the page logged errors: {errors}"
        except Exception:
            page.screenshot(path=os.path.join(SHOTS, "failure.png"), full_page=True)
            traceback.print_exc()
            print(f"console: FAILED; screenshots in {SHOTS}", flush=True)
            sys.exit(1)
        finally:
            browser.close()
    print(f"console: passed; screenshots in {SHOTS}", flush=True)


if __name__ == "__main__":
    main()
