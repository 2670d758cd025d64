"""Benchmark ``build_features`` against hand-written pandas equivalents.

Run::

    python benchmarks/bench_features.py [--bars 1000000] [--no-write]

* Data: ``simulate_market`` 5m bars (random-walk fallback if the simulator is
  unavailable), generated outside the timed region.
* perpml: wall time of ``build_features`` (all features), best of 3.
* Peak memory: resident set size (RSS) sampled from ``/proc/self/statm`` every 2 ms by
  a background thread during the first build, minus the RSS just before it. This
  includes numba/TA-Lib allocations that ``tracemalloc`` cannot see.
* pandas: a representative subset of the same indicators written the way a user
  would without perpml (``rolling``/``ewm``/``shift``), best of 3, then scaled per
  feature to the full feature count (stated in the table).

The table is printed and written to BENCHMARKS.md under "## Feature engine".
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import os
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _common import machine, write_section

from perpml.features import build_features, list_features

ROOT = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * PAGE


class _PeakRss:
    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()

    def __enter__(self) -> _PeakRss:
        self.base = _rss()
        self.peak = self.base
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss())
            time.sleep(0.002)

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def make_market(n_bars: int) -> tuple[pd.DataFrame, str]:
    try:
        from perpml.data.sources.synthetic import simulate_market

        days = n_bars * 5 / 1440 + 1
        frame = simulate_market(days=days, interval="5m", seed=7).frame.iloc[:n_bars]
        return frame, "simulate_market (5m)"
    except ImportError:
        import sys

        sys.path.insert(0, str(ROOT / "tests"))
        from strategies import random_walk_market

        return random_walk_market(n_bars, seed=7), "random walk (5m)"


def pandas_equivalents(m: pd.DataFrame) -> pd.DataFrame:
    """Hand-written pandas versions of a representative subset of the features."""
    out: dict[str, pd.Series] = {}
    close, high, low = m["close"], m["high"], m["low"]
    logc = np.log(close)
    ret = logc.diff()
    for w in (1, 2, 3, 6, 12, 24, 48, 96, 288):
        out[f"price_logret_{w}"] = logc - logc.shift(w)
    for w in (12, 48, 288):
        hi, lo = high.rolling(w).max(), low.rolling(w).min()
        out[f"price_range_pos_{w}"] = (close - lo) / (hi - lo)
    for w in (48, 288):
        r = ret.rolling(w)
        out[f"price_ret_zscore_{w}"] = (ret - r.mean()) / r.std()
    for w in (10, 20, 50, 100, 200):
        out[f"trend_sma_dist_{w}"] = close / close.rolling(w).mean() - 1
    for w in (12, 26, 50, 100, 200):
        out[f"trend_ema_dist_{w}"] = close / close.ewm(span=w, adjust=False).mean() - 1
    for w in (7, 14, 28):
        delta = close.diff()
        up = delta.clip(lower=0).ewm(alpha=1 / w, adjust=False).mean()
        down = (-delta.clip(upper=0)).ewm(alpha=1 / w, adjust=False).mean()
        out[f"mom_rsi_{w}"] = 100 - 100 / (1 + up / down)
    for w in (14, 28):
        hh, ll = high.rolling(w).max(), low.rolling(w).min()
        out[f"mom_willr_{w}"] = -100 * (hh - close) / (hh - ll)
    for w in (12, 24, 48, 96, 288):
        out[f"vola_realized_{w}"] = ret.rolling(w).std()
    prev = close.shift(1)
    tr = pd.concat([high - low, (high - prev).abs(), (low - prev).abs()], axis=1).max(
        axis=1
    )
    for w in (14, 28):
        out[f"vola_natr_{w}"] = 100 * tr.ewm(alpha=1 / w, adjust=False).mean() / close
    for w in (20, 50):
        r = close.rolling(w)
        mid, sd = r.mean(), r.std(ddof=0)
        out[f"vola_bb_pctb_{w}"] = (close - (mid - 2 * sd)) / (4 * sd)
        out[f"vola_bb_width_{w}"] = 4 * sd / mid
    vol, tb = m["volume"], m["taker_buy_volume"]
    for w in (12, 48, 288):
        out[f"volume_rel_{w}"] = np.log(vol / vol.rolling(w).mean())
        s_tb, s_v = tb.rolling(w).sum(), vol.rolling(w).sum()
        out[f"volume_taker_imbalance_{w}"] = (2 * s_tb - s_v) / s_v
    oi = np.log(m["open_interest"])
    for w in (1, 3, 12, 48, 96, 288):
        out[f"oi_change_{w}"] = oi - oi.shift(w)
    for w in (96, 288, 864):
        r = m["open_interest"].rolling(w)
        out[f"oi_zscore_{w}"] = (m["open_interest"] - r.mean()) / r.std()
    fr = m["funding_rate"]
    for w in (288, 864, 1440):
        r = fr.rolling(w)
        out[f"funding_zscore_{w}"] = (fr - r.mean()) / r.std()
    prem = m["mark_price"] / m["index_price"] - 1
    for w in (96, 288):
        r = prem.rolling(w)
        out[f"funding_premium_zscore_{w}"] = (prem - r.mean()) / r.std()
    for name in ("long_short_ratio", "top_trader_long_short_ratio"):
        lr = np.log(m[name])
        for w in (96, 288):
            r = lr.rolling(w)
            out[f"pos_{name}_zscore_{w}"] = (lr - r.mean()) / r.std()
    hour = m.index.hour + m.index.minute / 60
    out["time_hour_sin"] = pd.Series(np.sin(2 * np.pi * hour / 24), index=m.index)
    out["time_hour_cos"] = pd.Series(np.cos(2 * np.pi * hour / 24), index=m.index)
    doi, dpx = oi.diff(12), logc.diff(12)
    out["ix_new_longs_12"] = doi.abs().where((doi > 0) & (dpx > 0), 0.0)
    out["ix_new_shorts_12"] = doi.abs().where((doi > 0) & (dpx < 0), 0.0)
    return pd.DataFrame(out).astype("float32")


def best_of(fn, repeat: int = 3) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        del result
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=1_000_000)
    parser.add_argument("--no-write", action="store_true", help="only print the table")
    args = parser.parse_args()

    market, source = make_market(args.bars)
    build_features(market.iloc[:2_000])  # JIT/caches warm, outside the timed region
    n_features = len(list_features())
    gc.collect()
    with _PeakRss() as mem:
        first = build_features(market)
    n_built = first.shape[1]
    out_bytes = first.to_numpy().nbytes
    del first
    perpml_s = best_of(lambda: build_features(market))
    perpml_1 = best_of(lambda: build_features(market, n_jobs=1), repeat=1)
    subset = pandas_equivalents(market.iloc[:1000]).shape[1]
    pandas_s = best_of(lambda: pandas_equivalents(market))
    scaled = pandas_s / subset * n_built
    peak = mem.peak - mem.base
    load = os.getloadavg()[0]
    rows = [
        ("bars", f"{len(market):,} ({source})"),
        ("features built", f"{n_built} of {n_features} registered"),
        ("perpml `build_features`, 2 threads (best of 3)", f"{perpml_s:.2f} s"),
        ("perpml `build_features`, 1 thread (1 run)", f"{perpml_1:.2f} s"),
        ("per feature", f"{perpml_s / n_built * 1e3:.1f} ms"),
        ("float32 output", f"{out_bytes / 2**20:,.0f} MiB"),
        (
            "peak RSS over baseline (first build, sampled every 2 ms)",
            f"{peak / 2**20:,.0f} MiB = {peak / out_bytes:.2f} x output",
        ),
        (f"pandas hand-written, {subset} features (best of 3)", f"{pandas_s:.2f} s"),
        (
            f"pandas scaled per feature to {n_built}",
            f"{scaled:.2f} s ({scaled / perpml_s:.1f} x perpml)",
        ),
        ("targets", "<= 2 s and <= 2 x output peak"),
        ("1-min load average during run", f"{load:.1f}"),
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    table = "\n".join(
        ["| measure | value |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]
    )
    section = (
        "## Feature engine\n\n"
        f"`python benchmarks/bench_features.py --bars {args.bars}` on {machine()}, "
        f"{stamp}. Wall times grow with other load on the machine: the 1-minute load "
        "average during the run is the last row.\n\n"
        f"{table}\n"
    )
    print(section)
    if not args.no_write:
        write_section("Feature engine", section)


if __name__ == "__main__":
    main()
