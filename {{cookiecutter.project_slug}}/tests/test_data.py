"""Splitting the raw CSV: the same rows as a frame split with the seed, every value kept as written."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.model_selection import train_test_split

from {{ cookiecutter.package_name }}.config import DataConfig
from {{ cookiecutter.package_name }}.data import (
    class_codes,
    count_rows,
    features_and_target,
    read_frame,
    read_text_table,
    split_csv,
)

CONFIG = DataConfig(source="csv", target="label", test_size=0.25, seed=3)
HALF = CONFIG.model_copy(update={"test_size": 0.5})  # two classes in each half of four rows


def lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def write(path, text: str) -> None:
    path.write_bytes(text.encode("utf-8"))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_halves_hold_the_rows_a_frame_split_gives_in_the_same_order(tmp_path, task):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "size": rng.normal(10, 3, 40).round(2),
            "colour": rng.choice(["red", "blue"], 40),
            "label": rng.choice(["yes", "no", "maybe"], 40)
            if task == "classification"
            else rng.normal(size=40),
        }
    )
    frame.to_csv(tmp_path / "raw.csv", index=False)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"

    assert split_csv(tmp_path / "raw.csv", train, test, CONFIG, task) == (30, 10, 2)

    stratify = frame["label"] if task == "classification" else None
    expected = train_test_split(frame, test_size=0.25, random_state=3, stratify=stratify)
    for path, half in zip((train, test), expected, strict=True):
        assert lines(path) == half.to_csv(index=False).splitlines()


def test_values_are_copied_as_written_never_reparsed(tmp_path):
    raw = "\ufeffsize,colour,label\r\n1.50,NA,yes\r\n\r\n007,red,no\r\n2e3,,yes\r\n3,blue,no"
    write(tmp_path / "raw.csv", raw)
    split_csv(tmp_path / "raw.csv", tmp_path / "train.csv", tmp_path / "test.csv", HALF, "classification")
    written = lines(tmp_path / "train.csv") + lines(tmp_path / "test.csv")[1:]
    assert written[0] == "size,colour,label", "the byte-order mark is dropped, the names kept"
    assert sorted(written[1:]) == ["007,red,no", "1.50,NA,yes", "2e3,,yes", "3,blue,no"]


def test_quoted_values_with_commas_and_line_breaks_survive_the_split(tmp_path):
    raw = 'note,label\n"one, two",yes\n"three\nfour",no\nfive,yes\n"six ""6""",no\n'
    write(tmp_path / "raw.csv", raw)
    train, test = tmp_path / "train.csv", tmp_path / "test.csv"
    split_csv(tmp_path / "raw.csv", train, test, HALF, "classification")
    notes = pd.concat([pd.read_csv(train), pd.read_csv(test)])["note"]
    assert sorted(notes) == ["five", "one, two", 'six "6"', "three\nfour"]


def test_class_codes_follow_the_sorted_labels_numbers_as_numbers(tmp_path):
    write(tmp_path / "raw.csv", "label\n10\n9\n\n10\n2\n")
    labels = read_text_table(tmp_path / "raw.csv")["label"]
    assert class_codes(labels).tolist() == [2, 1, 2, 0], "9 < 10 as numbers, not as text"
    write(tmp_path / "raw.csv", "label\nb\na\n\nc\n")
    assert class_codes(read_text_table(tmp_path / "raw.csv")["label"]).tolist() == [1, 0, 2]


def test_rows_are_counted_as_csv_rows_not_lines(tmp_path):
    write(tmp_path / "raw.csv", 'note,label\n"a\nb",1\nc,0\n')
    assert count_rows(tmp_path / "raw.csv") == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "is empty"),
        ("x,label\n\xe9,1\n".encode("latin-1"), "not UTF-8"),
        (b"x,y\n1,2\n", "'label' not found"),
    ],
)
def test_unreadable_raw_files_are_named_with_the_problem(tmp_path, content, message):
    (tmp_path / "raw.csv").write_bytes(content)
    with pytest.raises((ValueError, KeyError), match=message):
        split_csv(tmp_path / "raw.csv", tmp_path / "a.csv", tmp_path / "b.csv", CONFIG, "classification")


def test_a_missing_raw_file_says_where_to_put_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="copy your data there"):
        split_csv(tmp_path / "raw.csv", tmp_path / "a.csv", tmp_path / "b.csv", CONFIG, "classification")


def test_a_split_read_in_chunks_holds_what_one_read_of_the_file_gives(tmp_path):
    rows = ["n,x,c,m"] + [f"{i},{i / 4},{'ab'[i % 2]},{i}" for i in range(7)]
    rows[5] = "4,1.0,,4"  # text missing in the second chunk
    rows[6] = ",1.25,a,x5"  # a gap turns whole numbers into floats; text after numbers in column m
    write(tmp_path / "split.csv", "\n".join(rows) + "\n")
    whole = pd.read_csv(tmp_path / "split.csv")

    chunked = read_frame(tmp_path / "split.csv", chunk=3)

    assert list(chunked.columns) == list(whole.columns)
    assert chunked["n"].dtype == whole["n"].dtype == np.float64
    assert isinstance(chunked["c"].dtype, pd.CategoricalDtype), "text is held as a categorical"
    for name in whole.columns:  # column m: numbers, then text, as pandas' own chunked parser gives it
        assert texts(chunked[name]) == texts(whole[name]), name
    labels = features_and_target(chunked, "c")[1]  # a text label column: its values, not a categorical
    assert not isinstance(labels.dtype, pd.CategoricalDtype)
    assert texts(labels) == texts(whole["c"])


def test_columns_named_as_text_keep_their_text_in_every_chunk(tmp_path):
    write(tmp_path / "split.csv", "code,n\n01,1\n02,2\nab,3\n,4\n")  # a chunk of codes looks numeric

    chunked = read_frame(tmp_path / "split.csv", chunk=2, text=["code"])

    assert texts(chunked["code"]) == ["01", "02", "ab", None]
    assert isinstance(chunked["code"].dtype, pd.CategoricalDtype)
    assert texts(read_frame(tmp_path / "split.csv", chunk=2)["code"]) == ["1", "2", "ab", None], (
        "without the name, a chunk of codes reads as numbers (what `text` is for)"
    )


def texts(values: pd.Series) -> list[str | None]:
    return [None if pd.isna(value) else str(value) for value in values]
