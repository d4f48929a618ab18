"""What the browser tests share: logging in, searching, switching the language, and watching a page for errors and
for requests that leave the machine."""

from urllib.parse import urlsplit

from playwright.sync_api import expect

PASSWORD = "pass-word-123"  # UserFactory's
LOCAL_HOSTS = {"127.0.0.1", "localhost"}  # pytest-django's live server listens on localhost (127.0.0.1)

# Every chart of the dashboard drawn by the Chart.js that Unfold ships (one boolean per canvas).
CHARTS_DRAWN = """() => [...document.querySelectorAll('#console-charts canvas.chart')]
    .map(canvas => Chart.getChart(canvas) !== undefined && canvas.width > 0)"""


def log_in(page, username):
    page.goto("/console/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#nav-sidebar")).to_contain_text(username)


def search(page, term):
    """Search the member list (the list's own search box, in the staff member's store scope)."""
    page.goto("/console/members/member/")
    page.fill("#searchbar", term)
    page.press("#searchbar", "Enter")


def find_member(page, term):
    """Find a member from the header's search (an exact phone, member number or card code opens their page)."""
    page.fill("#console-member-search-input", term)
    page.click("#console-member-search-submit")


def switch_language(page, code):
    page.select_option("#console-language", code)
    page.click("#console-language-submit")
    expect(page.locator("html")).to_have_attribute("lang", code)


def watch_errors(page):
    """Console errors, uncaught exceptions and answers of 400 or more, as the page meets them."""
    errors = []

    def console(message):
        if message.type == "error":
            errors.append(f"{page.url}: {message.text}")

    page.on("console", console)
    page.on("pageerror", lambda error: errors.append(f"{page.url}: {error}"))
    page.on("response", lambda response: errors.append(response.url) if response.status >= 400 else None)
    return errors


def watch_offline(page):
    """The URLs of requests that leave the machine (a CDN's script or font): the console must work offline."""
    outside = []

    def check(request):
        url = urlsplit(request.url)
        if url.scheme not in ("data", "blob") and url.hostname not in LOCAL_HOSTS:
            outside.append(request.url)

    page.on("request", check)
    return outside
