"""The poll loop on a fake clock: backoff, overall timeout, retried blips, failure."""

from __future__ import annotations

import pytest

from framesearch.errors import JobFailed, JobTimeout, UpstreamError, UpstreamUnavailable
from framesearch.ingest.roboflow_api import JobStatus, PollPolicy, wait_for_job


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 4))
        self.now += seconds

    def __call__(self) -> float:
        return self.now


class ScriptedAPI:
    """Answers status polls from a script: ints are statuses, exceptions are raised."""

    def __init__(self, *answers) -> None:
        self.answers = list(answers)

    def status(self, job_id: str) -> JobStatus:
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return JobStatus(job_id, answer, "https://out" if answer == 0 else None, "boom" if answer > 1 else None)


def test_backoff_grows_to_the_cap_and_done_returns_the_status():
    clock = FakeClock()
    polls = []
    status = wait_for_job(
        ScriptedAPI(1, 1, 1, 1, 1, 0),
        "j",
        PollPolicy(interval=1, max_interval=3, backoff=2, timeout=100),
        sleep=clock.sleep,
        clock=clock,
        on_poll=lambda n, elapsed: polls.append(n),
    )
    assert status.done and status.output_url == "https://out"
    assert clock.sleeps == [1, 2, 3, 3, 3] and polls == [1, 2, 3, 4, 5]


def test_timeout_is_overall_and_names_the_job_to_resume():
    clock = FakeClock()
    with pytest.raises(JobTimeout, match="resumed by its job id") as timed_out:
        wait_for_job(ScriptedAPI(1), "j", PollPolicy(interval=4, backoff=1, timeout=10), sleep=clock.sleep, clock=clock)
    assert clock.sleeps == [4, 4, 2] and clock.now == 10 and timed_out.value.job_id == "j"


def test_blips_are_retried_but_a_failed_job_or_a_refused_key_ends_it():
    clock = FakeClock()
    blip = UpstreamUnavailable("HTTP 503")
    assert wait_for_job(ScriptedAPI(blip, blip, 0), "j", PollPolicy(interval=1), sleep=clock.sleep, clock=clock).done
    with pytest.raises(JobFailed, match=r"failed \(status 3\): boom"):
        wait_for_job(ScriptedAPI(1, 3), "j", sleep=clock.sleep, clock=clock)
    with pytest.raises(UpstreamError, match="refused"):
        wait_for_job(ScriptedAPI(UpstreamError("refused")), "j", sleep=clock.sleep, clock=clock)
    with pytest.raises(JobTimeout, match="last status poll: HTTP 503"):
        wait_for_job(ScriptedAPI(blip), "j", PollPolicy(timeout=5), sleep=clock.sleep, clock=clock)
