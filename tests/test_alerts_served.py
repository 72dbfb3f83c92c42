"""`alerts add|list|delete|tail` through a running service (issue 25): with `--url`, or found by the address the
service records beside the store, the commands use its HTTP API (`/alerts`, `GET /alerts/events`) and print what
they print on the library's files; the service's errors are the CLI's one `error:` line. Real `framesearch serve`
processes (slow); the events are real matches of a shapes video indexed through the service."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from framesearch.cli import app
from framesearch.errors import NotFound
from framesearch.search.alerts import AlertBook, AlertRequest
from framesearch.service.app import create_app
from framesearch.service.client import ServiceClient
from framesearch.settings import Settings
from tests.helpers.server import ROOT, running_service
from tests.helpers.synthetic_video import write_shapes_video

runner = CliRunner()
MODEL = "tiny-shapes-clip"


def cli(*args: str, env: dict[str, str] | None = None, code: int = 0):
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == code, result.output
    return result


def test_the_service_client_speaks_the_alerts_api(tmp_path, monkeypatch):
    """ServiceClient's requests, answered by the app itself: create, list, the events so far, delete; a missing id is NotFound."""
    with TestClient(create_app(Settings(store=tmp_path / "store", model=MODEL))) as http:
        client = ServiceClient("http://testserver")
        client.close()
        client._http = http  # the app in-process: a TestClient is an httpx.Client
        monkeypatch.setattr("framesearch.service.client.STREAM_TIMEOUT", 30.0)  # (its own httpx's Timeout type)
        made = client.add_alert(AlertRequest.model_validate({"q": "a red circle", "not": ["a square"], "cooldown": 5}))
        listed = client.alerts()
        assert listed.count == 1 and listed.alerts[0].id == made.id and listed.alerts[0].negatives == ["a square"]
        assert client.alert_events().count == 0
        assert list(client.follow_alert_events(after=0, timeout=0.2)) == []  # the stream ends at its timeout
        assert client.delete_alert(made.id).id == made.id
        assert client.alerts().count == 0
        with pytest.raises(NotFound):
            client.delete_alert(made.id)


@pytest.mark.slow
def test_alerts_commands_go_through_the_running_service(tmp_path):
    store, elsewhere = tmp_path / "store", tmp_path / "elsewhere"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": MODEL}
    with running_service(env, tmp_path / "serve.log") as service:
        # found by the address beside the store
        made = json.loads(cli("alerts", "add", "a red circle", "--not", "a square", "--json", env=env).stdout)
        seen = httpx.get(f"{service.base}/alerts").json()
        assert [a["id"] for a in seen["alerts"]] == [made["id"]] and seen["alerts"][0]["not"] == ["a square"]
        # named by --url (another store is given: it is not used)
        other_env = {"FRAMESEARCH_STORE": str(elsewhere)}
        second = json.loads(cli("alerts", "add", "an advert", "--url", service.base, "--json", env=other_env).stdout)
        assert httpx.get(f"{service.base}/alerts").json()["count"] == 2
        listed = json.loads(cli("alerts", "list", "--url", service.base, "--json", env=other_env).stdout)
        assert listed == httpx.get(f"{service.base}/alerts").json()
        gone = cli("alerts", "delete", second["id"], "--url", service.base, env=other_env).stdout
        assert gone.startswith(f"deleted standing search {second['id']}")
        assert [a["id"] for a in httpx.get(f"{service.base}/alerts").json()["alerts"]] == [made["id"]]
        missing = cli("alerts", "delete", second["id"], "--url", service.base, env=other_env, code=1)
        assert "error: no standing search" in missing.output
        refused = cli(
            "alerts", "add", "a logo", "--webhook", "http://127.0.0.1:9/x", "--url", service.base, env=other_env, code=1
        )
        assert refused.output.startswith("error:") and "refusing" in refused.output
        assert AlertBook.of(Settings(store=elsewhere)).alerts() == []  # the store named beside --url was not used
        served = {args: cli("alerts", *args, env=env).stdout for args in (("list",), ("list", "--json"))}
    # the same library read from its files prints the same
    for args, text in served.items():
        assert cli("alerts", *args, env=env).stdout == text, args
    assert "a red circle" in served[("list",)]


@pytest.mark.slow
def test_alerts_tail_follows_the_services_event_stream(tmp_path):
    """`alerts tail --url` started before an ingest through the service prints the event of the new moment."""
    video = write_shapes_video(tmp_path / "circle.mp4", [("circle", "red", "white", 2.0), ("square", "blue", "yellow", 1.0)])
    store = tmp_path / "store"
    env = {"FRAMESEARCH_STORE": str(store), "FRAMESEARCH_MODEL": MODEL}
    with running_service(env, tmp_path / "serve.log") as service:
        made = json.loads(cli("alerts", "add", "a red circle", "--min-confidence", "0.6", "--json", env=env).stdout)
        tail_env = {**os.environ, "PYTHONPATH": str(ROOT), "FRAMESEARCH_STORE": str(tmp_path / "nowhere")}
        cmd = [sys.executable, "-m", "framesearch", "alerts", "tail", "--url", service.base, "--json", "--limit", "1"]
        tail = subprocess.Popen([*cmd, "--timeout", "50"], env=tail_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            ingest = cli("ingest", "local", str(video), "--fps", "2", "--json", env=env)
            assert json.loads(ingest.stdout)[0]["status"] == "indexed"
            out, errors = tail.communicate(timeout=55)
        finally:
            tail.kill()
            tail.wait()
        assert tail.returncode == 0, errors
        events = [json.loads(line) for line in out.decode().splitlines()]
        assert len(events) == 1 and events[0]["alert_id"] == made["id"] and events[0]["video_id"] == "circle.mp4"
        logged = httpx.get(f"{service.base}/alerts/events", params={"stream": False, "after": 0}).json()
        assert logged["events"] == events
        # --no-follow prints the events logged so far, as from the files
        again = cli("alerts", "tail", "--no-follow", "--json", "--url", service.base).stdout
        assert [json.loads(line) for line in again.splitlines()] == events
    assert cli("alerts", "tail", "--no-follow", "--json", env=env).stdout == again
