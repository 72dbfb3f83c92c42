"""The page adds videos, in a real headless Chromium against a real `framesearch serve`: picked and dropped files
become upload jobs whose progress and result the page shows, a file that is not a video is left out in words,
videos indexed by `framesearch ingest local` in a shell show up without a reload, and the empty library's card
prints the command that does it."""

from __future__ import annotations

import base64
import os
import subprocess
import sys

import pytest

from tests.helpers.server import ROOT, running_service
from tests.helpers.synthetic_video import write_shapes_video
from tests.helpers.web import Watched, browser_missing, chromium, open_page, serious_accessibility_violations

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(browser_missing() is not None, reason=f"browser tests: {browser_missing()}"),
]
SCENES = [("square", "white", "black", 2.0), ("circle", "red", "white", 2.0)]


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def videos(tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, colour in (("first.mp4", "red"), ("second.mp4", "green"), ("dropped.mp4", "blue")):  # distinct: a
        write_shapes_video(folder / name, [*SCENES, ("square", colour, "black", 1.0)], fps=10)  # video is its content
    (folder / "notes.txt").write_text("not a video")
    return folder


def finished(page, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#jobs .job[data-status=done], #jobs .job[data-status=failed]').length >= n",
        arg=count,
        timeout=120_000,
    )


def test_picked_and_dropped_videos_become_jobs_and_then_the_library(browser, tmp_path, tiny_clip_dir, videos):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log") as service:
        context = browser.new_context(viewport={"width": 1280, "height": 900}, reduced_motion="reduce")
        watched = Watched(context, service.base)
        page = watched.page
        try:
            open_page(page, service.base)
            welcome = page.inner_text("#welcome")
            assert "framesearch ingest local ~/Videos --recursive" in welcome and "--model" not in welcome
            page.set_input_files(
                "#video-input", [str(videos / "first.mp4"), str(videos / "second.mp4"), str(videos / "notes.txt")]
            )
            finished(page, 2)
            assert "notes.txt" in page.inner_text("#add-status")
            rows = page.eval_on_selector_all(
                "#jobs .job", "els => els.map(e => [e.querySelector('.job-name').textContent, e.dataset.status, e.innerText])"
            )
            assert {(name, status) for name, status, _ in rows} == {("first.mp4", "done"), ("second.mp4", "done")}
            assert all("indexed" in text and "frames" in text for _, _, text in rows)
            page.wait_for_selector("#welcome", state="hidden")  # the library has videos now: no reload
            page.wait_for_function("() => document.querySelector('#stats').textContent.startsWith('2 videos')")
            assert serious_accessibility_violations(page) == []

            data = base64.b64encode((videos / "dropped.mp4").read_bytes()).decode()
            page.evaluate(
                """data => {
                    const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
                    const dt = new DataTransfer();
                    dt.items.add(new File([bytes], "dropped.mp4", {type: "video/mp4"}));
                    document.body.dispatchEvent(new DragEvent("drop", {dataTransfer: dt, bubbles: true, cancelable: true}));
                }""",
                data,
            )
            finished(page, 3)
            page.wait_for_function("() => document.querySelector('#stats').textContent.startsWith('3 videos')")
            page.click("#tab-library")
            page.wait_for_selector("#library[data-fresh=true] tbody tr")
            listed = page.eval_on_selector_all("#library tbody tr", "els => els.map(e => e.dataset.videoId)")
            assert sorted(listed) == ["dropped.mp4", "first.mp4", "second.mp4"]
        finally:
            context.close()
        watched.check()


def test_a_folder_indexed_from_a_shell_shows_in_the_page_as_a_job_without_a_reload(browser, tmp_path, tiny_clip_dir, videos):
    env = {"FRAMESEARCH_STORE": str(tmp_path / "store"), "FRAMESEARCH_MODEL": str(tiny_clip_dir)}
    with running_service(env, tmp_path / "serve.log") as service:
        context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
        watched = Watched(context, service.base)
        page = watched.page
        try:
            open_page(page, service.base)
            assert page.is_visible("#welcome")
            shell = subprocess.run(
                [sys.executable, "-m", "framesearch", "ingest", "local", str(videos), "--recursive"],
                env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=300,
            )
            assert shell.returncode == 0, shell.stderr
            finished(page, 1)
            job = page.inner_text("#jobs .job")
            assert "clips (folder)" in job and "3 videos indexed" in job
            page.wait_for_selector("#welcome", state="hidden")
            page.wait_for_function("() => document.querySelector('#stats').textContent.startsWith('3 videos')")
        finally:
            context.close()
        watched.check()
