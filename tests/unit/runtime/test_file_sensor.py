"""The late-data wait: the folder, the trigger's two outcomes, a bad path template (local files;
the e2e tests run it deferred in Airflow's triggerer against S3)."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from kedro_mlops.runtime.file_sensor import FilesArrivedTrigger, files_under
from kedro_mlops.runtime.operators import WaitForFilesOperator


def _events(trigger):
    async def collect():
        return [event.payload async for event in trigger.run()]

    return asyncio.run(collect())


def test_files_under_a_missing_or_empty_folder_are_none(tmp_path):
    assert files_under(str(tmp_path / "ds=2026-11-02") + "/") == []
    (tmp_path / "ds=2026-11-02").mkdir()
    assert files_under(str(tmp_path / "ds=2026-11-02") + "/") == []


def test_the_trigger_fires_when_a_file_lands(tmp_path):
    folder = tmp_path / "ds=2026-11-02"
    landing = threading.Timer(0.5, lambda: (folder.mkdir(), (folder / "a.csv").write_text("x")))
    landing.start()
    trigger = FilesArrivedTrigger(f"{folder}/", time.time() + 30, poke_interval=0.1)
    (event,) = _events(trigger)
    landing.join()
    assert event["status"] == "arrived"
    assert [f.rsplit("/", 1)[-1] for f in event["files"]] == ["a.csv"]


def test_the_trigger_times_out_when_nothing_lands(tmp_path):
    started = time.monotonic()
    trigger = FilesArrivedTrigger(f"{tmp_path}/ds=2026-11-03/", time.time() + 0.5, 0.1)
    assert _events(trigger) == [{"status": "timeout"}]
    assert 0.4 < time.monotonic() - started < 10


def test_the_trigger_survives_serialization():
    trigger = FilesArrivedTrigger("s3://b/incoming/ds=2026-11-02/", 123.0, 60)
    path, kwargs = trigger.serialize()
    assert path == "kedro_mlops.runtime.file_sensor.FilesArrivedTrigger"
    assert FilesArrivedTrigger(**kwargs).serialize() == (path, kwargs)


def test_a_path_naming_an_unknown_value_fails_naming_it_and_the_known_ones(monkeypatch):
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.setenv("MLOPS_BUCKET", "b")
    monkeypatch.delenv("MLOPS_LAKE_ROOT", raising=False)
    wait = WaitForFilesOperator(task_id="wait_for_files", timeout_seconds=5,
                                path="{lake_root}/incoming/ds={batch_day}/",
                                runtime_params={"batch_date": "2026-11-02"})
    with pytest.raises(AirflowFailException) as failed:
        wait._folder()
    assert "names {batch_day}" in str(failed.value)
    assert "use one of {batch_date}, {lake_root}" in str(failed.value)
    wait.path = "{lake_root}/incoming/ds={batch_date}/"
    assert wait._folder() == "s3://b/incoming/ds=2026-11-02/"
