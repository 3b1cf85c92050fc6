"""The reading-room page in Debian's chromium (Playwright driving /usr/bin/chromium): log in, find the patient in
the worklist, open the case page, see the probability and non-blank NiiVue canvases with a linked cursor, sign off,
and find the sign-off in the store."""

from __future__ import annotations

import io
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import uvicorn
from PIL import Image
from sqlalchemy import select

from pseudoprog.service.app import WEB_DIR, create_app
from pseudoprog.service.auth import add_user
from pseudoprog.service.jobs import record_assessment
from pseudoprog.service.settings import ServiceSettings
from pseudoprog.service.tryout import free_port
from pseudoprog.store import Patient, SignOff, Store

from .helpers import assessed_case, need

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
pytestmark = pytest.mark.slow


@pytest.fixture
def served(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Store]]:
    need(None if Path(CHROMIUM).exists() else "chromium is not installed (Debian package 'chromium')")
    need(
        None if (WEB_DIR / "dist" / "app.js").exists() else "web/dist is not built (make web: npm ci && npm run build)"
    )
    _, out = assessed_case(tmp_path_factory)
    settings = ServiceSettings(data_dir=tmp_path)
    store = Store(settings.url)
    add_user(store, "rob", role="reader", password="reader password")
    with store.session() as s:
        p = Patient(patient_id="SYN-PSP-001", context_yaml="diagnosis: {type: glioblastoma}")
        s.add(p)
        s.flush()
        pk = p.id
    result = tmp_path / "result"
    shutil.copytree(out, result)
    record_assessment(store, patient_pk=pk, job_id=None, out_dir=result)
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, store=store), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", store
    server.should_exit = True
    thread.join(timeout=10)


def _canvas_pixels(page, selector: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(Image.open(io.BytesIO(page.locator(selector).screenshot())).convert("L"), dtype=float)


def test_login_worklist_case_viewer_and_signoff(served: tuple[str, Store]) -> None:
    from playwright.sync_api import sync_playwright

    base, store = served
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1300, "height": 1000})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(base + "/")
        page.fill("#username", "rob")
        page.fill("#password", "reader password")
        page.click("#login-button")
        page.wait_for_selector("#worklist")
        row = page.locator("#worklist tr", has_text="SYN-PSP-001")
        assert "RANO" in row.inner_text()  # criteria call in the worklist
        page.click("a.patient-link")
        page.wait_for_selector("#probability")
        assert "P(true progression)" in page.inner_text("#probability")
        assert "%" in page.inner_text("#probability")
        page.wait_for_selector("body[data-viewer-ready='1']", timeout=60_000)
        page.wait_for_timeout(500)
        for canvas in ("#viewer-0", "#viewer-1"):
            px = _canvas_pixels(page, canvas)
            assert px.std() > 5 and (px > 20).mean() > 0.05, f"{canvas} is blank"
        # Linked cursor: a click on the left viewer moves the right viewer's crosshair to the same place.
        before = page.evaluate("window.__viewers[1].scene.crosshairPos.slice()")
        box = page.locator("#viewer-0").bounding_box()
        assert box is not None
        page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.4)
        page.wait_for_timeout(300)
        mm = "(i) => Array.from(window.__viewers[i].frac2mm(window.__viewers[i].scene.crosshairPos)).slice(0, 3)"
        left, right = page.evaluate(f"({mm})(0)"), page.evaluate(f"({mm})(1)")
        after = page.evaluate("Array.from(window.__viewers[1].scene.crosshairPos)")
        # Linked in world coordinates (mm): the two sessions' grids differ, so compare positions, not fractions.
        assert after != before and np.allclose(left, right, atol=1.0), (before, left, right)
        page.fill("#signoff-comment", "agree: treatment effect, repeat MRI")
        page.click("#signoff-button")
        page.wait_for_function("document.getElementById('signoff-msg').textContent === 'signed'")
        browser.close()
    assert not errors, errors
    with store.session() as s:
        so = s.scalar(select(SignOff))
        assert so is not None and so.agree is True and so.comment == "agree: treatment effect, repeat MRI"
