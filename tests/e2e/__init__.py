"""Browser tests: the image driven in headless Chromium with Playwright."""
