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

from playwright.sync_api import TimeoutError as PlaywrightTimeout
from playwright.sync_api import expect, sync_playwright

BASE = os.environ["PROVISIO_URL"].rstrip("/")
KEY = os.environ["PROVISIO_ADMIN_KEY"]
SHOTS = os.environ.get("PROVISIO_SCREENSHOTS") or tempfile.mkdtemp(prefix="provisio-console-")
AXE = os.environ["PROVISIO_AXE_JS"]
CHROMIUM = os.environ.get("PROVISIO_CHROMIUM", "/usr/bin/chromium")
RUN = os.environ.get("PROVISIO_RUN") or str(int(time.time() * 1000))[-7:]
# The sample app of seed 000 (tools/devstack's UsersApi): OAuth 2.0 client credentials.
SAMPLE = os.environ.get("PROVISIO_SAMPLE_URL")
SAMPLE_CLIENT = os.environ.get("PROVISIO_SAMPLE_CLIENT_ID", "")
SAMPLE_SECRET = os.environ.get("PROVISIO_SAMPLE_CLIENT_SECRET", "")
# A SCIM 2.0 service to provision to (scim2-server, started by the served test).
SCIM_PEER = os.environ.get("PROVISIO_SCIM_PEER_URL")

# Chromium as this machine runs it: no sandbox (root), no background calls to Google.
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]

# Generous: under `make test` the local stack is busy; a wait that passes returns at once.
expect.set_options(timeout=60_000)


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
    assert not bad, f"{name}: accessibility violations: {json.dumps(bad)}"


def visit(page, name):
    """The page as shown: accessible, no stray "null" or "undefined", saved as a screenshot."""
    page.wait_for_load_state("networkidle")
    shown = page.locator("main").inner_text()
    for word in ("null", "undefined", "[object Object]", "NaN"):
        assert word not in shown.split(), f"{name}: the page shows {word!r}"
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
    load(page, f"{BASE}/console", "Sign in")
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
    settle(page)
    expect(page.locator("caption")).to_contain_text(f"ADA.{RUN}")
    expect(page.get_by_role("link", name=f"ada.{RUN}")).to_be_visible()
    visit(page, "users")
    # Each search is a new page: wait for its caption before using what it shows.
    page.get_by_label("Search by userName (starts with) or email").fill(f"ada.{RUN}@example.com")
    page.get_by_label("Search by userName (starts with) or email").press("Enter")
    settle(page)
    expect(page.locator("caption")).to_contain_text(f"ada.{RUN}@example.com")
    expect(page.get_by_role("link", name=f"ada.{RUN}")).to_be_visible()
    page.get_by_label("Search by userName (starts with) or email").fill(f"nobody.{RUN}")
    page.get_by_role("button", name="Search").click()
    settle(page)
    expect(page.locator("caption")).to_contain_text(f"nobody.{RUN}")
    expect(page.get_by_text("None yet.")).to_be_visible()

    step("the user is deleted")
    page.goto(f"{BASE}/console#/users?q=ada.{RUN}")
    settle(page)
    page.get_by_role("link", name=f"ada.{RUN}").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("heading", name="Users", exact=True)).to_be_visible()
    page.goto(f"{BASE}/console#/users?q=ada.{RUN}")
    settle(page)
    expect(page.locator("caption")).to_contain_text(f"ada.{RUN}")
    expect(page.get_by_text("None yet.")).to_be_visible()

    if SAMPLE:
        seed_000(page)
    if SCIM_PEER:
        scim_app(page)
    seed_004(page, context)

    step("an ended session sends the console back to sign-in")
    context.clear_cookies()
    page.goto(f"{BASE}/console#/users")
    page.reload()
    reloaded_once(page, lambda t: expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=t))
    sign_in_by_keyboard(page, KEY)
    expect(page.get_by_role("heading", name="Users")).to_be_visible()

    step("sign out ends the session")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert "provisio_session" not in {c["name"] for c in context.cookies()}
    page.goto(f"{BASE}/console#/users")
    page.reload()
    reloaded_once(page, lambda t: expect(page.get_by_role("heading", name="Sign in")).to_be_visible(timeout=t))


def reloaded_once(page, wait):
    """`wait()`, and if it times out, one reload and `wait()` again. `cargo lambda watch`'s
    concurrent instances once in a while leave one request of a page's burst unanswered (the page
    then stays at "Loading..."); a deployed API does not, and a person would reload."""
    try:
        wait(20_000)
    except AssertionError:
        print("console: a request through cargo lambda watch went unanswered; reloading once", flush=True)
        page.reload()
        wait(60_000)


def load(page, url, heading):
    """Opens `url` (a full load) and waits for the page titled `heading`."""
    page.goto(url)
    reloaded_once(page, lambda t: expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible(timeout=t))


def settle(page):
    """Waits until the page on screen is the one the address names: a hash change keeps the old
    page on screen until the new one is rendered (the console marks `body[data-rendered]`)."""
    rendered = page.evaluate("location.hash")
    reloaded_once(page, lambda t: expect(page.locator("body")).to_have_attribute("data-rendered", rendered, timeout=t))


def open_page(page, route, heading):
    """Goes to a console route and waits for its page."""
    page.goto(f"{BASE}/console{route}")
    settle(page)
    expect(page.get_by_role("heading", name=heading, exact=True)).to_be_visible()


def wait_for(page, check, what, seconds=90):
    """Reloads the page until `check()` holds (provisioning is asynchronous: stream, queue,
    dispatcher)."""
    deadline = time.time() + seconds
    while True:
        try:
            if check():
                return
        except PlaywrightTimeout:
            # A reload left at "Loading..." by the watcher (see reloaded_once): the next one.
            pass
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(1)
        page.reload()
        page.wait_for_load_state("networkidle")


def add_event(page, label, url, method, body, external_id_path=None):
    page.get_by_role("link", name=f"Add {label}").click()
    expect(page.get_by_role("heading", name=label)).to_be_visible()
    page.get_by_label("API endpoint", exact=True).fill(url)
    page.get_by_label("Method", exact=True).select_option(method)
    page.get_by_label("Authorization", exact=True).select_option(label="oauth (oauth2)")
    page.get_by_label("Request body (JSON; @attribute placeholders)").fill(json.dumps(body, indent=2))
    if external_id_path:
        page.get_by_label("Store the user identifier from the response at").fill(external_id_path)
    expect(page.locator(".placeholders")).to_contain_text("@email")
    visit(page, f"event-{method.lower()}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name="Authorization")).to_be_visible()


def seed_000(page):
    """Custom provisioning, as seed 000 walks through it: app, OAuth authorization, user-created
    and user-updated events, group, policy, a user joins and the app receives the create; an
    import and its bulk-operations report."""
    app = f"Sample app {RUN}"
    step("seed 000: add a custom provisioning app")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name="Add app").click()
    page.get_by_label("Application type").select_option("custom_provisioning")
    page.get_by_label("Display application name").fill(app)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=app)).to_be_visible()

    step("seed 000: an OAuth 2.0 authorization (the secret is write-only)")
    page.get_by_role("link", name="Add configuration").click()
    page.get_by_label("Authorization type").select_option("oauth2")
    page.get_by_label("Authorization name").fill("oauth")
    page.get_by_label("Access token URL").fill(f"{SAMPLE}/oauth/token")
    page.get_by_label("Client ID").fill(SAMPLE_CLIENT)
    page.get_by_label("Client secret").fill(SAMPLE_SECRET)
    visit(page, "authorization")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="oauth2")).to_be_visible()
    expect(page.get_by_role("cell", name="set", exact=True)).to_be_visible()
    assert SAMPLE_SECRET not in page.content(), "a client secret is never shown"

    step("seed 000: user-created and user-updated events with placeholders")
    add_event(page, "User created", f"{SAMPLE}/users", "POST",
              {"email": "@email", "name": "@givenName"}, external_id_path="data.id")
    add_event(page, "End user updated", f"{SAMPLE}/users/@ExternalUserId", "PUT",
              {"email": "@email", "name": "@givenName"})
    visit(page, "app")

    step("seed 000: a group and its app login policy")
    group = f"Engineering {RUN}"
    open_page(page, "#/groups", "Groups")
    page.get_by_label("Group name").fill(group)
    page.get_by_role("button", name="Create group").click()
    expect(page.get_by_role("heading", name=group)).to_be_visible()
    page.get_by_label("Application").select_option(label=app)
    page.get_by_label("Policy name").fill("sample access")
    page.get_by_role("button", name="Add policy").click()
    expect(page.get_by_role("cell", name="sample access", exact=True)).to_be_visible()

    step("seed 000: a user joins the group and the app receives the create")
    open_page(page, "#/users/new", "Add user")
    page.get_by_label("userName", exact=True).fill(f"grace.{RUN}")
    page.get_by_label("Email", exact=True).fill(f"grace.{RUN}@example.com")
    page.get_by_label("Given name", exact=True).fill("Grace")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"grace.{RUN}")).to_be_visible()
    user_page = page.url
    open_page(page, "#/groups", "Groups")
    page.get_by_role("link", name=group).click()
    page.get_by_label("Add a member: userName or email", exact=True).fill(f"grace.{RUN}")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name=f"Add grace.{RUN}").click()
    expect(page.get_by_role("link", name=f"grace.{RUN}")).to_be_visible()
    visit(page, "group")
    page.goto(user_page)
    expect(page.get_by_role("heading", name="Apps in scope")).to_be_visible()
    log = page.locator("table").nth(2)
    wait_for(page, lambda: "succeeded" in log.inner_text(timeout=10_000), "the create to reach the sample app")
    expect(log).to_contain_text("user_created")
    expect(page.locator("table").nth(1)).to_contain_text(app)
    expect(page.locator("table").nth(1)).to_contain_text(group)
    visit(page, "user-provisioned")

    step("seed 000: the update's preview, then the update itself")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    page.get_by_role("link", name="Edit End user updated").click()
    page.get_by_label("Preview for user", exact=True).fill(f"grace.{RUN}")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name=f"Preview grace.{RUN}").click()
    preview = page.get_by_label("Preview of the request")
    expect(preview).to_contain_text("PUT")
    expect(preview).to_contain_text(f"{SAMPLE}/users/ext-")
    expect(preview).to_contain_text("****")
    visit(page, "event-preview")
    page.goto(user_page)
    expect(page.get_by_role("heading", name="Apps in scope")).to_be_visible()
    page.get_by_role("link", name="Edit", exact=True).click()
    page.get_by_label("Given name", exact=True).fill("Grace B.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.locator("dl.props")).to_contain_text("Grace B.")
    wait_for(page, lambda: "user_updated" in page.locator("table").nth(2).inner_text(timeout=10_000), "the update to reach the sample app")

    step("seed 000: the provisioning log, filtered")
    open_page(page, "#/log", "Provisioning log")
    page.get_by_label("App", exact=True).select_option(label=app)
    page.get_by_label("Event", exact=True).select_option("user_created")
    page.get_by_label("Outcome", exact=True).select_option("succeeded")
    page.get_by_role("button", name="Filter").click()
    settle(page)
    expect(page.get_by_role("cell", name="user_created")).to_be_visible()
    page.get_by_label("Filter by user: userName or email", exact=True).fill(f"grace.{RUN}")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name=f"Show grace.{RUN}").click()
    settle(page)
    expect(page.get_by_text(f"Entries of grace.{RUN}.")).to_be_visible()
    expect(page.get_by_role("cell", name="user_created")).to_be_visible()
    visit(page, "log")

    step("seed 000: import users from the app, and the bulk-operations report")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    page.get_by_role("link", name="Add import configuration").click()
    page.get_by_label("Configuration name").fill("all users")
    page.get_by_label("API endpoint", exact=True).fill(f"{SAMPLE}/users?cursor=@Pagination")
    page.get_by_label("Authorization", exact=True).select_option(label="oauth (oauth2)")
    page.get_by_label("Users data primary key").fill("users.data")
    page.get_by_label("Next page key").fill("next")
    page.get_by_label("External app identifier (attribute)").fill("id")
    page.get_by_label("Primary email (attribute)").fill("email")
    page.get_by_label("Given name (attribute)").fill("name")
    page.get_by_label("Deactivate users missing from a complete run").check()
    page.get_by_label("Deactivations a run makes before it holds them for my approval").fill("0")
    visit(page, "import-config")
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Import users with all users").click()
    expect(page.get_by_role("heading", name="Bulk operations report")).to_be_visible()
    expect(page.locator("[data-count=status]")).to_have_text("succeeded", timeout=90_000)
    expect(page.locator("[data-count=failed]")).to_have_text("0")
    created = int(page.locator("[data-count=created]").inner_text())
    assert created >= 2, f"the seeded accounts are imported: {created}"
    expect(page.locator('[data-count="missing users"]')).to_have_text("0 (done)")
    visit(page, "import-report")

    step("operations: test connection (a token is fetched) and provision on demand (up to date)")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    page.get_by_label("Authorization to test", exact=True).select_option(label="oauth (oauth2)")
    page.get_by_role("button", name="Test", exact=True).click()
    expect(page.get_by_text("Connected: token")).to_be_visible()
    assert SAMPLE_SECRET not in page.content()
    visit(page, "test-connection")
    page.goto(user_page)
    expect(page.get_by_role("heading", name="Apps in scope")).to_be_visible()
    page.get_by_role("button", name=f"Provision now to {app}").click()
    expect(page.locator("[data-on-demand]")).to_have_attribute("data-on-demand", "skipped")
    expect(page.locator("[data-on-demand]")).to_contain_text("Nothing to send")
    visit(page, "provision-now")

    step("safety: the deletion threshold's settings; a wrong number is shown beside its field")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    add_event(page, "User deactivated", f"{SAMPLE}/users/@ExternalUserId", "PATCH",
              {"email": "@email", "name": "@givenName", "active": False})
    limit_label = "Deprovisions sent per window before the rest are held"
    page.get_by_label(limit_label, exact=True).fill("a few")
    page.get_by_role("button", name="Save settings").click()
    expect(field_error(page, limit_label)).to_have_text("Deprovisions per window must be a whole number")
    page.get_by_label(limit_label, exact=True).fill("1")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_label(limit_label, exact=True)).to_have_value("1")

    step("safety: a second member is provisioned")
    open_page(page, "#/users/new", "Add user")
    page.get_by_label("userName", exact=True).fill(f"alan.{RUN}")
    page.get_by_label("Email", exact=True).fill(f"alan.{RUN}@example.com")
    page.get_by_label("Given name", exact=True).fill("Alan")
    page.get_by_role("button", name="Create user").click()
    expect(page.get_by_role("heading", name=f"alan.{RUN}")).to_be_visible()
    alan_page = page.url
    open_page(page, "#/groups", "Groups")
    page.get_by_role("link", name=group).click()
    page.get_by_label("Add a member: userName or email", exact=True).fill(f"alan.{RUN}")
    page.get_by_role("button", name="Find").click()
    page.get_by_role("button", name=f"Add alan.{RUN}").click()
    expect(page.get_by_role("link", name=f"alan.{RUN}")).to_be_visible()
    page.goto(alan_page)
    expect(page.get_by_role("heading", name="Apps in scope")).to_be_visible()
    wait_for(page, lambda: "succeeded" in page.locator("table").nth(2).inner_text(timeout=10_000), "Alan's create")

    step("safety: the policy deleted by mistake: both deactivations are held, nothing is sent")
    open_page(page, "#/groups", "Groups")
    page.get_by_role("link", name=group).click()
    page.get_by_role("button", name="Delete policy sample access").click()
    expect(page.get_by_role("button", name="Delete policy sample access")).to_have_count(0)
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    wait_for(page, lambda: page.get_by_role("heading", name="Deprovisions held: 2").count() == 1,
             "the two deactivations to be held")
    expect(page.locator("section.held")).to_contain_text(f"grace.{RUN}")
    expect(page.locator("section.held")).to_contain_text(f"alan.{RUN}")
    expect(page.locator("section.held")).to_contain_text("took 2 users out of the app's scope")
    visit(page, "held")
    open_page(page, "#/", "Dashboard")
    expect(page.get_by_role("heading", name="Deprovisions held for your approval")).to_be_visible()
    expect(page.locator("[data-figure=held]")).to_have_text("1")
    page.locator("section.held").get_by_role("link", name=app).click()
    settle(page)

    step("safety: approved, both deactivations reach the app")
    page.get_by_role("button", name="Approve and send 2").click()
    expect(page.get_by_text("2 held deprovisions approved and sent.")).to_be_visible()
    expect(page.locator("section.held")).to_have_count(0)
    page.get_by_role("button", name="Reconcile all users").click()
    expect(page.get_by_text("Full reconcile started")).to_be_visible()
    page.goto(alan_page)
    expect(page.get_by_role("heading", name="Apps in scope")).to_be_visible()
    wait_for(page, lambda: "user_deactivated" in page.locator("table").nth(2).inner_text(timeout=10_000),
             "Alan's deactivation")

    step("safety: an account gone from the source: the import holds its deactivation, then it is approved")
    gone = delete_a_seeded_account()
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    page.get_by_role("button", name="Import users with all users").click()
    expect(page.locator("[data-count=status]")).to_have_text("succeeded", timeout=90_000)
    expect(page.locator('[data-count="missing users"]')).to_have_text("1 (held)")
    expect(page.get_by_text("more than the import's maxDeactivations of 0")).to_be_visible()
    visit(page, "import-held")
    page.get_by_role("button", name="Approve 1 deactivation(s)").click()
    expect(page.locator('[data-count="missing users"]')).to_have_text("1 (done)", timeout=90_000)
    expect(page.locator("[data-count=deactivated]")).to_have_text("1")
    open_page(page, "#/users", "Users")
    page.get_by_label("Search by userName (starts with) or email", exact=True).fill(gone)
    page.get_by_role("button", name="Search").click()
    settle(page)
    expect(page.get_by_role("row").filter(has_text=gone)).to_contain_text("inactive")


def delete_a_seeded_account():
    """Deletes, in the sample app, one account it had before Provisio came; its email."""
    import urllib.parse
    import urllib.request
    form = urllib.parse.urlencode({"grant_type": "client_credentials", "client_id": SAMPLE_CLIENT,
                                   "client_secret": SAMPLE_SECRET}).encode()
    with urllib.request.urlopen(urllib.request.Request(f"{SAMPLE}/oauth/token", data=form), timeout=10) as r:
        token = json.load(r)["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    accounts, cursor = [], "0"
    while cursor is not None:
        url = f"{SAMPLE}/users?cursor={cursor}"
        with urllib.request.urlopen(urllib.request.Request(url, headers=auth), timeout=10) as r:
            body = json.load(r)
        accounts += body["users"]["data"]
        cursor = body.get("next")
    seeded = next(a for a in accounts if a["email"].endswith("@sample.test"))
    request = urllib.request.Request(f"{SAMPLE}/users/{seeded['id']}", headers=auth, method="DELETE")
    with urllib.request.urlopen(request, timeout=10):
        pass
    return seeded["email"]


def from_provisio(response):
    """Whether an answer is Provisio's (every one carries nosniff), not the dev server's own."""
    return response.headers.get("x-content-type-options") == "nosniff"


def admin(method, path, body=None):
    """The admin API, for the set-up a step is not about."""
    import urllib.request
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{BASE}{path}", data=data, method=method,
                                     headers={"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        text = reply.read()
        return json.loads(text) if text else None


def scim_app(page):
    """Issue 17: a SCIM app, provisioned without templates."""
    import urllib.parse
    import urllib.request
    app = f"SCIM peer {RUN}"
    step("SCIM app: added with its base URL; the service says what it supports")
    open_page(page, "#/apps/new", "Add app")
    page.get_by_label("Application type").select_option("scim_target")
    page.get_by_label("Display application name").fill(app)
    page.get_by_label("SCIM base URL (SCIM apps)").fill(SCIM_PEER)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("heading", name=app)).to_be_visible()
    expect(page.locator("[data-supports=patch]")).to_have_text("yes")
    expect(page.locator("[data-supports=groups]")).to_have_text("yes")
    visit(page, "scim-target")

    step("SCIM app: a bearer authorization chosen for the connection, the service asked again")
    page.get_by_role("link", name="Add configuration").click()
    page.get_by_label("Authorization type").select_option("bearer")
    page.get_by_label("Authorization name").fill("peer token")
    page.get_by_label("Token", exact=True).fill(f"peer-token-{RUN}")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("cell", name="bearer")).to_be_visible()
    page.get_by_label("Authorization", exact=True).select_option(label="peer token (bearer)")
    page.get_by_role("button", name="Save connection").click()
    expect(page.get_by_text("Connection saved")).to_be_visible()
    page.get_by_role("button", name="Ask the service again").click()
    expect(page.get_by_text("The service was asked again.")).to_be_visible()
    assert f"peer-token-{RUN}" not in page.content(), "a token is never shown"

    step("SCIM app: a member of its policy's group reaches the service, as the log shows")
    app_id = page.url.split("#/apps/")[1].split("?")[0]
    group = admin("POST", "/admin/groups", {"name": f"scim people {RUN}"})["id"]
    admin("POST", "/admin/policies", {"name": f"scim policy {RUN}", "appId": app_id, "groupId": group,
                                      "firstFactor": "password"})
    user = admin("POST", "/admin/users", {"userName": f"sam.{RUN}", "email": f"sam.{RUN}@example.com",
                                          "givenName": "Sam"})["id"]
    admin("PUT", f"/admin/groups/{group}/members/{user}")
    open_page(page, f"#/log?app={app_id}", "Provisioning log")
    wait_for(page, lambda: "201" in page.locator("table").first.inner_text(timeout=10_000), "the SCIM create")
    visit(page, "scim-log")
    query = urllib.parse.quote(f'userName eq "sam.{RUN}"')
    with urllib.request.urlopen(f"{SCIM_PEER}/Users?filter={query}", timeout=10) as reply:
        found = json.load(reply)
    assert found["totalResults"] == 1 and found["Resources"][0]["externalId"] == user, found

    step("SCIM app: provisioned to every user; a user in no group reaches the service")
    admin("POST", "/admin/users", {"userName": f"una.{RUN}", "email": f"una.{RUN}@example.com"})
    open_page(page, f"#/apps/{app_id}", app)
    page.get_by_label("Who is provisioned").select_option("all_users")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Settings saved.")).to_be_visible()
    expect(page.get_by_label("Who is provisioned")).to_have_value("all_users")
    visit(page, "scim-all-users")
    una = urllib.parse.quote(f'userName eq "una.{RUN}"')

    def una_arrived():
        with urllib.request.urlopen(f"{SCIM_PEER}/Users?filter={una}", timeout=10) as reply:
            return json.load(reply)["totalResults"] == 1

    wait_for(page, una_arrived, "the user in no group at the service")


def seed_004(page, context):
    """A SCIM client app, as seed 004 walks through it: the base URL and token, copied; a SCIM
    client pushes a user, who then appears in the Users page."""
    import urllib.request
    app = f"Entra ID {RUN}"
    step("seed 004: add a SCIM client app; copy its base URL and token")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=BASE)
    open_page(page, "#/apps/new", "Add app")
    page.get_by_label("Application type").select_option("scim_client")
    page.get_by_label("Display application name").fill(app)
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("the token is shown only now")).to_be_visible()
    visit(page, "scim-token")
    page.get_by_role("button", name="Copy SCIM base URL").click()
    base_url = page.evaluate("navigator.clipboard.readText()")
    page.get_by_role("button", name="Copy Bearer token").click()
    expect(page.get_by_text("Bearer token copied.")).to_be_visible()
    token = page.evaluate("navigator.clipboard.readText()")
    assert base_url.startswith(f"{BASE}/scim/v2/") and len(token) > 20, (base_url, token[:4])

    step("seed 004: a SCIM client pushes a user, who appears in the Users page")
    user = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": f"scim.{RUN}@example.com",
            "name": {"givenName": "Sam", "familyName": "Client"}, "displayName": "Sam Client",
            "emails": [{"value": f"scim.{RUN}@example.com", "type": "work", "primary": True}], "active": True}
    request = urllib.request.Request(f"{base_url}/Users", data=json.dumps(user).encode(), method="POST",
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/scim+json"})
    with urllib.request.urlopen(request, timeout=60) as reply:
        assert reply.status == 201, reply.status
    page.goto(f"{BASE}/console#/users?q=scim.{RUN}")
    settle(page)
    expect(page.locator("caption")).to_contain_text(f"scim.{RUN}")
    expect(page.get_by_role("link", name=f"scim.{RUN}@example.com")).to_be_visible()
    page.get_by_role("link", name=f"scim.{RUN}@example.com").click()
    expect(page.locator("dl.props")).to_contain_text("Sam Client")

    step("seed 004: the SCIM app's page: base URL, token rotation, mapping")
    open_page(page, "#/apps", "Apps")
    page.get_by_role("link", name=app).click()
    expect(page.get_by_role("heading", name="Rotate the bearer token")).to_be_visible()
    page.get_by_role("button", name="Issue a new token").click()
    expect(page.get_by_text("The new token is shown only now.")).to_be_visible()
    visit(page, "scim-app")
    open_page(page, "#/", "Dashboard")
    expect(page.locator("[data-figure=apps]")).not_to_have_text("0")
    if SAMPLE:
        expect(page.get_by_role("cell", name=f"Sample app {RUN}", exact=True).first).to_be_visible()
        expect(page.locator("[data-figure=failures]")).to_have_text("0")
    visit(page, "dashboard")


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
        # Answers of `cargo lambda watch` itself (now and then a 500 while an instance is busy
        # or restarting: no Provisio headers) are the dev server's, not the console's; a page
        # they break fails its step anyway.
        page.on("response", lambda r: errors.append(f"{r.status} {r.request.method} {r.url}")
                if r.status >= 400 and r.status not in (400, 401) and from_provisio(r) else None)
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
