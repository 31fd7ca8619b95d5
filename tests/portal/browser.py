"""Headless Debian Chromium driven by Selenium through Debian's chromium-driver: nothing is downloaded."""

import base64
import shutil
import tempfile
import time
from pathlib import Path

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Flags that let Chromium run headless as root in a container and keep it from calling home.
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "_static" / "screenshots"


def available():
    """Whether Debian's chromium and chromium-driver are installed (scripts/test.sh installs them as root)."""
    return Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()


class Browser:
    """A Chromium window with the few helpers the portal tests need: waits, fields, screenshots."""

    def __init__(self, base_url, width=1280, height=900):
        self.base_url = base_url.rstrip("/")
        self.profile = tempfile.mkdtemp(prefix="nc-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        options.add_argument(f"--window-size={width},{height}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
        self.driver.set_window_size(width, height)

    def close(self):
        """Quit Chromium and remove its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, fragment=""):
        """Load the portal, at `#fragment` when given."""
        self.driver.get(f"{self.base_url}/{'#' + fragment if fragment else ''}")

    def go(self, fragment):
        """Navigate inside the loaded portal, as a click on a link would."""
        self.driver.execute_script("location.hash = arguments[0]", fragment)

    def wait(self, condition, timeout=30, message="condition"):
        """Poll `condition()` until it returns something truthy; fail with the page's text when it never does."""
        deadline = time.monotonic() + timeout
        last_error = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except (StaleElementReferenceException, WebDriverException) as exc:
                last_error = exc
            time.sleep(0.1)
        body = self.driver.find_element(By.TAG_NAME, "body").text
        raise AssertionError(f"timed out waiting for {message}; last error {last_error!r}; page text:\n{body}")

    def find(self, css, timeout=30):
        """The first displayed element matching `css`, waiting for it."""

        def shown():
            return next((e for e in self.driver.find_elements(By.CSS_SELECTOR, css) if e.is_displayed()), None)

        return self.wait(shown, timeout, f"element {css}")

    def all(self, css):
        """Every element matching `css` now."""
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css="main"):
        """The visible text of the first element matching `css`."""
        return self.find(css).text

    def wait_text(self, needle, css="main", timeout=30):
        """Wait until `needle` appears in the text of `css`."""
        return self.wait(lambda: needle in self.find(css, timeout).text, timeout, f"{needle!r} in {css}")

    def fill(self, name, value, form="form"):
        """Type into the field called `name` (a label-less lookup by name keeps tests readable)."""
        element = self.find(f"{form} [name='{name}']")
        element.clear()
        element.send_keys(value)
        return element

    def choose(self, name, label=None, index=None, form="form"):
        """Pick an option of the select called `name` by its visible text (substring) or its index."""
        element = Select(self.find(f"{form} select[name='{name}']"))
        if index is not None:
            element.select_by_index(index)
            return
        option = self.wait(
            lambda: next((o for o in element.options if label in o.text), None), message=f"option {label!r} of {name}"
        )
        element.select_by_visible_text(option.text)

    def click(self, css):
        """Click the first displayed element matching `css`, again on a fresh one if a re-render replaced it."""

        def clicked():
            try:
                self.find(css).click()
            except StaleElementReferenceException:
                # The portal's poll re-rendered the row between the lookup and the click; nothing was clicked.
                return False
            return True

        self.wait(clicked, message=f"a click on {css}")

    def field_error(self, name, form="form"):
        """The error message shown at the field called `name` (empty when there is none)."""
        control = self.find(f"{form} [name='{name}']")
        slot = self.driver.find_element(By.ID, f"{control.get_attribute('id')}-error")
        return slot.text if slot.is_displayed() else ""

    def label_of(self, element):
        """The text of the <label> that names a control: what a screen reader announces."""
        return self.driver.find_element(By.CSS_SELECTOR, f"label[for='{element.get_attribute('id')}']").text

    def screenshot(self, name):
        """Save the viewport as docs/_static/screenshots/<name>.png and return its path."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        self.driver.save_screenshot(str(path))
        return path

    def full_screenshot(self, name):
        """Save the whole page, beyond the viewport, as docs/_static/screenshots/<name>.png (Chromium's DevTools)."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.driver.execute_script("document.activeElement && document.activeElement.blur()")
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self):
        """JavaScript errors the page logged (a module that fails to load shows up here)."""
        return [e["message"] for e in self.driver.get_log("browser") if e["level"] == "SEVERE"]
