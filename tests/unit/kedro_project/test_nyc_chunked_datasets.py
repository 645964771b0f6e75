"""The scoring datasets: ChunkedCSVDataset (a dated prefix of CSV part files, read in chunks) and
AtomicParquetDataset (a chunk stream published as one Parquet file, whole or not at all)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from kedro.io import DatasetError
from nyc_airbnb.chunks import FrameChunks
from nyc_airbnb.datasets import (
    AtomicParquetDataset,
    BatchNotFoundError,
    CheckedCSVDataset,
    ChunkedCSVDataset,
    CSVLayoutError,
)
from nyc_airbnb.validation import DataValidationError


def _leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.rglob("*") if p.name.startswith("_tmp-"))


def _frame(start: int, rows: int) -> pd.DataFrame:
    ids = np.arange(start, start + rows, dtype="int64")
    return pd.DataFrame(
        {"id": ids, "predicted_price": ids * 1.5, "model_version": "3", "scoring_run_id": "r"}
    )


# --------------------------------------------------------------------------- AtomicParquetDataset


def test_parquet_save_of_a_chunk_stream_writes_every_row(tmp_path):
    path = tmp_path / "predictions" / "ds=2019-07-08" / "predictions.parquet"
    chunks = FrameChunks(lambda: (_frame(i * 10, 10) for i in range(7)))
    AtomicParquetDataset(filepath=str(path)).save(chunks)
    written = pd.read_parquet(path)
    assert len(written) == 70
    assert written["id"].tolist() == list(range(70))
    assert written["predicted_price"].tolist() == [i * 1.5 for i in range(70)]
    assert pq.ParquetFile(path).metadata.num_row_groups == 7  # one row group per chunk
    assert _leftovers(tmp_path) == []


def test_parquet_save_of_a_dataframe(tmp_path):
    path = tmp_path / "p.parquet"
    AtomicParquetDataset(filepath=str(path)).save(_frame(0, 4))
    assert pd.read_parquet(path)["id"].tolist() == [0, 1, 2, 3]


def test_parquet_save_again_replaces_the_file(tmp_path):
    path = tmp_path / "ds=2019-07-08" / "predictions.parquet"
    dataset = AtomicParquetDataset(filepath=str(path))
    dataset.save(FrameChunks.of(_frame(0, 50), 20))
    dataset.save(FrameChunks.of(_frame(1000, 30), 20))  # a re-run of the same partition
    written = pd.read_parquet(path)
    assert len(written) == 30  # replaced, not appended
    assert written["id"].min() == 1000
    assert sorted(p.name for p in path.parent.iterdir()) == ["predictions.parquet"]


def test_parquet_failure_mid_stream_keeps_the_previous_file(tmp_path):
    path = tmp_path / "ds=2019-07-08" / "predictions.parquet"
    dataset = AtomicParquetDataset(filepath=str(path))
    dataset.save(_frame(0, 5))
    before = path.read_bytes()

    def failing():
        yield _frame(100, 10)
        yield _frame(110, 10)
        raise RuntimeError("model server went away")

    with pytest.raises(DatasetError, match="model server went away"):
        dataset.save(FrameChunks(failing))
    assert path.read_bytes() == before  # readers still see the previous, complete file
    assert pd.read_parquet(path)["id"].tolist() == [0, 1, 2, 3, 4]
    assert _leftovers(tmp_path) == []


def test_parquet_failure_mid_stream_leaves_no_partition_behind(tmp_path):
    path = tmp_path / "predictions" / "ds=2019-07-08" / "predictions.parquet"

    def failing():
        yield _frame(0, 10)
        raise RuntimeError("boom")

    with pytest.raises(DatasetError, match="boom"):
        AtomicParquetDataset(filepath=str(path)).save(FrameChunks(failing))
    assert not path.exists()
    assert _leftovers(tmp_path) == []
    # no empty ds=... directory that a reader of the partitions would take for a day
    assert not (tmp_path / "predictions").exists()


def test_parquet_save_of_nothing_is_an_error(tmp_path):
    path = tmp_path / "ds=1" / "predictions.parquet"
    with pytest.raises(DatasetError, match="no chunk of rows"):
        AtomicParquetDataset(filepath=str(path)).save(FrameChunks(lambda: iter([])))
    assert not path.exists()
    assert _leftovers(tmp_path) == []


def test_parquet_chunks_with_another_schema_are_cast_or_rejected(tmp_path):
    path = tmp_path / "p.parquet"
    first = _frame(0, 3)
    second = _frame(3, 3).astype({"id": "int32"})  # castable to the first chunk's int64
    AtomicParquetDataset(filepath=str(path)).save([first, second])
    written = pd.read_parquet(path)
    assert written["id"].dtype == "int64" and len(written) == 6

    bad = _frame(6, 3).assign(predicted_price="n/a")
    with pytest.raises(DatasetError):
        AtomicParquetDataset(filepath=str(path)).save([first, bad])
    assert len(pd.read_parquet(path)) == 6
    assert _leftovers(tmp_path) == []


def test_parquet_load_yields_chunks_with_load_args(tmp_path):
    path = tmp_path / "p.parquet"
    AtomicParquetDataset(filepath=str(path)).save(FrameChunks.of(_frame(0, 25), 25))
    loaded = AtomicParquetDataset(
        filepath=str(path), load_args={"columns": ["predicted_price"], "batch_size": 10}
    ).load()
    chunks = list(loaded)
    assert [len(c) for c in chunks] == [10, 10, 5]
    assert all(list(c.columns) == ["predicted_price"] for c in chunks)
    assert pd.concat(chunks)["predicted_price"].tolist() == [i * 1.5 for i in range(25)]
    assert loaded.sources == [str(path)]
    # re-iterable: every iteration reads the file again
    assert loaded.to_frame().equals(pd.concat(chunks, ignore_index=True))


def test_parquet_load_of_a_missing_file(tmp_path):
    dataset = AtomicParquetDataset(filepath=str(tmp_path / "none.parquet"))
    assert not dataset.exists()
    with pytest.raises(DatasetError, match="none.parquet"):
        dataset.load()


# --------------------------------------------------------------------------- ChunkedCSVDataset


def _write(folder: Path, name: str, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _url(path: Path) -> str:
    return f"file://{path}"  # as fsspec spells a local file (no percent-encoding of '=')


def _csv(ids: range) -> str:
    return "id,name\n" + "".join(f"{i},listing {i}\n" for i in ids)


def test_csv_reads_every_file_in_name_order_in_chunks(tmp_path):
    folder = tmp_path / "incoming" / "ds=2019-07-08"
    # written out of order: read in name order
    _write(folder, "part-0002.csv", _csv(range(20, 27)))
    _write(folder, "part-0000.csv", _csv(range(12)))
    _write(folder, "part-0001.csv", _csv(range(12, 20)))
    # staging, marker and hidden files of writers, never data
    _write(folder, "_tmp-part-0003.csv", _csv(range(900, 905)))
    _write(folder, ".part-0004.csv", _csv(range(950, 955)))
    _write(folder, "_SUCCESS", "")
    _write(folder, "notes.txt", "not a csv")
    _write(folder / "_temporary" / "0", "part-0005.csv", _csv(range(980, 985)))

    batch = ChunkedCSVDataset(path=str(folder), chunk_rows=5).load()
    urls = [_url(folder / f"part-000{i}.csv") for i in range(3)]
    assert batch.sources == urls
    chunks = list(batch)
    assert [len(c) for c in chunks] == [5, 5, 2, 5, 3, 5, 2]
    assert pd.concat(chunks)["id"].tolist() == [str(i) for i in range(27)]
    assert [c.attrs["source"] for c in chunks] == [urls[0]] * 3 + [urls[1]] * 2 + [urls[2]] * 2
    assert [c.attrs["first_row"] for c in chunks] == [0, 5, 10, 0, 5, 0, 5]
    # every column as text: the contract coerces types the same way for every chunk
    assert all(str(dtype) == "string" for c in chunks for dtype in c.dtypes)
    # re-iterable
    assert sum(len(c) for c in batch) == 27


def test_csv_reads_a_subfolder_and_a_single_file(tmp_path):
    folder = tmp_path / "ds=1"
    _write(folder / "region=a", "part-0.csv", _csv(range(3)))
    single = _write(tmp_path, "one.csv", _csv(range(4)))
    assert len(ChunkedCSVDataset(path=str(folder)).load().to_frame()) == 3
    assert len(ChunkedCSVDataset(path=str(single)).load().to_frame()) == 4
    # a trailing slash is the same prefix
    assert ChunkedCSVDataset(path=f"{folder}/").load().sources == [
        _url(folder / "region=a" / "part-0.csv")
    ]


@pytest.mark.parametrize("layout", ["missing", "empty", "only_staging_files"])
def test_csv_batch_not_found(tmp_path, layout):
    folder = tmp_path / "incoming" / "ds=2019-07-08"
    if layout != "missing":
        folder.mkdir(parents=True)
    if layout == "only_staging_files":
        _write(folder, "_tmp-part-0.csv", _csv(range(3)))
        _write(folder, ".part-1.csv", _csv(range(3)))
    dataset = ChunkedCSVDataset(path=str(folder))
    assert not dataset.exists()
    with pytest.raises(BatchNotFoundError, match="No '\\*.csv' file under .*ds=2019-07-08") as info:
        dataset.load()
    assert isinstance(info.value, DatasetError)  # Kedro and Airflow treat it as a load failure
    assert str(folder) in str(info.value)


def test_csv_empty_and_header_only_files(tmp_path):
    folder = tmp_path / "ds=1"
    _write(folder, "a.csv", "")
    _write(folder, "b.csv", "id,name\n")
    _write(folder, "c.csv", _csv(range(2)))
    dataset = ChunkedCSVDataset(path=str(folder))
    assert dataset.exists()
    chunks = list(dataset.load())
    # the 0-byte file gives nothing; the header-only file its (checkable) header with 0 rows
    assert [(len(c), list(c.columns)) for c in chunks] == [(0, ["id", "name"]),
                                                          (2, ["id", "name"])]


def test_csv_not_utf8_names_file_column_and_row(tmp_path):
    folder = tmp_path / "ds=1"
    _write(folder, "part-0.csv", _csv(range(3)))
    body = "id,name,room_type\n1,Cosy,Private room\n2,Caf\u00e9 loft,Private room\n"
    bad = _write(folder, "part-1.csv", body.encode("latin-1"))
    batch = ChunkedCSVDataset(path=str(folder)).load()
    with pytest.raises(DataValidationError) as info:
        list(batch)
    (failure,) = info.value.failures
    assert failure.column == "name"
    message = str(info.value)
    assert "column 'name': not UTF-8 text" in message
    assert _url(bad) in message
    assert "data row 2, field 2" in message


def test_csv_utf8_with_a_byte_order_mark(tmp_path):
    """Spreadsheet exports often start with a BOM: it must not become part of the first name."""
    folder = tmp_path / "ds=1"
    _write(folder, "part-0.csv", b"\xef\xbb\xbf" + _csv(range(2)).encode("utf-8"))
    (chunk,) = ChunkedCSVDataset(path=str(folder)).load()
    assert list(chunk.columns) == ["id", "name"]
    assert chunk["id"].tolist() == ["0", "1"]


def test_csv_not_utf8_in_the_header(tmp_path):
    folder = tmp_path / "ds=1"
    _write(folder, "part-0.csv", "id,nom_\u00e9tendu\n1,x\n".encode("latin-1"))
    with pytest.raises(DataValidationError, match="table: not UTF-8 text: .*part-0.csv, header, "
                                                  "field 2"):
        list(ChunkedCSVDataset(path=str(folder)).load())


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("id,name\n1,a\n2,\"Cosy, sun", " is truncated: line 3 ends inside a quoted field"),
        ("id,name\n1,a\n2,b,c\n", (", line 3: 3 fields where the header has 2; quote the fields "
                                   "that contain the separator (or fix that row)")),
        ("id\tname\n1\ta\n", (" does not look comma-separated: its header has no ',' but 2 "
                               "fields separated by '\\t'")),
    ],
    ids=["cut inside a quoted field", "a row with a field too many", "tab-separated"],
)
def test_csv_layout_problems_name_the_file(tmp_path, content, problem):
    folder = tmp_path / "ds=1"
    _write(folder, "part-0.csv", _csv(range(3)))
    bad = _write(folder, "part-1.csv", content)
    with pytest.raises(CSVLayoutError) as info:
        list(ChunkedCSVDataset(path=str(folder)).load())
    assert isinstance(info.value, DataValidationError)
    (failure,) = info.value.failures
    assert failure.column is None
    assert f"file {_url(bad)}{problem}" in failure.check
    assert "Error tokenizing" not in str(info.value)


def test_csv_without_a_final_newline_but_whole_rows_is_read(tmp_path):
    folder = tmp_path / "ds=1"
    _write(folder, "part-0.csv", _csv(range(3)).rstrip("\n"))
    (chunk,) = ChunkedCSVDataset(path=str(folder)).load()
    assert chunk["id"].tolist() == ["0", "1", "2"]


def test_checked_csv_reads_a_good_file_as_pandas_does(tmp_path):
    path = _write(tmp_path, "raw.csv", _csv(range(5)))
    loaded = CheckedCSVDataset(filepath=str(path), name="raw_listings").load()
    pd.testing.assert_frame_equal(loaded, pd.read_csv(path))


def test_checked_csv_names_the_file_of_a_semicolon_export(tmp_path):
    path = _write(tmp_path, "raw.csv", "id;name\n1;Cosy, sunny\n2;Loft\n")
    with pytest.raises(CSVLayoutError) as info:
        CheckedCSVDataset(filepath=str(path), name="raw_listings").load()
    assert isinstance(info.value, DatasetError)  # Kedro passes it on as a load failure
    assert str(info.value).startswith("Data validation failed for 'raw_listings'")
    assert (f"table: file {path} does not look comma-separated: its header has no ',' but 2 "
            "fields separated by ';'; write the file with ',' as the separator") in str(info.value)


def test_csv_is_read_only(tmp_path):
    with pytest.raises(DatasetError, match="read-only"):
        ChunkedCSVDataset(path=str(tmp_path)).save(pd.DataFrame({"id": [1]}))
    with pytest.raises(DatasetError, match="chunk_rows"):
        ChunkedCSVDataset(path=str(tmp_path), chunk_rows=0)


# --------------------------------------------------------------------------- fan-out parts


def test_csv_part_i_of_n_is_every_nth_file_from_the_ith(tmp_path):
    folder = tmp_path / "incoming"
    for i in range(5):
        _write(folder, f"part-000{i}.csv", _csv(range(i * 10, i * 10 + 3)))
    ids = {
        part: [int(x) for c in ChunkedCSVDataset(path=str(folder), part=part, parts=2).load()
               for x in c["id"]]
        for part in (0, 1)
    }
    assert ids == {0: [0, 1, 2, 20, 21, 22, 40, 41, 42], 1: [10, 11, 12, 30, 31, 32]}
    # more parts than files: the last part has nothing (not an error: the others have it all)
    spare = ChunkedCSVDataset(path=str(folder), part=5, parts=6).load()
    assert spare.sources == [] and list(spare) == []
    with pytest.raises(DatasetError, match="part must be in"):
        ChunkedCSVDataset(path=str(folder), part=2, parts=2)


def test_parts_dataset_reads_every_part_in_order_or_names_the_missing(tmp_path):
    from nyc_airbnb.datasets import ParquetPartsDataset

    root = tmp_path / "scored_parts"
    ParquetPartsDataset(path=str(root), part=2, parts=3).save(_frame(200, 4))
    ParquetPartsDataset(path=str(root), part=0, parts=3).save(_frame(0, 5))
    reader = ParquetPartsDataset(path=str(root), parts=3)
    with pytest.raises(DatasetError, match=r"Parts \[1\] of 3 are missing"):
        reader.load()
    assert not reader.exists()
    ParquetPartsDataset(path=str(root), part=1, parts=3).save(iter([_frame(100, 2),
                                                                   _frame(102, 1)]))
    loaded = reader.load().to_frame()
    assert loaded["id"].tolist() == [*range(5), 100, 101, 102, *range(200, 204)]
    # a part beyond `parts` (left by another run shape) is never read
    ParquetPartsDataset(path=str(root), part=3, parts=4).save(_frame(900, 1))
    assert len(reader.load().to_frame()) == 12
    assert _leftovers(tmp_path) == []
