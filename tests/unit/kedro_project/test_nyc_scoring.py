"""scoring: the nodes (check, score in chunks, report), the pipeline on real datasets over tmp
folders (a bad batch fails naming column and rule, and writes no predictions), and the MLflow
registry datasets."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from kedro.io import DataCatalog, DatasetError, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.json import JSONDataset
from kedro_datasets.matplotlib import MatplotlibDataset
from kedro_datasets.text import TextDataset
from matplotlib.figure import Figure
from nyc_airbnb import drift
from nyc_airbnb.chunks import FrameChunks
from nyc_airbnb.datasets import (
    AtomicParquetDataset,
    BatchNotFoundError,
    ChunkedCSVDataset,
    MlflowModelReferenceDataset,
    MlflowRegisteredModelDataset,
    ParquetPartsDataset,
    RegisteredModel,
)
from nyc_airbnb.model_contract import model_signature
from nyc_airbnb.pipelines.scoring import create_pipeline
from nyc_airbnb.pipelines.scoring.nodes import (
    MissingSignatureError,
    check_batch,
    report_scoring,
    score_batch,
)
from nyc_airbnb.validation import MODEL_INPUT_COLUMNS, DataValidationError
from nyc_helpers import config_loader

#: the logged model's input signature, as MlflowModelReferenceDataset gives it
SIGNATURE = {spec["name"]: spec["type"] for spec in model_signature().inputs.to_dict()}
SCORED_COLUMNS = ["id", "predicted_price", "model_name", "model_version", "scoring_run_id"]
RUN = {"run_id": "run-1", "experiment_id": "1"}
DRIFT = {"psi_warn": 0.1, "psi_alert": 0.25}


class FakeModel:
    """Stands for the pyfunc model: predicts 100 + minimum_nights, records what it was given.
    Like the real one (its first node validates at least one row), it refuses an empty frame."""

    def __init__(self):
        self.calls: list[pd.DataFrame] = []

    def predict(self, data: pd.DataFrame) -> pd.DataFrame:
        self.calls.append(data)
        if data.empty:
            raise ValueError("Found array with 0 sample(s)")
        return pd.DataFrame(
            {"id": data["id"], "predicted_price": 100.0 + data["minimum_nights"].astype(float)}
        )


def registered(model=None, version="7") -> RegisteredModel:
    return RegisteredModel(
        model=model or FakeModel(), name="nyc_airbnb_price", alias="champion", version=version,
        run_id="r1",
    )


def model_reference(profile=None, version="7") -> dict:
    return {"name": "nyc_airbnb_price", "alias": "champion", "version": version, "run_id": "r1",
            "inputs": dict(SIGNATURE), "profile": profile}


def as_text(listings: pd.DataFrame) -> pd.DataFrame:
    """Listings as ChunkedCSVDataset gives them: every column text, blanks as NA."""
    return listings.astype("string")


def chunks_of(listings: pd.DataFrame, rows: int, sources=()) -> FrameChunks:
    chunks = FrameChunks.of(as_text(listings), rows)
    chunks.sources = list(sources)
    return chunks


@pytest.fixture(scope="module")
def training(_raw_full) -> pd.DataFrame:
    """Stands for the training rows of the model version (4,000 raw rows)."""
    return _raw_full.sample(4000, random_state=3).reset_index(drop=True)


@pytest.fixture(scope="module")
def training_profile(training, params) -> dict:
    profile = params["feature_profile"]
    return drift.reference_profile(
        training, profile["numeric_columns"], profile["categorical_columns"],
        int(profile["n_bins"]),
    )


@pytest.fixture
def schema(params) -> dict:
    return params["listing_schema"]


# --------------------------------------------------------------------------- check_batch


def test_check_batch_of_good_chunks(training, training_profile, schema):
    batch = training.head(250)
    sources = ["file:///lake/ds=1/part-0.csv", "file:///lake/ds=1/part-1.csv"]
    result = check_batch(chunks_of(batch, 40, sources), model_reference(training_profile), schema)
    assert result["rows"] == 250
    assert result["files"] == sources
    assert result["model_version"] == "7"
    profile = result["profile"]
    assert profile["rows"] == 250
    assert set(profile["features"]) == set(training_profile["features"])
    for name, spec in profile["features"].items():
        # every row is counted once, in a bin (or "other") or as a null
        assert sum(spec["counts"]) + spec["nulls"] == 250, name
        assert len(spec["counts"]) == len(training_profile["features"][name]["counts"])
    assert profile["features"]["reviews_per_month"]["nulls"] == int(
        batch["reviews_per_month"].isna().sum()
    )
    # the same profile as the whole batch at once, on the training bins
    whole = drift.add_chunk(drift.empty_profile_like(training_profile), batch)
    assert profile == whole
    # batch_check is saved as JSON
    assert json.loads(json.dumps(result)) == result


def test_check_batch_without_a_training_profile(training, schema):
    result = check_batch(chunks_of(training.head(30), 7), model_reference(None), schema)
    assert (result["rows"], result["files"], result["profile"]) == (30, [], None)


def test_check_batch_accepts_a_batch_with_or_without_price(training, schema):
    for batch in (training.head(10), training.head(10).drop(columns=["price", "host_id"])):
        assert check_batch(chunks_of(batch, 4), model_reference(), schema)["rows"] == 10


def test_check_batch_merges_the_failures_of_all_chunks(training, schema):
    batch = as_text(training.head(60))
    batch.loc[[5, 25, 45], "availability_365"] = "400"  # in 3 different chunks
    batch.loc[50, "room_type"] = pd.NA
    with pytest.raises(DataValidationError) as info:
        check_batch(FrameChunks.of(batch, 20), model_reference(), schema)
    error = info.value
    by_column = {f.column: f for f in error.failures}
    assert set(by_column) == {"availability_365", "room_type"}
    assert by_column["availability_365"].n_failures == 3
    assert by_column["availability_365"].check == "in_range(0, 365)"
    assert by_column["room_type"].check == "null values are not allowed"
    assert error.metrics == {"batch.rows_in": 60, "batch.rows_rejected": 4}
    assert error.rows_failed == 4


def test_check_batch_requires_the_signature_columns(training, schema):
    """The signature decides: a column the model version needs is required even if the
    listing contract does not know it."""
    reference = model_reference()
    reference["inputs"]["host_since"] = "string"
    with pytest.raises(DataValidationError,
                       match="column 'host_since': required by the model signature, missing"):
        check_batch(chunks_of(training.head(5), 5), reference, schema)


def test_a_model_version_without_a_signature_cannot_check_a_batch(training, schema):
    reference = model_reference()
    reference["inputs"] = {}
    with pytest.raises(MissingSignatureError, match="version 7 has no input signature"):
        check_batch(chunks_of(training.head(5), 5), reference, schema)


def test_scoring_feeds_the_model_the_columns_of_the_checked_signature(training, schema):
    """A version whose signature lists fewer columns gets those, in the signature's order."""
    inputs = ["id", "room_type", "minimum_nights", "latitude", "longitude"]
    model = FakeModel()
    check = {"model_version": "7", "inputs": inputs}
    score_batch(chunks_of(training.head(12), 5), registered(model), check, RUN).to_frame()
    assert [list(call.columns) for call in model.calls] == [inputs] * 3


# --------------------------------------------------------------------------- score_batch


def test_scoring_in_chunks_equals_scoring_at_once(training, schema):
    batch = training.head(230)
    check = {"model_version": "7"}
    many_model, once_model = FakeModel(), FakeModel()
    many = score_batch(chunks_of(batch, 50), registered(many_model), check, RUN)
    once = score_batch(chunks_of(batch, 1000), registered(once_model), check, RUN)
    assert many_model.calls == []  # lazy: nothing is scored before the output is written
    many_frame, once_frame = many.to_frame(), once.to_frame()
    assert len(many_model.calls) == 5 and len(once_model.calls) == 1
    pd.testing.assert_frame_equal(many_frame, once_frame)
    assert list(many_frame.columns) == SCORED_COLUMNS
    assert many_frame["id"].tolist() == batch["id"].tolist()
    assert many_frame["predicted_price"].tolist() == (100.0 + batch["minimum_nights"]).tolist()
    assert set(many_frame["model_name"]) == {"nyc_airbnb_price"}
    assert set(many_frame["model_version"]) == {"7"}
    assert set(many_frame["scoring_run_id"]) == {"run-1"}
    assert many_frame["id"].dtype == "int64" and many_frame["predicted_price"].dtype == "float64"
    # re-iterable: the output dataset may iterate it again
    assert len(many.to_frame()) == 230


def test_a_multi_chunk_batch_logs_its_progress(tmp_path, training, schema, caplog):
    """A long scoring task shows its work moving: one line per chunk (rows, elapsed, rate)."""
    import logging
    import re

    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.iloc[0:25])
    batch.write("part-0001.csv", training.iloc[25:45])
    with caplog.at_level(logging.INFO, logger="nyc_airbnb.pipelines.scoring.nodes"):
        _run(batch.catalog(schema, chunk_rows=10))
    lines = [r.getMessage() for r in caplog.records
             if r.name == "nyc_airbnb.pipelines.scoring.nodes"]
    line = re.compile(r"^score_batch \(scored, handed to the writer\): ([\d,]+) rows, "
                      r"(chunk \d+|done, 5 chunk\(s\)), [\d.]+ s elapsed, [\d,]+ rows/s$")
    scored = [m for m in map(line.match, lines) if m]
    # 25 + 20 rows in chunks of at most 10 per file: 10, 20, 25 | 35, 45
    assert [int(m[1].replace(",", "")) for m in scored] == [10, 20, 25, 35, 45, 45]
    assert scored[-1][2] == "done, 5 chunk(s)"
    assert sum(line.startswith("check_batch (read): ") for line in lines) == 6


def test_the_model_gets_the_typed_model_columns_only(training, schema):
    model = FakeModel()
    batch = training.head(12)  # price, host_id, host_name, neighbourhood: not model inputs
    score_batch(chunks_of(batch, 5), registered(model), {"model_version": "7"},
                RUN).to_frame()
    assert len(model.calls) == 3
    for given in model.calls:
        assert list(given.columns) == MODEL_INPUT_COLUMNS
        assert given["id"].dtype == "int64"
        assert given["latitude"].dtype == "float64"
        assert given["availability_365"].dtype == "int64"


def test_an_empty_chunk_is_not_sent_to_the_model(training, schema):
    """A header-only part file gives a chunk of 0 rows; the real model refuses empty input."""
    batch = as_text(training.head(6))
    chunks = FrameChunks(lambda: iter([batch.iloc[:0], batch.iloc[:3], batch.iloc[3:3],
                                       batch.iloc[3:]]))
    model = FakeModel()
    scored = score_batch(chunks, registered(model), {"model_version": "7"}, RUN)
    assert [len(c) for c in scored] == [3, 3]  # no empty chunk for the Parquet writer either
    assert scored.to_frame()["id"].tolist() == training.head(6)["id"].tolist()
    assert [len(call) for call in model.calls] == [3, 3, 3, 3]


def test_model_output_mismatch_is_an_error(training, schema):
    class Shuffling(FakeModel):
        def predict(self, data):
            return super().predict(data).iloc[::-1]

    class Dropping(FakeModel):
        def predict(self, data):
            return super().predict(data).iloc[1:]

    for model in (Shuffling(), Dropping()):
        scored = score_batch(chunks_of(training.head(5), 5), registered(model),
                             {"model_version": "7"}, RUN)
        with pytest.raises(ValueError, match="do not match the batch rows"):
            scored.to_frame()


def test_version_mismatch_between_check_and_model_is_an_error(training, schema):
    model = FakeModel()
    with pytest.raises(ValueError, match="checked for model version 6 but version 7 was loaded"):
        score_batch(chunks_of(training.head(5), 5), registered(model),
                    {"model_version": "6"}, RUN)
    assert model.calls == []


# --------------------------------------------------------------------------- report_scoring


def _metric_values(metrics: dict) -> dict[str, float]:
    assert all(set(m) == {"value", "step"} and m["step"] == 0 for m in metrics.values())
    return {name: m["value"] for name, m in metrics.items()}


def test_report_metrics(training, training_profile, schema):
    batch = training.sample(1000, random_state=4)
    sources = ["s3://lake/ds=1/a.csv", "s3://lake/ds=1/b.csv"]
    reference = model_reference(training_profile)
    check = check_batch(chunks_of(batch, 300, sources), reference, schema)
    scored = score_batch(chunks_of(batch, 300), registered(), check, RUN)
    metrics, figure, page = report_scoring(scored, check, reference, DRIFT)
    values = _metric_values(metrics)
    predictions = (100.0 + batch["minimum_nights"]).to_numpy(dtype="float64")
    assert values["batch.rows_in"] == 1000
    assert values["batch.rows_scored"] == 1000
    assert values["batch.rows_rejected"] == 0
    assert values["batch.files"] == 2
    assert values["model.version"] == 7
    assert values["prediction.mean"] == pytest.approx(predictions.mean())
    assert values["prediction.std"] == pytest.approx(predictions.std())
    for name, q in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):
        assert values[f"prediction.{name}"] == pytest.approx(np.quantile(predictions, q))
    # a sample of the training data: no drift
    psi = {k: v for k, v in values.items() if k.startswith("drift.psi.")}
    assert set(psi) == {f"drift.psi.{f}" for f in training_profile["features"]}
    assert max(psi.values()) < 0.05, psi
    assert values["drift.psi_max"] == max(psi.values())
    assert values["drift.n_features_drifted"] == 0
    assert isinstance(figure, Figure)
    assert "nyc_airbnb_price version 7 (alias champion)" in page
    assert "s3://lake/ds=1/a.csv, s3://lake/ds=1/b.csv" in page
    assert "<img" in page and "significant</td>" not in page


def test_report_shows_drift_of_a_shifted_batch(training, training_profile, schema):
    batch = training.sample(1000, random_state=5)
    batch = batch.assign(latitude=batch["latitude"] + 0.05)  # 5.5 km north
    reference = model_reference(training_profile)
    check = check_batch(chunks_of(batch, 300), reference, schema)
    scored = score_batch(chunks_of(batch, 300), registered(), check, RUN)
    metrics, _, page = report_scoring(scored, check, reference, DRIFT)
    values = _metric_values(metrics)
    assert values["drift.psi.latitude"] > 0.25
    assert values["drift.psi.room_type"] < 0.05  # unchanged features stay stable
    assert values["drift.psi_max"] == values["drift.psi.latitude"]
    assert values["drift.n_features_drifted"] == 1
    assert "<td>latitude</td>" in page and "significant</td>" in page


def test_report_without_a_training_profile(training, schema):
    batch = training.head(40)
    check = check_batch(chunks_of(batch, 15), model_reference(None), schema)
    scored = score_batch(chunks_of(batch, 15), registered(), check, RUN)
    metrics, figure, page = report_scoring(scored, check, model_reference(None), DRIFT)
    values = _metric_values(metrics)
    assert not any(k.startswith("drift.") for k in values)
    assert values["batch.rows_scored"] == 40
    assert values["prediction.p50"] == pytest.approx(
        np.quantile(100.0 + batch["minimum_nights"], 0.5))
    assert isinstance(figure, Figure) and len(figure.axes) == 1
    assert "not computed: this model version logged no training data profile" in page
    assert "<img" in page


# --------------------------------------------------------------------------- pipeline, files

DATE = "2019-07-08"


class Batch:
    """A dated prefix of the lake in tmp_path, and the scoring pipeline's catalog over it."""

    def __init__(self, root: Path):
        self.lake = root / "lake"
        self.incoming = self.lake / "incoming" / f"ds={DATE}"
        self.predictions = self.lake / "predictions" / f"ds={DATE}" / "predictions.parquet"
        self.reporting = root / "08_reporting"
        self.parts = root / "07_model_output" / "scored_parts"
        self.incoming.mkdir(parents=True)

    def write(self, name: str, listings: pd.DataFrame) -> Path:
        path = self.incoming / name
        listings.to_csv(path, index=False)
        return path

    def url(self, name: str) -> str:
        return f"file://{self.incoming / name}"

    def catalog(self, schema_params, *, chunk_rows=50, model=None, profile=None, part=0,
                parts=1) -> DataCatalog:
        return DataCatalog(
            {
                "scoring_batch": ChunkedCSVDataset(path=str(self.incoming), chunk_rows=chunk_rows),
                "scoring_batch_part": ChunkedCSVDataset(
                    path=str(self.incoming), chunk_rows=chunk_rows, part=part, parts=parts),
                "scored_parts": ParquetPartsDataset(path=str(self.parts), part=part, parts=parts),
                "scoring_model": MemoryDataset(registered(model), copy_mode="assign"),
                "scoring_model_reference": MemoryDataset(model_reference(profile),
                                                         copy_mode="assign"),
                "scoring_run": MemoryDataset(RUN),
                "batch_check": JSONDataset(filepath=str(self.reporting / "batch_check.json")),
                "scored_batch": AtomicParquetDataset(
                    filepath=str(self.predictions), load_args={"columns": ["predicted_price"]}
                ),
                "scoring_metrics": MemoryDataset(),
                "drift_report_plot": MatplotlibDataset(
                    filepath=str(self.reporting / "drift_report.png")),
                "drift_report_html": TextDataset(
                    filepath=str(self.reporting / "drift_report.html")),
                "params:listing_schema": MemoryDataset(schema_params),
                "params:scoring.drift": MemoryDataset(DRIFT),
            }
        )

    def leftovers(self) -> list[str]:
        predictions = self.lake / "predictions"
        return sorted(str(p) for p in predictions.rglob("*") if p.name.startswith("_tmp-"))


def _run(catalog: DataCatalog) -> None:
    SequentialRunner().run(create_pipeline(), catalog)


def test_pipeline_scores_every_part_file(tmp_path, training, training_profile, schema):
    batch = Batch(tmp_path)
    parts = [training.iloc[0:25], training.iloc[25:55], training.iloc[55:75]]
    for i, part in enumerate(parts):
        batch.write(f"part-000{i}.csv", part)
    # a writer's staging file and a hidden file: never read (they would fail the check)
    (batch.incoming / "_tmp-part-0003.csv").write_text("garbage\n")
    (batch.incoming / ".part-0004.csv").write_text("garbage\n")
    model = FakeModel()
    catalog = batch.catalog(schema, chunk_rows=10, model=model, profile=training_profile)
    _run(catalog)

    scored = pd.read_parquet(batch.predictions)
    expected = pd.concat(parts)
    assert list(scored.columns) == SCORED_COLUMNS
    assert scored["id"].tolist() == expected["id"].tolist()
    assert scored["predicted_price"].tolist() == (100.0 + expected["minimum_nights"]).tolist()
    assert set(scored["model_version"]) == {"7"} and set(scored["scoring_run_id"]) == {"run-1"}
    assert len(model.calls) == 3 + 3 + 2  # chunks of at most 10 rows per file
    assert batch.leftovers() == []

    check = json.loads((batch.reporting / "batch_check.json").read_text())
    assert check["rows"] == 75
    assert check["files"] == [batch.url(f"part-000{i}.csv") for i in range(3)]
    assert check["profile"]["rows"] == 75
    values = _metric_values(catalog.load("scoring_metrics"))
    assert (values["batch.rows_in"], values["batch.rows_scored"], values["batch.files"]) == (
        75, 75, 3)
    assert "drift.psi.latitude" in values
    page = (batch.reporting / "drift_report.html").read_text(encoding="utf-8")
    assert "<img" in page and batch.url("part-0002.csv") in page
    assert (batch.reporting / "drift_report.png").read_bytes().startswith(b"\x89PNG")


def test_score_batch_fans_out_over_the_files_and_publish_joins_the_parts(
    tmp_path, training, training_profile, schema
):
    """Three scoring tasks over two files (one task gets none): the day's file holds every
    row once, in file order, as with one task."""
    batch = Batch(tmp_path)
    files = [training.iloc[0:40], training.iloc[40:65]]
    for i, rows in enumerate(files):
        batch.write(f"part-000{i}.csv", rows)
    pipeline = create_pipeline()
    first = batch.catalog(schema, chunk_rows=15, profile=training_profile)
    SequentialRunner().run(pipeline.only_nodes("check_batch"), first)
    models = []
    for part in range(3):
        model = FakeModel()
        models.append(model)
        catalog = batch.catalog(schema, chunk_rows=15, model=model, part=part, parts=3)
        SequentialRunner().run(pipeline.only_nodes("score_batch"), catalog)
    assert [len(m.calls) for m in models] == [3, 2, 0]  # files 0 and 1; part 2 has none
    assert sorted(p.name for p in batch.parts.iterdir()) == [
        "part-00000.parquet", "part-00001.parquet", "part-00002.parquet"]
    last = batch.catalog(schema, chunk_rows=15, profile=training_profile, parts=3)
    SequentialRunner().run(pipeline.from_nodes("publish_predictions"), last)

    scored = pd.read_parquet(batch.predictions)
    assert scored["id"].tolist() == pd.concat(files)["id"].tolist()
    assert list(scored.columns) == SCORED_COLUMNS
    assert _metric_values(last.load("scoring_metrics"))["batch.rows_scored"] == 65


def test_publish_refuses_when_a_part_is_missing(tmp_path, training, schema):
    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.head(10))
    pipeline = create_pipeline()
    SequentialRunner().run(pipeline.only_nodes("check_batch"), batch.catalog(schema))
    SequentialRunner().run(pipeline.only_nodes("score_batch"),
                           batch.catalog(schema, part=0, parts=2))
    with pytest.raises(DatasetError, match=r"Parts \[1\] of 2 are missing"):
        SequentialRunner().run(pipeline.from_nodes("publish_predictions"),
                               batch.catalog(schema, parts=2))
    assert not batch.predictions.exists()


def test_pipeline_rerun_replaces_the_partition(tmp_path, training, schema):
    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.head(30))
    _run(batch.catalog(schema))
    batch.write("part-0000.csv", training.head(12))  # the day's batch was redelivered
    _run(batch.catalog(schema))
    assert len(pd.read_parquet(batch.predictions)) == 12


def test_pipeline_header_only_part_file_among_good_ones(tmp_path, training, schema):
    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.head(0))
    batch.write("part-0001.csv", training.head(8))
    _run(batch.catalog(schema))
    assert pd.read_parquet(batch.predictions)["id"].tolist() == training.head(8)["id"].tolist()


def _one_file(mutate: Callable[[pd.DataFrame], pd.DataFrame]):
    def write(batch: Batch, listings: pd.DataFrame) -> None:
        batch.write("part-0000.csv", mutate(listings.head(30).copy()))

    return write


def _set(row: int, column: str, value):
    def mutate(df: pd.DataFrame) -> pd.DataFrame:
        df = df.astype({column: "object"})
        df.loc[row, column] = value
        return df

    return mutate


def _bytes(content: bytes):
    def write(batch: Batch, listings: pd.DataFrame) -> None:
        (batch.incoming / "part-0000.csv").write_bytes(content)

    return write


def _latin1(batch: Batch, listings: pd.DataFrame) -> None:
    """UTF-8 but for one name written in latin-1 (an 'é' as the single byte 0xE9)."""
    rows = listings.head(30).astype({"name": "object"})
    rows.loc[17, "name"] = "CAFE_PLACEHOLDER near the park"
    content = rows.to_csv(index=False).encode("utf-8")
    content = content.replace(b"CAFE_PLACEHOLDER", "Caf\u00e9".encode("latin-1"))
    (batch.incoming / "part-0000.csv").write_bytes(content)


def _two_files_bad_second_chunk(column: str, value):
    """part-0000 good (20 rows); part-0001: 20 rows, the bad one in its second chunk."""

    def write(batch: Batch, listings: pd.DataFrame) -> None:
        batch.write("part-0000.csv", listings.iloc[:20])
        second = listings.iloc[20:40].reset_index(drop=True).astype({column: "object"})
        second.loc[14, column] = value
        batch.write("part-0001.csv", second)

    return write


def _second_file_without(column: str):
    def write(batch: Batch, listings: pd.DataFrame) -> None:
        batch.write("part-0000.csv", listings.iloc[:20])
        batch.write("part-0001.csv", listings.iloc[20:40].drop(columns=[column]))

    return write


def _semicolons(batch: Batch, listings: pd.DataFrame) -> None:
    """A spreadsheet export with ';' as the separator (names hold commas: pandas alone fails
    with "Expected 1 fields in line 3, saw 2")."""
    listings.head(30).to_csv(batch.incoming / "part-0000.csv", sep=";", index=False)


def _utf16(batch: Batch, listings: pd.DataFrame) -> None:
    """A spreadsheet's "Unicode text" export: UTF-16 with a byte order mark."""
    listings.head(30).to_csv(batch.incoming / "part-0000.csv", index=False, encoding="utf-16")


def _cut_mid_row(batch: Batch, listings: pd.DataFrame) -> None:
    """An interrupted upload: 29 whole rows, then the 30th cut inside its name (physical line 32
    of the file: one of the 29 names spans two lines, quoted)."""
    text = listings.head(29).to_csv(index=False)
    (batch.incoming / "part-0000.csv").write_text(text + "987654,Cosy stu", encoding="utf-8")


BAD_BATCHES = {
    "missing column": (
        _one_file(lambda df: df.drop(columns=["room_type"])),
        "column 'room_type': required by the model signature, missing (file {part0})",
    ),
    "missing column in the second file": (
        _second_file_without("latitude"),
        "column 'latitude': required by the model signature, missing (file {part1})",
    ),
    "extra column": (
        _one_file(lambda df: df.assign(colour="blue")),
        (
            "column 'colour': unexpected column: neither in the model signature nor in the "
            "listing schema (file {part0})"
        ),
    ),
    "wrong dtype": (
        _one_file(_set(4, "availability_365", "all year")),
        (
            "column 'availability_365': wrong dtype, cannot convert to int64 (1 failing "
            "value(s), e.g. 'all year')"
        ),
    ),
    "empty file": (
        _bytes(b""),
        "table: the batch is empty: no data rows in 1 file(s)",
    ),
    "header-only file": (
        _one_file(lambda df: df.head(0)),
        "table: the batch is empty: no data rows in 1 file(s)",
    ),
    "not UTF-8": (
        _latin1,
        ("column 'name': not UTF-8 text: file {part0}, data row 18, field 2 (invalid "
         "continuation byte); export the file again as UTF-8"),
    ),
    "null in a required field": (
        _one_file(_set(7, "room_type", None)),
        "column 'room_type': null values are not allowed (1 failing value(s)",
    ),
    "value out of range": (
        _one_file(_set(9, "availability_365", 400)),
        "column 'availability_365': in_range(0, 365) (1 failing value(s), e.g. 400)",
    ),
    "bad row in the second chunk": (
        _one_file(_set(13, "minimum_nights", 0)),  # chunks of 10 rows
        "column 'minimum_nights': greater_than_or_equal_to(1) (1 failing value(s), e.g. 0)",
    ),
    "semicolon-separated file": (
        _semicolons,
        ("table: file {part0} does not look comma-separated: its header has no ',' but 16 fields "
        "separated by ';'; write the file with ',' as the separator"),
    ),
    "file cut mid-row": (
        _cut_mid_row,
        ("table: file {part0} is truncated: line 32 has 2 of the header's 16 fields and the file "
        "does not end with a newline; deliver the complete file again"),
    ),
    "id that is not an integer": (
        _one_file(_set(5, "id", "L-1234")),
        ("column 'id': wrong dtype, cannot convert to int64 (1 failing value(s), e.g. 'L-1234') "
        "in file(s) {part0}"),
    ),
    "empty id": (
        _one_file(_set(3, "id", None)),
        "column 'id': null values are not allowed (1 failing value(s)) in file(s) {part0}",
    ),
    "latitude outside New York City": (
        _one_file(_set(2, "latitude", 48.8566)),  # Paris
        ("column 'latitude': in New York City: between 40.5 and 41.2 (1 failing value(s), "
        "e.g. 48.8566) in file(s) {part0}"),
    ),
    "minimum_nights of a billion": (
        _one_file(_set(6, "minimum_nights", 10**9)),
        ("column 'minimum_nights': plausible: at most 3650 nights (1 failing value(s), "
        "e.g. 1000000000) in file(s) {part0}"),
    ),
    "UTF-16 file": (
        _utf16,
        ("table: file {part0} is UTF-16 text, not utf-8: export it again as utf-8 (e.g. 'CSV "
         "UTF-8' in a spreadsheet, or `iconv -f UTF-16 -t UTF-8`)"),
    ),
    "inf in a numeric column": (
        _one_file(_set(8, "reviews_per_month", "inf")),
        ("column 'reviews_per_month': a finite number (not inf or -inf) (1 failing value(s), "
         "e.g. inf) in file(s) {part0}"),
    ),
    "NaN latitude": (
        _one_file(_set(10, "latitude", float("nan"))),
        "column 'latitude': null values are not allowed (1 failing value(s)) in file(s) {part0}",
    ),
    "a date that is not a date": (
        _one_file(_set(11, "last_review", "last tuesday")),
        ("column 'last_review': is a date (YYYY-MM-DD) (1 failing value(s), e.g. "
         "'last tuesday') in file(s) {part0}"),
    ),
    "negative price": (
        _one_file(_set(12, "price", -5)),
        ("column 'price': greater_than_or_equal_to(0) (1 failing value(s), e.g. -5.0) in "
         "file(s) {part0}"),
    ),
    "bad row in the second chunk of the second file": (
        _two_files_bad_second_chunk("neighbourhood_group", "Yonkers"),
        "column 'neighbourhood_group': isin(",
    ),
}


@pytest.mark.parametrize("case", list(BAD_BATCHES))
def test_bad_batch_fails_naming_column_and_rule_and_writes_nothing(
    tmp_path, training, training_profile, schema, case
):
    write, expected = BAD_BATCHES[case]
    batch = Batch(tmp_path)
    write(batch, training)
    model = FakeModel()
    catalog = batch.catalog(schema, chunk_rows=10, model=model, profile=training_profile)
    with pytest.raises(DataValidationError) as info:
        _run(catalog)
    message = str(info.value)
    expected = expected.format(part0=batch.url("part-0000.csv"), part1=batch.url("part-0001.csv"))
    assert expected in message
    assert message.startswith("Data validation failed for 'scoring_batch'")
    assert model.calls == []
    assert not batch.predictions.exists()
    assert not (batch.lake / "predictions").exists()
    assert batch.leftovers() == []
    assert not (batch.reporting / "batch_check.json").exists()
    assert not (batch.reporting / "drift_report.html").exists()


def test_bad_rows_are_counted_over_the_whole_batch(tmp_path, training, schema):
    batch = Batch(tmp_path)
    _two_files_bad_second_chunk("neighbourhood_group", "Yonkers")(batch, training)
    with pytest.raises(DataValidationError) as info:
        _run(batch.catalog(schema, chunk_rows=10))
    (failure,) = info.value.failures
    assert (failure.column, failure.n_failures, failure.examples) == (
        "neighbourhood_group", 1, ("Yonkers",))
    assert info.value.metrics == {"batch.rows_in": 40, "batch.rows_rejected": 1}


def test_empty_id_is_reported_once_as_a_null_not_as_a_dtype(tmp_path, training, schema):
    batch = Batch(tmp_path)
    _one_file(_set(3, "id", None))(batch, training)
    with pytest.raises(DataValidationError) as info:
        _run(batch.catalog(schema, chunk_rows=10))
    assert [(f.column, f.check, f.n_failures) for f in info.value.failures] == [
        ("id", "null values are not allowed", 1)]
    assert "wrong dtype" not in str(info.value)


def _assert_nothing_written(batch: Batch, model: FakeModel) -> None:
    assert model.calls == []
    assert not (batch.lake / "predictions").exists()
    assert not batch.parts.exists()
    assert not (batch.reporting / "batch_check.json").exists()


def test_duplicate_ids_in_one_file_reject_the_batch(tmp_path, training, schema):
    batch = Batch(tmp_path)
    rows = training.head(30)
    twice = rows.iloc[[4, 17]]
    batch.write("part-0000.csv", pd.concat([rows, twice, rows.iloc[[17]]]))  # 17: three times
    model = FakeModel()
    with pytest.raises(DataValidationError) as info:
        _run(batch.catalog(schema, chunk_rows=10, model=model))
    (failure,) = info.value.failures
    expected_ids = tuple(sorted(int(i) for i in twice["id"]))
    assert (failure.column, failure.n_failures, failure.examples, failure.files) == (
        "id", 2, expected_ids, (batch.url("part-0000.csv"),))
    message = str(info.value)
    assert (f"column 'id': duplicate listing ids, 2 id(s) on 5 rows: scoring returns one "
            f"prediction per listing id, so deliver each listing once (drop the repeated rows, "
            f"or the file delivered twice) (2 failing value(s), e.g. {expected_ids[0]}, "
            f"{expected_ids[1]}) in file(s) {batch.url('part-0000.csv')}") in message
    assert info.value.metrics == {"batch.rows_in": 33, "batch.rows_rejected": 5}
    _assert_nothing_written(batch, model)


def test_a_file_delivered_twice_rejects_the_batch_naming_both_files(tmp_path, training, schema):
    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.iloc[0:20])
    batch.write("part-0001.csv", training.iloc[20:25])
    batch.write("part-0002.csv", training.iloc[0:20])  # part-0000 again, under another name
    model = FakeModel()
    with pytest.raises(DataValidationError) as info:
        _run(batch.catalog(schema, chunk_rows=10, model=model))
    (failure,) = info.value.failures
    assert failure.column == "id" and failure.n_failures == 20
    assert failure.examples == tuple(sorted(int(i) for i in training["id"].iloc[0:20]))[:3]
    assert failure.files == (batch.url("part-0000.csv"), batch.url("part-0002.csv"))
    assert (f"in file(s) {batch.url('part-0000.csv')}, {batch.url('part-0002.csv')}"
            in str(info.value))
    assert batch.url("part-0001.csv") not in str(info.value)
    _assert_nothing_written(batch, model)


def test_check_batch_accepts_unique_ids_across_chunks_and_files(training, schema):
    sources = ["file:///lake/a.csv", "file:///lake/b.csv"]
    assert check_batch(chunks_of(training.head(90), 10, sources), model_reference(),
                       schema)["rows"] == 90


def test_missing_batch_is_batch_not_found(tmp_path, schema):
    batch = Batch(tmp_path)
    with pytest.raises(DatasetError, match=f"scoring_batch: No '\\*.csv' file under .*ds={DATE}"
                       ) as info:
        _run(batch.catalog(schema))
    # the catalog re-raises it as a DatasetError *from* it: retry logic can still see it
    assert isinstance(info.value.__cause__, BatchNotFoundError)
    assert not (batch.lake / "predictions").exists()


def test_model_failure_mid_stream_keeps_the_previous_predictions(tmp_path, training, schema):
    batch = Batch(tmp_path)
    batch.write("part-0000.csv", training.head(30))
    _run(batch.catalog(schema, chunk_rows=10))
    before = batch.predictions.read_bytes()

    class FailingOnThirdChunk(FakeModel):
        def predict(self, data):
            if len(self.calls) == 2:
                raise RuntimeError("model server went away")
            return super().predict(data)

    with pytest.raises(DatasetError, match="model server went away"):
        _run(batch.catalog(schema, chunk_rows=10, model=FailingOnThirdChunk()))
    assert batch.predictions.read_bytes() == before
    assert batch.leftovers() == []


# --------------------------------------------------------------------------- registry datasets


class _Constant(mlflow.pyfunc.PythonModel):
    def __init__(self, value: float):
        self.value = value

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"id": model_input["id"], "predicted_price": self.value})


def _register(value: float, *, signature=None, profile: dict | None = None,
              name: str = "price_model_test") -> str:
    with mlflow.start_run() as run:
        mlflow.pyfunc.log_model(
            name="model",
            python_model=_Constant(value),
            registered_model_name=name,
            pip_requirements=["mlflow"],
            signature=signature,
        )
        if profile is not None:
            mlflow.log_dict(profile, "reference/feature_profile.json")
    return run.info.run_id


def test_registered_model_dataset_resolves_alias_to_version(local_mlflow):
    for value in (1.0, 2.0):
        _register(value)
    local_mlflow.set_registered_model_alias("price_model_test", "champion", "1")

    loaded = MlflowRegisteredModelDataset(model_name="price_model_test", alias="champion").load()
    assert (loaded.name, loaded.alias, loaded.version) == ("price_model_test", "champion", "1")
    assert loaded.run_id == local_mlflow.get_model_version("price_model_test", "1").run_id
    assert loaded.predict(pd.DataFrame({"id": [5]}))["predicted_price"].tolist() == [1.0]

    # a pinned version wins over the alias (the DAG resolves the alias once per run)
    for version in ("2", 2):
        pinned = MlflowRegisteredModelDataset(
            model_name="price_model_test", alias="champion", model_version=version
        ).load()
        assert (pinned.version, pinned.alias) == ("2", "champion")
        assert pinned.predict(pd.DataFrame({"id": [5]}))["predicted_price"].tolist() == [2.0]
    # an empty runtime param is no pin
    unpinned = MlflowRegisteredModelDataset(model_name="price_model_test", model_version="").load()
    assert unpinned.version == "1"

    with pytest.raises(DatasetError, match=r"models:/price_model_test@challenger"):
        MlflowRegisteredModelDataset(model_name="price_model_test", alias="challenger").load()
    with pytest.raises(DatasetError, match=r"version 9"):
        MlflowRegisteredModelDataset(model_name="price_model_test", model_version="9").load()
    with pytest.raises(DatasetError, match="read-only"):
        MlflowRegisteredModelDataset(model_name="price_model_test").save(loaded)


def test_the_catalog_loads_the_version_the_dag_run_pinned(local_mlflow, training_profile):
    # the project's catalog.yml, as a scoring task builds it: its first task pinned version 2,
    # and the alias has moved to version 1 since
    for value in (1.0, 2.0):
        _register(value, profile=training_profile, name="nyc_airbnb_price")
    local_mlflow.set_registered_model_alias("nyc_airbnb_price", "champion", "1")
    conf = config_loader({"model_version": "2"})["catalog"]
    catalog = DataCatalog.from_config(
        {name: conf[name] for name in ("scoring_model", "scoring_model_reference")})
    model = catalog.load("scoring_model")
    assert model.version == "2"
    assert model.predict(pd.DataFrame({"id": [5]}))["predicted_price"].tolist() == [2.0]
    assert catalog.load("scoring_model_reference")["version"] == "2"
    # without a pin, the alias decides
    conf = config_loader()["catalog"]
    assert DataCatalog.from_config({"m": conf["scoring_model"]}).load("m").version == "1"


def test_model_reference_dataset(local_mlflow, training_profile):
    run_1 = _register(1.0, signature=model_signature())  # trained before profiles were logged
    run_2 = _register(2.0, signature=model_signature(), profile=training_profile)
    local_mlflow.set_registered_model_alias("price_model_test", "champion", "1")

    reference = MlflowModelReferenceDataset(model_name="price_model_test").load()
    assert {k: reference[k] for k in ("name", "alias", "version", "run_id")} == {
        "name": "price_model_test", "alias": "champion", "version": "1", "run_id": run_1}
    assert reference["inputs"] == SIGNATURE
    assert list(reference["inputs"]) == MODEL_INPUT_COLUMNS
    assert reference["profile"] is None

    pinned = MlflowModelReferenceDataset(model_name="price_model_test", model_version=2).load()
    assert (pinned["version"], pinned["run_id"]) == ("2", run_2)
    assert pinned["profile"] == training_profile

    with pytest.raises(DatasetError, match="price_model_test@challenger"):
        MlflowModelReferenceDataset(model_name="price_model_test", alias="challenger").load()
    with pytest.raises(DatasetError, match="read-only"):
        MlflowModelReferenceDataset(model_name="price_model_test").save({})


def test_a_batch_changed_after_its_check_fails_scoring_by_name(training, schema):
    changed = as_text(training.head(6)).assign(minimum_nights="three")
    scored = score_batch(FrameChunks.of(changed, 3), registered(),
                         {"model_version": "7"}, RUN)
    with pytest.raises(ValueError, match="changed after check_batch validated it"):
        scored.to_frame()
