"""The web page of `serkit serve`, end to end in a real headless browser (Debian's chromium driven
by playwright): upload -> timeline chart, a bad upload -> a clear message, live recording from a
(fake) microphone streamed over the WebSocket. ``SERKIT_SCREENSHOT=docs/web.png`` also writes the
screenshot shown in the docs."""

import os
import shutil
import threading
import time

import numpy as np
import pytest
import soundfile as sf

from serkit.audio.synth import tone_clip

pytestmark = pytest.mark.browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def server():
    if CHROMIUM is None:
        pytest.skip("no chromium executable (make test installs Debian's chromium as root)")
    pytest.importorskip(
        "playwright", reason="playwright not installed (pip install 'serkit[browser]')"
    )
    import uvicorn

    from serkit.deploy.latency import free_port
    from serkit.deploy.loading import load
    from serkit.deploy.serve import create_app

    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(recognizers={"default": load("default")}),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    for _ in range(300):
        if srv.started:
            break
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    t.join(10)


def _speechy(path, seconds=6.0, sr=16000):
    x = np.concatenate(
        [
            tone_clip(2.5, sr=sr),
            np.zeros(int(1.0 * sr), np.float32),
            tone_clip(seconds - 3.5, sr=sr),
        ]
    )
    sf.write(path, x, sr)
    return str(path)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    mic = _speechy(tmp_path_factory.mktemp("mic") / "mic.wav", 8.0)
    with sync_playwright() as p:
        b = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=[
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
                f"--use-file-for-fake-audio-capture={mic}",
                "--autoplay-policy=no-user-gesture-required",
                "--no-sandbox",
            ],
        )
        yield b
        b.close()


def test_upload_shows_the_timeline_card_and_cost(server, browser, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 640})
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.wait_for_function("document.querySelectorAll('#card tr').length > 0")
    card = page.inner_text("#card")
    assert "anger, happiness, neutral, sadness" in card and "trained on" in card
    assert "mJ" in page.inner_text("#cost") and "pJ/MAC" in page.inner_text("#cost")
    page.set_input_files("#file", _speechy(tmp_path / "clip.wav"))
    page.click("#analyse")
    page.wait_for_function(
        "document.querySelectorAll('#chart polyline.line').length >= 4", timeout=60000
    )
    assert "windows" in page.inner_text("#status") and page.inner_text("#top")
    assert page.locator("#chart rect.span-no-speech").count() >= 1  # the silent second is marked
    # no probability line runs through a no-speech window: each class's line breaks there
    assert page.locator("#chart polyline.line[data-label='anger']").count() >= 2
    assert "non-commercial research use" in card and "mean over held-out corpora" in card
    if os.environ.get("SERKIT_SCREENSHOT"):
        page.screenshot(path=os.environ["SERKIT_SCREENSHOT"], full_page=True)
    bad = tmp_path / "notes.wav"
    bad.write_text("this is not audio")
    page.set_input_files("#file", str(bad))
    page.click("#analyse")
    page.wait_for_function("document.getElementById('status').className === 'error'", timeout=30000)
    assert "Error" in page.inner_text("#status")
    assert page.locator("#chart polyline.line").count() == 0  # the previous file's chart is gone
    assert errors == []


def test_live_recording_streams_rows_over_the_websocket(server, browser):
    page = browser.new_page()
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(server + "/")
    page.wait_for_function("document.querySelectorAll('#model option').length > 0")
    page.fill("#hop", "0.5")
    page.click("#record")
    page.wait_for_function(
        "document.querySelectorAll('#chart polyline.line').length === 4", timeout=60000
    )
    page.wait_for_function(
        "/\\d+ windows/.test(document.getElementById('top').textContent)", timeout=30000
    )
    page.click("#stop")
    page.wait_for_function(
        "document.getElementById('status').textContent.startsWith('Stopped')", timeout=30000
    )
    assert errors == []
