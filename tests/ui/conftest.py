"""The stack `make demo` leaves behind, and browser fixtures: headless Chromium (Debian's
`chromium` package) driven by Playwright.

Nothing here downloads a browser: Playwright is pointed at the system Chromium. Where it is
missing the UI tests fail, naming the package to install (`.ci/run` installs it on CI).
Screenshots go to `test-artifacts/ui/` (git-ignored), kept after the run for a person to look at.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from e2e.conftest import make_test_settings, system_postgres  # noqa: F401

from kedro_mlops.local.stack.postgres import drop_databases

REPO = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory, system_postgres):  # noqa: F811
    """``make demo``, as the README gives it, on a state folder and ports of its own, with the
    local stack's default S3 server (localbucket): ``(settings, completed process)``. The
    services it started stay up for the module (the UIs under test), then ``make stop``."""
    state = tmp_path_factory.mktemp("demo")
    settings = make_test_settings(state, postgres_url=system_postgres, s3_server="localbucket")
    env = {**os.environ, **settings.to_environ()}
    try:
        done = subprocess.run(["make", "demo"], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=1800, check=False)
        if done.returncode != 0:
            pytest.fail(f"`make demo` exited {done.returncode}:\n{done.stdout[-3000:]}\n"
                        f"{done.stderr[-3000:]}", pytrace=False)
        with pytest.MonkeyPatch.context() as mp:  # this process's MLflow and S3 clients
            for key, value in settings.env().items():
                mp.setenv(key, value)
            yield settings, done
    finally:
        try:
            subprocess.run(["make", "stop"], cwd=REPO, env=env, capture_output=True,
                           timeout=300, check=False)
        finally:
            drop_databases(settings.postgres_url, [settings.mlflow_db, settings.airflow_db])

CHROMIUM = os.environ.get("MLOPS_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(__file__).parents[2] / "test-artifacts" / "ui"
VIEWPORT = {"width": 1400, "height": 900}
# The machine is shared with other test stacks: pages load slowly under load.
TIMEOUT_MS = 60_000


def _patient_expect() -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=TIMEOUT_MS)


_patient_expect()


def chromium_or_fail() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"The browser tests (tests/ui) need Chromium at {CHROMIUM}, which is missing. "
            "Install it: `sudo apt-get install -y chromium` (Debian/Ubuntu), or set "
            "MLOPS_CHROMIUM to a Chromium or Chrome executable. The tests never download a "
            "browser (no `playwright install`).",
            pytrace=False,
        )
    return CHROMIUM


# Module-scoped: Playwright's sync API keeps its asyncio loop marked as running in this thread
# until it stops, and any later test that calls asyncio.run() would fail
@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    executable = chromium_or_fail()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _local_only(route) -> None:
    """The UIs under test are local; anything else (fonts, telemetry) is not part of the test."""
    host = urlsplit(route.request.url).hostname
    if host in (None, "127.0.0.1", "localhost") or route.request.url.startswith(("blob:", "data:")):
        route.continue_()
    else:
        route.abort()


def new_context(browser, **kwargs):
    # twice the pixels: screenshots stay legible when cropped for the README
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=2, **kwargs)
    context.set_default_timeout(TIMEOUT_MS)
    context.route("**/*", _local_only)
    return context


@pytest.fixture(scope="session")
def screenshot():
    """``screenshot(page, name)`` saves ``test-artifacts/ui/<name>.png`` and returns its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)

    def take(page, name: str, **kwargs) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=path, **kwargs)
        return path

    return take
