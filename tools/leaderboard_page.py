"""The leaderboard's web page in a real headless browser (Debian's chromium and chromedriver, driven by
selenium): the browser test opens it this way, and this script takes the README's screenshot.

    python tools/leaderboard_page.py leaderboard/site/index.html docs/leaderboard_page.png
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

CHROMEDRIVER_PATHS = ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver")


def chromedriver() -> str | None:
    """Debian's chromedriver (package chromium-driver), or None where it is not installed."""
    found = shutil.which("chromedriver")
    return found or next((path for path in CHROMEDRIVER_PATHS if Path(path).is_file()), None)


def open_page(page: str | Path, width: int = 1400, height: int = 1000):
    """A headless chromium (selenium WebDriver) showing the local file `page`, recording the console."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(chromedriver()), options=options)  # no driver download
    driver.get(Path(page).resolve().as_uri())
    return driver


def screenshot(page: str | Path, out: str | Path) -> Path:
    """A screenshot of the page's top, as PNG."""
    driver = open_page(page)
    try:
        driver.save_screenshot(str(out))
    finally:
        driver.quit()
    return Path(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    print(screenshot(sys.argv[1], sys.argv[2]))
