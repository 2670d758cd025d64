"""Bad input through the command line: every case gets a clear answer, no traceback.

Each case writes a small file, runs ``perpml validate`` on it and checks the exit
status (0 OK, 1 the data breaks the contract, 2 unreadable input or a bad option)
and the message. The table in docs/data.md lists these cases; keep both in step.
"""

from __future__ import annotations

import gzip
import io
import json
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from perpml.cli import app

from ._helpers import binance_klines

runner = CliRunner()

FIXTURES = Path(__file__).parent / "fixtures"


def _flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


def _csv(path: Path, frame: pd.DataFrame) -> Path:
    frame.to_csv(path, index=False)
    return path


def _klines(tmp: Path, name: str = "ETHUSDT-5m-2024-01.csv", **kw: object) -> Path:
    return _csv(tmp / name, binance_klines(**kw))  # type: ignore[arg-type]


def _funding(tmp: Path, rates: list[float], times: list[str] | None = None) -> Path:
    times = times or [f"2024-01-01 {h:02d}:00" for h in range(0, 8 * len(rates), 8)]
    stamps = pd.DatetimeIndex(times, tz="UTC").asi8 // 1_000_000
    return _csv(
        tmp / "ETHUSDT-fundingRate-2024-01.csv",
        pd.DataFrame(
            {"fundingTime": stamps, "fundingRate": rates, "symbol": "ETHUSDT"}
        ),
    )


# --- case builders: each returns the validate arguments ---------------------------


def good_file(tmp: Path) -> list[str]:
    return [str(_klines(tmp))]


def truncated_csv_gz(tmp: Path) -> list[str]:
    data = gzip.compress(binance_klines(400).to_csv(index=False).encode())
    path = tmp / "ETHUSDT-5m-2024-01.csv.gz"
    path.write_bytes(data[: len(data) // 2])
    return [str(path)]


def truncated_zip(tmp: Path) -> list[str]:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ETHUSDT-5m-2024-01.csv", binance_klines(400).to_csv())
    path = tmp / "ETHUSDT-5m-2024-01.zip"
    path.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    return [str(path)]


def days_inf(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), "--days", "inf"]


def close_time_stamped(tmp: Path) -> list[str]:
    # timestamp = open + 1h, close_time = the real close: the file is stamped by close.
    raw = binance_klines(48, freq="1h")
    raw["open_time"] += 3_600_000
    return [str(_csv(tmp / "ETHUSDT-1h-2024-01.csv", raw))]


def close_stamps_59_999(tmp: Path) -> list[str]:
    raw = binance_klines(48, freq="1h").drop(columns="close_time")
    raw["open_time"] += 3_600_000 - 1
    raw = raw.rename(columns={"open_time": "timestamp"})
    return [str(_csv(tmp / "ETHUSDT_1h.csv", raw))]


def funding_conflicting_repeat(tmp: Path) -> list[str]:
    times = ["2024-01-01 00:00", "2024-01-01 00:00"]
    return [str(_klines(tmp)), str(_funding(tmp, [1e-4, 3e-4], times))]


def funding_identical_repeat(tmp: Path) -> list[str]:
    times = ["2024-01-01 00:00", "2024-01-01 00:00"]
    return [str(_klines(tmp)), str(_funding(tmp, [1e-4, 1e-4], times))]


def metrics_conflicting_repeat(tmp: Path) -> list[str]:
    metrics = pd.read_csv(FIXTURES / "ETHUSDT-metrics-5m.csv").iloc[:3]
    metrics = pd.concat([metrics, metrics.iloc[[1]].assign(sum_open_interest=1.0)])
    return [
        str(FIXTURES / "ETHUSDT-5m-klines.csv"),
        str(_csv(tmp / "ETHUSDT-metrics-2024-01-01.csv", metrics)),
    ]


def kline_repeat_differs(tmp: Path) -> list[str]:
    raw = binance_klines(48)
    copy = raw.iloc[[10]].assign(close=raw["close"].iloc[10] + 1, high=3000.0)
    raw = pd.concat([raw.iloc[:11], copy, raw.iloc[11:]])
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def kline_repeat_identical(tmp: Path) -> list[str]:
    raw = binance_klines(48)
    raw = pd.concat([raw.iloc[:11], raw.iloc[[10]], raw.iloc[11:]])
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def funding_fifty(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), str(_funding(tmp, [50.0]))]


def funding_minus_1e6(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), str(_funding(tmp, [-1e6]))]


def price_jump(tmp: Path) -> list[str]:
    raw = binance_klines(48)
    for col in ("open", "high", "low", "close"):
        raw.loc[20, col] = raw.loc[20, col] * 1e6
    raw.loc[21, "open"] = raw.loc[20, "close"]
    raw.loc[21, "high"] = raw.loc[20, "close"]
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def zero_volume(tmp: Path) -> list[str]:
    raw = binance_klines(48)
    raw[["volume", "quote_volume", "taker_buy_volume", "taker_buy_quote_volume"]] = 0
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def zero_open_interest(tmp: Path) -> list[str]:
    metrics = pd.read_csv(FIXTURES / "ETHUSDT-metrics-5m.csv")
    metrics[["sum_open_interest", "sum_open_interest_value"]] = 0.0
    return [
        str(FIXTURES / "ETHUSDT-5m-klines.csv"),
        str(_csv(tmp / "ETHUSDT-metrics-2024-01-01.csv", metrics)),
    ]


def shuffled_rows(tmp: Path) -> list[str]:
    raw = binance_klines(48).sample(frac=1.0, random_state=np.random.default_rng(42))
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def two_symbols_column(tmp: Path) -> list[str]:
    eth = binance_klines(48).assign(symbol="ETHUSDT")
    btc = binance_klines(48, seed=7).assign(symbol="BTCUSDT")
    btc[["open", "high", "low", "close"]] *= 18
    raw = pd.concat([eth, btc]).sort_values("open_time", kind="stable")
    return [str(_csv(tmp / "klines.csv", raw))]


def two_series_interleaved(tmp: Path) -> list[str]:
    eth = binance_klines(48)
    btc = binance_klines(48, seed=7)
    btc[["open", "high", "low", "close"]] *= 18
    raw = pd.concat([eth, btc]).sort_values("open_time", kind="stable")
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def ms_read_as_seconds(tmp: Path) -> list[str]:
    raw = binance_klines(48).drop(columns="close_time")
    raw["open_time"] = np.arange(48) * 300_000  # ms since a start, not since 1970
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def seconds_read_as_ms(tmp: Path) -> list[str]:
    raw = binance_klines(48).drop(columns=["close_time", "ignore"])
    index = pd.to_datetime(raw.pop("open_time") // 1000, unit="ms", utc=True)
    raw = raw.rename(columns={"count": "trades"}).set_index(index.rename("timestamp"))
    path = tmp / "ETHUSDT.parquet"
    raw.to_parquet(path)
    return [str(path)]


def mixed_epoch_and_iso(tmp: Path) -> list[str]:
    raw = binance_klines(48).astype({"open_time": object})
    raw.loc[5, "open_time"] = "2024-01-01T00:25:00Z"
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def mixed_date_formats(tmp: Path) -> list[str]:
    raw = binance_klines(48).drop(columns="close_time")
    times = pd.to_datetime(raw.pop("open_time"), unit="ms")
    text = times.dt.strftime("%Y-%m-%d %H:%M:%S")
    text.iloc[30:] = times.iloc[30:].dt.strftime("%d/%m/%Y %H:%M")
    raw.insert(0, "timestamp", text)
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def gzip_named_csv(tmp: Path) -> list[str]:
    path = tmp / "ETHUSDT-5m-2024-01.csv"
    path.write_bytes(gzip.compress(binance_klines(48).to_csv(index=False).encode()))
    return [str(path)]


def semicolon_separated(tmp: Path) -> list[str]:
    path = tmp / "ETHUSDT-5m-2024-01.csv"
    binance_klines(48).to_csv(path, index=False, sep=";")
    return [str(path)]


def utf16_file(tmp: Path) -> list[str]:
    path = tmp / "ETHUSDT-5m-2024-01.csv"
    path.write_bytes(binance_klines(48).to_csv(index=False).encode("utf-16"))
    return [str(path)]


def parquet_named_csv(tmp: Path) -> list[str]:
    path = tmp / "ETHUSDT-5m-2024-01.csv"
    binance_klines(48).drop(columns="ignore").to_parquet(path)
    return [str(path)]


def empty_zip(tmp: Path) -> list[str]:
    path = tmp / "ETHUSDT-5m-2024-01.zip"
    with zipfile.ZipFile(path, "w"):
        pass
    return [str(path)]


def missing_time(tmp: Path) -> list[str]:
    raw = binance_klines(48).astype({"open_time": float})
    raw.loc[3, "open_time"] = np.nan
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


def no_symbol_anywhere(tmp: Path) -> list[str]:
    return [str(_klines(tmp, "klines.csv"))]


def symbol_contradicts(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), "--symbol", "BTCUSDT"]


def interval_contradicts(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), "--interval", "1h"]


def bad_symbol(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), "--symbol", "../../x"]


def missing_file(tmp: Path) -> list[str]:
    return [str(tmp / "nope.csv")]


def empty_window(tmp: Path) -> list[str]:
    return [str(_klines(tmp)), "--start", "2030-01-01"]


def gap_in_klines(tmp: Path) -> list[str]:
    raw = binance_klines(48).drop(index=range(10, 13))
    return [str(_csv(tmp / "ETHUSDT-5m-2024-01.csv", raw))]


CASES = [
    # (builder, exit code, pattern in the flattened output)
    pytest.param(good_file, 0, r"^OK symbol ETHUSDT \(from", id="good-file-defaults"),
    pytest.param(truncated_csv_gz, 2, "truncated or corrupt gzip file", id="truncated-csv-gz"),
    pytest.param(truncated_zip, 2, "truncated or corrupt zip file", id="truncated-zip"),
    pytest.param(days_inf, 2, r"\(--days\) must be a positive, finite", id="days-inf"),
    pytest.param(close_time_stamped, 1, r"close_time - open time must be 1h - 1 ms.*got -1 ms at row 0.*look like bar close times", id="close-time-stamped"),
    pytest.param(close_stamps_59_999, 1, r"times 1ms before a bar boundary.*bar close times", id="close-stamps-59-59-999"),
    pytest.param(funding_conflicting_repeat, 1, r"FAIL \(1 problem\).*\[duplicate\] column 'funding_rate'.*2024-01-01T00:00:00\+00:00: funding_rate 0.0001 vs 0.0003", id="funding-conflicting-repeat"),
    pytest.param(funding_identical_repeat, 0, "dropped 1 identical repeated row", id="funding-identical-repeat"),
    pytest.param(metrics_conflicting_repeat, 1, r"\[duplicate\] column 'open_interest'.*400010.0 vs 1.0", id="metrics-conflicting-repeat"),
    pytest.param(kline_repeat_differs, 1, "copies that differ", id="kline-repeat-differs"),
    pytest.param(kline_repeat_identical, 1, "every copy is identical", id="kline-repeat-identical"),
    pytest.param(funding_fifty, 1, r"\[implausible_funding\].*got 50.0", id="funding-50"),
    pytest.param(funding_minus_1e6, 1, r"\[implausible_funding\].*got -1000000.0", id="funding-minus-1e6"),
    pytest.param(price_jump, 1, r"FAIL \(1 problem\).*\[price_jump\]", id="price-jump-x1e6"),
    pytest.param(zero_volume, 0, "warning volume is zero on every bar", id="zero-volume"),
    pytest.param(zero_open_interest, 0, "warning open_interest is zero on every bar", id="zero-open-interest"),
    pytest.param(shuffled_rows, 1, r"FAIL \(1 problem\).*\[unsorted\].*Sort the file", id="shuffled-rows"),
    pytest.param(two_symbols_column, 2, "2 symbols .*BTCUSDT, ETHUSDT.*interleaved", id="two-symbols-column"),
    pytest.param(two_series_interleaved, 2, "several series .* interleaved", id="two-series-no-symbol-column"),
    pytest.param(ms_read_as_seconds, 2, "milliseconds read as seconds", id="ms-read-as-seconds"),
    pytest.param(seconds_read_as_ms, 2, "seconds read as milliseconds", id="seconds-read-as-ms"),
    pytest.param(mixed_epoch_and_iso, 2, "mixes epoch numbers .* and date strings", id="mixed-epoch-and-iso"),
    pytest.param(mixed_date_formats, 2, "mixes date formats", id="mixed-date-formats"),
    pytest.param(gzip_named_csv, 0, "is gzip although its name says plain CSV", id="gzip-named-csv"),
    pytest.param(semicolon_separated, 0, "semicolon-separated", id="semicolon-separated"),
    pytest.param(utf16_file, 2, "neither UTF-8 CSV nor a gzip/zip", id="not-utf8-data-file"),
    pytest.param(parquet_named_csv, 0, "is a Parquet file; read it as Parquet", id="parquet-named-csv"),
    pytest.param(empty_zip, 2, "holds no file", id="empty-zip"),
    pytest.param(missing_time, 2, r"1 row\(s\) have none \(an empty cell\), first at row 3", id="missing-time"),
    pytest.param(no_symbol_anywhere, 2, r"Cannot tell the symbol .* Pass --symbol", id="no-symbol-anywhere"),
    pytest.param(symbol_contradicts, 2, r"--symbol BTCUSDT .* was given, but .* holds ETHUSDT", id="symbol-contradicts"),
    pytest.param(interval_contradicts, 2, r"--interval 1h .* was given, but .* holds 5m", id="interval-contradicts"),
    pytest.param(bad_symbol, 2, "is not an exchange symbol", id="symbol-not-a-symbol"),
    pytest.param(missing_file, 2, "does not exist", id="missing-file"),
    pytest.param(empty_window, 2, "No bar of the data lies in the requested window", id="empty-window"),
    pytest.param(gap_in_klines, 1, r"\[gap\].*--gaps flat", id="gap-in-klines"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "code", "pattern"), CASES)
def test_validate_bad_input(
    tmp_path: Path, build: Callable[[Path], list[str]], code: int, pattern: str
) -> None:
    result = runner.invoke(app, ["validate", *build(tmp_path)])
    output = _flat(result.output)
    assert result.exit_code == code, output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in output
    import re

    assert re.search(pattern, output), output
    if code == 1:
        assert output.startswith("FAIL ("), output
    if code == 2:
        assert output.startswith("error: "), output


def test_validate_lists_every_contract_violation(tmp_path: Path) -> None:
    raw = binance_klines(48).drop(index=range(10, 13))
    raw.loc[30, "high"] = raw.loc[30, "low"] - 1
    path = _csv(tmp_path / "ETHUSDT-5m-2024-01.csv", raw)
    result = runner.invoke(app, ["validate", str(path)])
    output = _flat(result.output)
    assert result.exit_code == 1
    assert output.startswith("FAIL (2 problems)")
    assert "1. [gap]" in output and "2. [high_low]" in output


def test_validate_json(tmp_path: Path) -> None:
    result = runner.invoke(app, ["validate", str(_klines(tmp_path)), "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert payload["ok"] is True and payload["symbol"] == "ETHUSDT"
    assert payload["interval"] == "5m" and payload["n_rows"] == 47
    assert payload["resolved"]["symbol"] == "from ETHUSDT-5m-2024-01.csv"
    assert {f["feed"] for f in payload["feeds"]} >= {"taker flow", "trade count"}
    bad = runner.invoke(app, ["validate", *shuffled_rows(tmp_path), "--json"])
    assert bad.exit_code == 1
    payload = json.loads(bad.stdout)
    assert payload["ok"] is False
    assert [p["reason"] for p in payload["problems"]] == ["unsorted"]
    unreadable = runner.invoke(app, ["validate", *truncated_zip(tmp_path), "--json"])
    assert unreadable.exit_code == 2
    payload = json.loads(unreadable.stdout)
    assert payload["ok"] is False and payload["error"] == "DataFormatError"


def test_validate_data_options(tmp_path: Path) -> None:
    path = str(_klines(tmp_path, n=288))
    result = runner.invoke(
        app,
        ["validate", path, "--start", "2024-01-01 06:00", "--end", "2024-01-01 11:55"],
    )
    output = _flat(result.output)
    assert result.exit_code == 0, output
    assert "bars 72, 2024-01-01 06:00 to 2024-01-01 11:55" in output
    result = runner.invoke(app, ["validate", path, "--days", "0.5", "--keep-last-bar"])
    assert "bars 144, 2024-01-01 12:00 to 2024-01-01 23:55" in _flat(result.output)
    result = runner.invoke(
        app, ["validate", path, "--symbol", "ethusdt", "--interval", "5m"]
    )
    assert result.exit_code == 0 and "symbol ETHUSDT" in _flat(result.output)
    gap = gap_in_klines(tmp_path)
    result = runner.invoke(app, ["validate", *gap, "--gaps", "flat", "--max-gap", "3"])
    assert result.exit_code == 0 and "inserted 3" in _flat(result.output)
    result = runner.invoke(app, ["validate", *gap, "--gaps", "flat", "--max-gap", "2"])
    assert result.exit_code == 1, result.output
    assert "(--max-gap, config key [data] max_gap" in _flat(result.output)
    result = runner.invoke(app, ["validate", *gap, "--gaps", "drop_before"])
    assert result.exit_code == 0 and "bars 34," in _flat(result.output)


def test_validate_funding_rate_scale(tmp_path: Path) -> None:
    args = [str(_klines(tmp_path)), str(_funding(tmp_path, [1.0]))]  # 1 % as "1"
    result = runner.invoke(app, ["validate", *args])
    assert result.exit_code == 1 and "--funding-rate-scale 0.01" in _flat(result.output)
    result = runner.invoke(app, ["validate", *args, "--funding-rate-scale", "0.01"])
    output = _flat(result.output)
    assert result.exit_code == 0, output
    assert "warning median |funding_rate| is 0.01" in output


def test_config_file_not_utf8(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_bytes('[data]\nsymbol = "ETH\xe9"\n'.encode("latin-1"))
    result = runner.invoke(
        app, ["run", "--config", str(config), "--out", str(tmp_path / "r")]
    )
    output = _flat(result.output)
    assert result.exit_code == 2, output
    assert "is not UTF-8 text" in output and str(config.name) in output


def test_run_days_inf_is_a_clean_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "--mock", "--days", "inf", "--out", str(tmp_path / "r")]
    )
    output = _flat(result.output)
    assert result.exit_code == 2, output
    assert "must be a positive, finite" in output and "Traceback" not in output


@pytest.mark.parametrize(
    ("build", "pattern"),
    [
        pytest.param(shuffled_rows, r"\[unsorted\]", id="shuffled"),
        pytest.param(close_time_stamped, r"\[close_time\]", id="close-time"),
        pytest.param(truncated_zip, "truncated or corrupt zip", id="truncated-zip"),
    ],
)
def test_run_refuses_bad_files(
    tmp_path: Path, build: Callable[[Path], list[str]], pattern: str
) -> None:
    import re

    args = [a for arg in build(tmp_path) for a in ("--path", arg)]
    result = runner.invoke(
        app, ["run", *args, "--out", str(tmp_path / "run"), "--skip-lstm"]
    )
    output = _flat(result.output)
    assert result.exit_code == 2, output
    assert re.search(pattern, output), output
    assert "Traceback" not in output
