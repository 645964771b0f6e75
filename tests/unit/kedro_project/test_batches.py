"""nyc_airbnb.batches: generated scoring batches (schema, jitter, drift) and their part files."""

from __future__ import annotations

import math
import re
from pathlib import Path

import fsspec
import numpy as np
import pandas as pd
import pytest
from nyc_airbnb import batches
from nyc_airbnb.batches import (
    batch_profile,
    date_seed,
    generate_batch,
    load_source,
    main,
    write_batch,
)
from nyc_airbnb.validation import (
    LISTING_COLUMNS,
    listing_schema,
    validate,
    validate_model_input,
)
from nyc_helpers import RAW_CSV

ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture(scope="module")
def source() -> pd.DataFrame:
    return load_source()


@pytest.fixture(scope="module")
def schema_params(params) -> dict:
    return params["listing_schema"]


def _read_parts(paths) -> pd.DataFrame:
    return pd.concat([pd.read_csv(p, encoding="utf-8") for p in paths], ignore_index=True)


# --------------------------------------------------------------------------- source


def test_load_source_is_the_shipped_file(source):
    assert len(source) == 20_000
    assert batches.default_source_path() == RAW_CSV.resolve()
    pd.testing.assert_frame_equal(load_source(RAW_CSV), source)


def test_load_source_falls_back_to_kedro_project_path(monkeypatch, tmp_path):
    monkeypatch.setattr(batches, "PROJECT_PATH", tmp_path / "nowhere")
    monkeypatch.delenv("KEDRO_PROJECT_PATH", raising=False)
    with pytest.raises(FileNotFoundError, match="KEDRO_PROJECT_PATH"):
        batches.default_source_path()
    monkeypatch.setenv("KEDRO_PROJECT_PATH", str(RAW_CSV.parents[2]))
    assert batches.default_source_path() == RAW_CSV


def test_bounds_are_the_cleaning_parameters(params):
    cleaning = params["cleaning"]
    assert batches.NYC_LATITUDE == (cleaning["latitude"]["min"], cleaning["latitude"]["max"])
    assert batches.NYC_LONGITUDE == (cleaning["longitude"]["min"], cleaning["longitude"]["max"])


# --------------------------------------------------------------------------- generation


@pytest.mark.parametrize("drift", [0.0, 1.0])
def test_batch_has_the_raw_schema_and_passes_validation(source, schema_params, drift):
    df = generate_batch(source, 5000, seed=3, drift=drift)

    assert list(df.columns) == list(LISTING_COLUMNS)
    assert "price" not in df.columns
    assert len(df) == 5000
    assert list(df.index) == list(range(5000))
    for name, spec in LISTING_COLUMNS.items():
        assert df[name].dtype == pd.Series([], dtype=spec.dtype).dtype, name
        if not spec.nullable:
            assert df[name].notna().all(), name
    validate_model_input(df, schema_params)
    validate(df, listing_schema(schema_params, price="optional"), "batch")


def test_batch_with_price_is_a_valid_raw_training_file(source, schema_params, params):
    df = generate_batch(source, 3000, seed=3, with_price=True)

    raw_order = list(pd.read_csv(RAW_CSV, nrows=0).columns)
    assert list(df.columns) == raw_order
    assert df["price"].dtype == np.int64 and (df["price"] >= 0).all()
    min_rows = params["data_quality"]["min_rows"]
    validate(df, listing_schema(schema_params, price="required", min_rows=min_rows), "raw_listings")


def test_jitter_keeps_values_realistic(source):
    df = generate_batch(source, 20_000, seed=5, drift=1.0)

    assert df["latitude"].between(*batches.NYC_LATITUDE).all()
    assert df["longitude"].between(*batches.NYC_LONGITUDE).all()
    assert (df["latitude"].round(5) == df["latitude"]).all()
    for name in ("minimum_nights", "number_of_reviews", "calculated_host_listings_count"):
        assert df[name].dtype == np.int64 and (df[name] >= 0).all(), name
    assert (df["minimum_nights"] >= 1).all()
    assert df["availability_365"].between(0, 365).all()

    no_reviews = df["number_of_reviews"] == 0
    assert no_reviews.any() and (~no_reviews).any()
    assert df["reviews_per_month"].isna().equals(no_reviews)
    assert df["last_review"].isna().equals(no_reviews)
    dates = df["last_review"].dropna()
    assert dates.str.fullmatch(ISO_DATE.pattern).all()
    assert dates.max() <= source["last_review"].max()
    assert (df["reviews_per_month"].dropna() > 0).all()
    assert set(df["neighbourhood_group"]) <= set(source["neighbourhood_group"])
    assert set(df["room_type"]) <= set(source["room_type"])


def test_coordinates_move_by_about_a_thousandth_of_a_degree():
    one = pd.read_csv(RAW_CSV, nrows=1)
    df = generate_batch(one, 2000, seed=0)

    for column in ("latitude", "longitude"):
        delta = (df[column] - one[column].iloc[0]).abs()
        assert delta.max() <= batches.COORDINATE_JITTER + 1e-5
        assert delta.mean() > batches.COORDINATE_JITTER / 4  # it does move


def test_same_seed_same_batch_other_seed_other_batch(source):
    first = generate_batch(source, 2000, seed=42, drift=0.3)
    again = generate_batch(source, 2000, seed=42, drift=0.3)
    other = generate_batch(source, 2000, seed=43, drift=0.3)

    pd.testing.assert_frame_equal(first, again)
    assert not first["id"].isin(other["id"]).any()
    assert not first.drop(columns="id").equals(other.drop(columns="id"))


def test_ids_are_fresh_unique_int64(source):
    df = generate_batch(source, 50_000, seed=1)

    assert df["id"].dtype == np.int64
    assert df["id"].is_unique
    assert df["id"].min() > source["id"].max()
    assert df["id"].max() < 2**53


def test_id_start_gives_consecutive_ids(source):
    df = generate_batch(source, 100, seed=1, id_start=7)

    assert df["id"].tolist() == list(range(7, 107))
    assert df["id"].dtype == np.int64
    # the ids do not change the rows
    pd.testing.assert_frame_equal(
        df.drop(columns="id"),
        generate_batch(source, 100, seed=1, id_start=1_000).drop(columns="id"),
    )


def test_drift_zero_keeps_the_source_distributions(source):
    df = generate_batch(source, 20_000, seed=11, drift=0.0)

    for column in ("neighbourhood_group", "room_type"):
        got = df[column].value_counts(normalize=True)
        want = source[column].value_counts(normalize=True)
        assert (got.reindex(want.index, fill_value=0) - want).abs().max() < 0.015, column
    got, want = batch_profile(df), batch_profile(source)
    assert abs(got["share_entire_home_manhattan"] - want["share_entire_home_manhattan"]) < 0.015
    assert got["median_minimum_nights"] == want["median_minimum_nights"]
    assert got["mean_availability_365"] == pytest.approx(want["mean_availability_365"], rel=0.05)
    assert got["mean_latitude"] == pytest.approx(want["mean_latitude"], abs=0.002)
    assert df["number_of_reviews"].median() == pytest.approx(
        source["number_of_reviews"].median(), abs=1
    )
    assert (df["number_of_reviews"] == 0).mean() == pytest.approx(
        (source["number_of_reviews"] == 0).mean(), abs=0.015
    )


def test_drift_shifts_the_documented_statistics(source):
    profiles = [
        batch_profile(generate_batch(source, 20_000, seed=11, drift=d)) for d in (0.0, 0.5, 1.0)
    ]
    # every documented statistic grows with drift
    for name in profiles[0]:
        assert profiles[0][name] < profiles[1][name] < profiles[2][name], name

    # the mix: Manhattan entire homes weighted 1 + 3 d
    p = batch_profile(source)["share_entire_home_manhattan"]
    w = 1 + batches.DRIFT_ENTIRE_HOME_MANHATTAN_WEIGHT
    assert profiles[2]["share_entire_home_manhattan"] == pytest.approx(
        w * p / (1 + (w - 1) * p), abs=0.015
    )
    none, full = profiles[0], profiles[2]
    assert full["share_entire_home_manhattan"] - none["share_entire_home_manhattan"] > 0.25
    assert full["mean_minimum_nights"] > 2 * none["mean_minimum_nights"]
    assert full["mean_availability_365"] - none["mean_availability_365"] > 100
    assert full["mean_latitude"] - none["mean_latitude"] > batches.DRIFT_LATITUDE_SHIFT


def test_each_drift_effect_has_its_documented_size(source):
    # one kind of listing only: the mix weight changes nothing, the other effects are isolated
    brooklyn_rooms = source[
        (source["neighbourhood_group"] == "Brooklyn") & (source["room_type"] == "Private room")
    ].reset_index(drop=True)
    base = generate_batch(brooklyn_rooms, 20_000, seed=2, drift=0.0)
    drifted = generate_batch(brooklyn_rooms, 20_000, seed=2, drift=0.6)
    d = 0.6

    pd.testing.assert_series_equal(base["host_id"], drifted["host_id"])  # same rows drawn
    assert (drifted["latitude"] - base["latitude"]).mean() == pytest.approx(
        batches.DRIFT_LATITUDE_SHIFT * d, abs=1e-5
    )
    ratio = drifted["minimum_nights"] / base["minimum_nights"]
    assert ratio.median() == pytest.approx(1 + batches.DRIFT_MINIMUM_NIGHTS_SCALE * d, abs=0.1)
    expected = base["availability_365"] + batches.DRIFT_AVAILABILITY_PULL * d * (
        365 - base["availability_365"]
    )
    assert (drifted["availability_365"] - expected).abs().max() <= 0.5
    # drift leaves the review columns alone
    pd.testing.assert_series_equal(base["number_of_reviews"], drifted["number_of_reviews"])


@pytest.mark.parametrize(
    ("kwargs", "argument"),
    [
        ({"n_rows": 0}, "n_rows"),
        ({"n_rows": -5}, "n_rows"),
        ({"n_rows": 2.5}, "n_rows"),
        ({"n_rows": True}, "n_rows"),
        ({"drift": -0.01}, "drift"),
        ({"drift": 1.01}, "drift"),
        ({"drift": math.nan}, "drift"),
        ({"drift": "high"}, "drift"),
        ({"seed": -1}, "seed"),
        ({"seed": None}, "seed"),
        ({"id_start": -1}, "id_start"),
        ({"id_start": 2**63 - 5}, "id_start"),
    ],
)
def test_bad_arguments_are_named(source, kwargs, argument):
    args = {"n_rows": 10, "seed": 0, **kwargs}
    n_rows = args.pop("n_rows")
    with pytest.raises(ValueError, match=rf"\b{argument}\b"):
        generate_batch(source, n_rows, **args)


def test_source_without_a_listing_column_is_rejected(source):
    with pytest.raises(ValueError, match=r"source is missing column\(s\) \['availability_365'\]"):
        generate_batch(source.drop(columns="availability_365"), 10, seed=0)
    with pytest.raises(ValueError, match="price"):
        generate_batch(source.drop(columns="price"), 10, seed=0, with_price=True)
    with pytest.raises(ValueError, match="source has no rows"):
        generate_batch(source.iloc[0:0], 10, seed=0)


# --------------------------------------------------------------------------- writing


def _listing(path: Path) -> list[str]:
    return sorted(p.name for p in path.iterdir())


def test_write_batch_writes_all_rows_in_n_parts(source, tmp_path):
    df = generate_batch(source, 1001, seed=4)

    urls = write_batch(df, str(tmp_path), "2026-11-27", n_files=3)

    partition = tmp_path / "incoming" / "ds=2026-11-27"
    assert _listing(partition) == ["part-00000.csv", "part-00001.csv", "part-00002.csv"]
    assert urls == [str(partition / name) for name in _listing(partition)]
    sizes = [len(pd.read_csv(u)) for u in urls]
    assert sizes == [334, 334, 333]
    back = _read_parts(urls)
    pd.testing.assert_frame_equal(back.astype(df.dtypes.to_dict()), df)
    raw = (partition / "part-00000.csv").read_bytes()
    raw.decode("utf-8")  # UTF-8, and the non-ASCII names survive
    assert raw.startswith(b"id,name,host_id,")
    assert b"\r\n" not in raw


def test_write_batch_replaces_a_partition_and_can_refuse(source, tmp_path):
    partition = tmp_path / "incoming" / "ds=2026-11-27"
    write_batch(generate_batch(source, 300, seed=1), str(tmp_path), "2026-11-27", n_files=3)
    (partition / "_SUCCESS").write_text("")  # not a part file: left alone

    df = generate_batch(source, 200, seed=2)
    urls = write_batch(df, str(tmp_path), "2026-11-27", n_files=2)

    assert _listing(partition) == ["_SUCCESS", "part-00000.csv", "part-00001.csv"]
    assert _read_parts(urls)["id"].tolist() == df["id"].tolist()
    with pytest.raises(FileExistsError, match="overwrite"):
        write_batch(df, str(tmp_path), "2026-11-27", overwrite=False)
    assert _read_parts(urls)["id"].tolist() == df["id"].tolist()


def test_write_batch_leaves_no_temp_file_when_a_move_fails(source, tmp_path, monkeypatch):
    from fsspec.implementations.local import LocalFileSystem

    def failing_mv(self, *args, **kwargs):
        raise OSError("disk on fire")

    monkeypatch.setattr(LocalFileSystem, "mv", failing_mv)
    with pytest.raises(OSError, match="disk on fire"):
        write_batch(generate_batch(source, 10, seed=0), str(tmp_path), "2026-11-27")
    assert _listing(tmp_path / "incoming" / "ds=2026-11-27") == []


def test_write_batch_to_a_url(source):
    fs = fsspec.filesystem("memory")
    df = generate_batch(source, 50, seed=0)
    try:
        urls = write_batch(df, "memory://bucket/prefix/", "2026-01-31", n_files=2)
        assert urls == [
            "memory://bucket/prefix/incoming/ds=2026-01-31/part-00000.csv",
            "memory://bucket/prefix/incoming/ds=2026-01-31/part-00001.csv",
        ]
        names = [p.rsplit("/", 1)[-1] for p in fs.ls("/bucket/prefix/incoming/ds=2026-01-31",
                                                      detail=False)]
        assert sorted(names) == ["part-00000.csv", "part-00001.csv"]
        assert len(_read_parts(urls)) == 50
    finally:
        fs.rm("/bucket", recursive=True)


@pytest.mark.parametrize(
    "ds",
    ["2026-13-01", "2026-02-30", "2026-1-01", "20261127", "2026-11-27T00:00", "2026-11-27\n", "",
     None],
)
def test_write_batch_rejects_a_bad_ds(source, tmp_path, ds):
    with pytest.raises(ValueError, match=r"ds must be a date written YYYY-MM-DD"):
        write_batch(generate_batch(source, 5, seed=0), str(tmp_path), ds)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("n_files", [0, -1, 6, 1.5])
def test_write_batch_rejects_a_bad_n_files(source, tmp_path, n_files):
    with pytest.raises(ValueError, match="n_files"):
        write_batch(generate_batch(source, 5, seed=0), str(tmp_path), "2026-11-27", n_files=n_files)
    assert list(tmp_path.iterdir()) == []


# --------------------------------------------------------------------------- CLI


def test_cli_writes_one_partition_per_date(tmp_path, capsys):
    code = main(["--root", str(tmp_path), "--date", "2026-11-27", "--date", "2026-11-28",
                 "--rows", "500", "--files", "2", "--seed", "1", "--drift", "0.5"])

    assert code == 0
    out = capsys.readouterr().out
    for ds in ("2026-11-27", "2026-11-28"):
        partition = tmp_path / "incoming" / f"ds={ds}"
        assert _listing(partition) == ["part-00000.csv", "part-00001.csv"]
        assert f"ds={ds}: 500 rows (drift 0.5) in 2 file(s)" in out
        assert str(partition / "part-00001.csv") in out
    first = _read_parts(sorted((tmp_path / "incoming" / "ds=2026-11-27").iterdir()))
    second = _read_parts(sorted((tmp_path / "incoming" / "ds=2026-11-28").iterdir()))
    assert not first["id"].isin(second["id"]).any()

    # a date's batch depends on (seed, date) only
    other = tmp_path / "other"
    assert main(["--root", str(other), "--date", "2026-11-28", "--rows", "500", "--files", "2",
                 "--seed", "1", "--drift", "0.5"]) == 0
    pd.testing.assert_frame_equal(
        _read_parts(sorted((other / "incoming" / "ds=2026-11-28").iterdir())), second
    )
    assert date_seed(1, "2026-11-27") != date_seed(1, "2026-11-28") != date_seed(2, "2026-11-28")


def test_cli_reports_bad_arguments(tmp_path, capsys):
    assert main(["--root", str(tmp_path), "--date", "2026-11-31"]) == 2
    assert "ds must be a date written YYYY-MM-DD" in capsys.readouterr().err
    assert main(["--root", str(tmp_path), "--date", "2026-11-27", "--drift", "2"]) == 2
    assert "drift must be a number in [0, 1]" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_writes_to_s3_through_the_aws_environment(tmp_path, monkeypatch, capsys):
    boto3 = pytest.importorskip("boto3")
    s3fs = pytest.importorskip("s3fs")
    moto_server = pytest.importorskip("moto.server")

    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        secret = "batch-test-secret-value"
        for name, value in {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": "batch-test-key",
            "AWS_SECRET_ACCESS_KEY": secret,
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(name, value)
        monkeypatch.delenv("AWS_ENDPOINT_URL_S3", raising=False)
        monkeypatch.delenv("FSSPEC_S3_ENDPOINT_URL", raising=False)
        s3fs.S3FileSystem.clear_instance_cache()
        client = boto3.client("s3", endpoint_url=endpoint)
        client.create_bucket(Bucket="mlops")

        code = main(["--root", "s3://mlops", "--date", "2026-11-27", "--rows", "300",
                     "--files", "2", "--seed", "1"])

        captured = capsys.readouterr()
        assert code == 0, captured.err
        assert f"S3 endpoint: {endpoint} (AWS_ENDPOINT_URL)" in captured.out
        assert "s3://mlops/incoming/ds=2026-11-27/part-00001.csv" in captured.out
        assert secret not in captured.out + captured.err
        keys = sorted(o["Key"] for o in client.list_objects_v2(Bucket="mlops")["Contents"])
        assert keys == ["incoming/ds=2026-11-27/part-00000.csv",
                        "incoming/ds=2026-11-27/part-00001.csv"]
        body = client.get_object(Bucket="mlops", Key=keys[0])["Body"].read().decode("utf-8")
        assert body.startswith("id,name,")

        assert main(["--root", "s3://no-such-bucket", "--date", "2026-11-27"]) == 2
        err = capsys.readouterr().err
        assert "s3://no-such-bucket/incoming/ds=2026-11-27" in err
        assert secret not in err
    finally:
        s3fs.S3FileSystem.clear_instance_cache()
        server.stop()
