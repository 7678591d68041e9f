"""Headless Chromium driven by Selenium against a real `base demo` / `base serve`.

The browser is Debian's `chromium` with its matching `chromium-driver`. Without them (or
without selenium) the tests skip and say why; `BASE_TEST_REQUIRE_BROWSER=1` (set by
.ci/run) turns that skip into a failure. Screenshots go to `test-artifacts/browser/`
(or `BASE_TEST_ARTIFACTS`), for a person to look at.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BASE_TEST_ARTIFACTS") or ROOT / "test-artifacts") / "browser"
CHROMIUM_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,900",
)
PHONE = (360, 640)
DESKTOP = (1280, 800)
# Recorded in every page before its own scripts run: CSP violations and alert() calls.
WATCHERS = """
window.__csp = [];
window.__alerts = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
window.alert = (message) => window.__alerts.push(String(message));
"""


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    for tool in ("chromium", "chromedriver"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install chromium chromium-driver)"
    return None


def require_browser() -> None:
    reason = _missing()
    if reason is None:
        return
    if os.environ.get("BASE_TEST_REQUIRE_BROWSER") == "1":
        pytest.fail(f"BASE_TEST_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


class Browser:
    """One Chromium; `open` loads a page with the watchers (and any stubs) in place."""

    def __init__(self, extra_flags: tuple[str, ...] = ()) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        options = Options()
        options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
        for flag in (*CHROMIUM_FLAGS, *extra_flags):
            options.add_argument(flag)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(shutil.which("chromedriver")))
        self.driver.set_script_timeout(30)
        self._scripts: list[str] = []

    def quit(self) -> None:
        self.driver.quit()

    def cdp(self, command: str, **params: Any) -> Any:
        return self.driver.execute_cdp_cmd(command, params)

    def size(self, width: int, height: int, mobile: bool = False) -> None:
        self.cdp("Emulation.setDeviceMetricsOverride", width=width, height=height,
                 deviceScaleFactor=1, mobile=mobile)

    def open(self, url: str, before: str = "", size: tuple[int, int] = DESKTOP) -> None:
        """A fresh page: storage cleared, the watchers and `before` run ahead of the page."""
        for script_id in self._scripts:
            self.cdp("Page.removeScriptToEvaluateOnNewDocument", identifier=script_id)
        self.driver.get("about:blank")
        parts = urlsplit(url)
        self.cdp("Storage.clearDataForOrigin", origin=f"{parts.scheme}://{parts.netloc}", storageTypes="all")
        added = self.cdp("Page.addScriptToEvaluateOnNewDocument", source=WATCHERS + before)
        self._scripts = [added["identifier"]]
        self.size(*size, mobile=size == PHONE)
        self.logs()  # what came before this page is not its business
        self.driver.get(url)
        self.wait_for("document.body && document.body.dataset.ready === 'true'", what="the studio to start")

    def js(self, script: str, *args: Any) -> Any:
        return self.driver.execute_script(script, *args)

    def wait_for(self, expression: str, *args: Any, timeout: float = 40.0, what: str = "") -> Any:
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.js(f"return ({expression});", *args)
            if value:
                return value
            time.sleep(0.1)
        text = self.js("return document.body ? document.body.innerText.slice(0, 2000) : ''")
        raise AssertionError(f"timed out waiting for {what or expression}; the page shows:\n{text}\n"
                             f"console: {self.logs()}")

    def click(self, selector: str) -> None:
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        self.js("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()

    def click_text(self, scope: str, text: str) -> None:
        """Click the button or link under `scope` whose text is `text`."""
        found = self.js(
            """const [scope, text] = arguments;
            const all = [...document.querySelectorAll(scope + ' button, ' + scope + ' a')];
            const el = all.find((e) => e.textContent.trim() === text && !e.disabled);
            if (!el) return false; el.scrollIntoView({block: 'center'}); el.click(); return true;""",
            scope, text,
        )
        assert found, f"no enabled {text!r} under {scope}"

    def type(self, selector: str, text: str) -> None:
        from selenium.webdriver.common.by import By

        element = self.driver.find_element(By.CSS_SELECTOR, selector)
        element.clear()
        element.send_keys(text)

    def logs(self) -> list[dict[str, Any]]:
        return list(self.driver.get_log("browser"))

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path


def telegram_stub(init_data: str) -> str:
    """`window.Telegram.WebApp` as Telegram's script would leave it, carrying `init_data`."""
    return f"""
window.__invoices = [];
window.__tgReady = false;
window.Telegram = {{ WebApp: {{
  initData: {json.dumps(init_data)},
  initDataUnsafe: {{}},
  platform: 'tdesktop', version: '8.0', colorScheme: 'dark',
  themeParams: {{ bg_color: '#17212b', secondary_bg_color: '#232e3c', text_color: '#f5f5f5',
                 hint_color: '#708499', link_color: '#6ab3f3', button_color: '#5288c1',
                 button_text_color: '#ffffff' }},
  ready() {{ window.__tgReady = true; }},
  expand() {{}},
  openInvoice(url, callback) {{ window.__invoices.push(url); window.__invoiceCallback = callback; }},
}} }};
"""


# Shared by the browser tests.

LOADED_IMAGE = """(() => {
  const card = document.querySelector(arguments[0]);
  const img = card && card.querySelector('img');
  return Boolean(img && img.complete && img.naturalWidth > 0) && img.naturalWidth;
})()"""


# LOADED_IMAGE, and served from arguments[1] (the service's own /outputs/ once it kept
# the result: until then a completed generation shows Replicate's URL).
KEPT_IMAGE = """(() => {
  const card = document.querySelector(arguments[0]);
  const img = card && card.querySelector('img');
  return Boolean(img && img.complete && img.naturalWidth > 0 && img.src.startsWith(arguments[1]))
    && img.naturalWidth;
})()"""


def card_of(browser: Browser, action: str, index: int = 0) -> str:
    """A selector for the `index`-th gallery card of `action`, newest first."""
    ids = browser.js(
        """return [...document.querySelectorAll('#gallery-list article')]
             .filter((a) => a.getAttribute('aria-label').startsWith(arguments[0]))
             .map((a) => a.dataset.id);""",
        {"create": "Create", "upscale": "Upscale", "remove_bg": "Remove background", "edit": "Edit"}[action],
    )
    assert len(ids) > index, f"no {action} card in the gallery"
    return f'#gallery-list article[data-id="{ids[index]}"]'


def create_from_prompt(browser: Browser, prompt: str) -> str:
    browser.click('#nav button[data-view="create"]')
    browser.click('input[name="action"][value="create"]')
    browser.type("#setting-prompt", prompt)
    browser.wait_for("document.getElementById('create-price').textContent.includes('Costs 1 credit')",
                     what="the price before sending")
    browser.click('#create-form button[type="submit"]')
    browser.wait_for("!document.getElementById('view-gallery').hidden", what="the gallery")
    return card_of(browser, "create")


def assert_clean(browser: Browser, allow: tuple[str, ...] = ()) -> None:
    """No console error (but those `allow`ed), no CSP violation, no alert()."""
    # The console is really watched: a probe error must come back, and only it.
    browser.js("console.error('console-probe')")
    logs = browser.logs()
    assert any("console-probe" in entry["message"] for entry in logs), logs
    problems = [e["message"] for e in logs if e["level"] == "SEVERE"
                and "console-probe" not in e["message"] and not any(a in e["message"] for a in allow)]
    problems += [f"CSP: {v}" for v in browser.js("return window.__csp")]
    problems += [f"alert: {a}" for a in browser.js("return window.__alerts")]
    assert problems == [], problems


def telegram_launch(browser: Browser, served: Any, telegram_id: int, username: str, extra: str = "") -> None:
    """The studio opened as Telegram opens a Mini App: launch data in the fragment, the
    WebApp object (stubbed) carrying a signed initData."""
    init_data = served.init_data(telegram_id, username)

    fragment = f"tgWebAppData={quote(init_data, safe='')}&tgWebAppVersion=8.0&tgWebAppPlatform=tdesktop"
    browser.open(f"{served.url}/#{fragment}", before=telegram_stub(init_data) + extra, size=PHONE)


def create_from_prompt_expecting(browser: Browser, prompt: str) -> None:
    """Fill in and send the create form, whatever comes of it."""
    browser.click('#nav button[data-view="create"]')
    browser.type("#setting-prompt", prompt)
    browser.click('#create-form button[type="submit"]')
