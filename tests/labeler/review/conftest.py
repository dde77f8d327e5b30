"""Headless Debian chromium driven by Playwright: the system browser, never a downloaded one.
Tests that need it skip when /usr/bin/chromium (or Playwright) is absent, as the audit page's
browser test does."""

from __future__ import annotations

import shutil

import pytest

from tests.support import CHROMIUM_FLAGS


@pytest.fixture(scope="module")
def chromium():
    path = shutil.which("chromium")
    if path is None:
        pytest.skip("Debian's chromium is not installed")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        yield browser
        browser.close()
