"""``perpml serve-features`` and ``perpml signal``: the online feature store."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from perpml.cli._app import app, console, err_console, escape, fail
from perpml.data.loading import check_symbol
from perpml.exceptions import ConfigError, PerpmlError

RunOpt = Annotated[
    Path,
    typer.Option(
        "--run", help="Run directory from `perpml run` (its models/features)."
    ),
]
StoreSymbolOpt = Annotated[
    str | None,
    typer.Option(help="Exchange symbol, e.g. BTCUSDT (default: the run's symbol)."),
]
RedisUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--redis-url",
        help="Redis URL (default $PERPML_REDIS_URL or redis://127.0.0.1:6379/0).",
    ),
]


@app.command("serve-features")
def serve_features(
    run: RunOpt,
    symbol: StoreSymbolOpt = None,
    source: Annotated[
        str,
        typer.Option(
            help="Where bars come from: 'synthetic' (the simulator, replayed at "
            "--speed) or 'file' (a --path file being appended to)."
        ),
    ] = "synthetic",
    path: Annotated[
        list[Path] | None,
        typer.Option("--path", help="Market file(s) for --source file (repeat)."),
    ] = None,
    speed: Annotated[
        float,
        typer.Option(
            help="Simulator replay speed: 1 = one bar per interval of wall time, "
            "60 = sixty times faster, 0 = no waiting."
        ),
    ] = 1.0,
    bars: Annotated[
        int | None,
        typer.Option(
            help="Stop after this many new bars (simulator default 288, file: "
            "run until interrupted)."
        ),
    ] = None,
    poll: Annotated[
        float, typer.Option(help="Seconds between checks of a --source file.")
    ] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Simulator seed.")] = None,
    once: Annotated[
        bool,
        typer.Option("--once", help="Write the newest bar's vector and exit."),
    ] = False,
    redis_url: RedisUrlOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No per-bar lines.")
    ] = False,
) -> None:
    """Keep Redis up to date with the newest bar's features for a run's models.

    Features of each new bar are computed incrementally from the trailing window the
    feature warm-ups need (not from all history) and committed atomically, with the
    rolling window an LSTM reads, under the run's feature_set_id.
    """
    from perpml.store.online import OnlineStore
    from perpml.store.run_spec import ServingRun
    from perpml.store.serve import (
        AppendedFile,
        MarketFeed,
        ServedBar,
        SimulatorReplay,
        history_bars,
    )
    from perpml.store.serve import serve_features as serve

    def report(bar: ServedBar) -> None:
        if not quiet:
            console.print(
                f"{escape(chosen)} {bar.timestamp.isoformat()}: features "
                f"{bar.feature_seconds * 1e3:.1f} ms, Redis "
                f"{bar.write_seconds * 1e3:.1f} ms"
            )

    try:
        spec = ServingRun.from_run_dir(run)
        chosen = check_symbol(symbol or spec.symbol)
        online = OnlineStore(redis_url)
        online.ping()
        feed: MarketFeed
        if source == "synthetic":
            if path:
                raise ConfigError(
                    "--path names files, but --source is 'synthetic': pass --source "
                    "file with --path."
                )
            feed = SimulatorReplay(
                chosen,
                spec.interval,
                history_bars=history_bars(spec),
                bars=0 if once else (288 if bars is None else bars),
                speed=speed,
                seed=spec.config.data.seed if seed is None else seed,
            )
        elif source == "file":
            data = spec.config.data
            feed = AppendedFile(
                list(path or []),
                symbol=chosen,
                interval=spec.interval,
                poll=poll,
                load_options={
                    "funding_rate_scale": data.funding_rate_scale,
                    "drop_last_bar": data.drop_last_bar,
                    "gaps": data.gaps,
                    "max_gap": data.max_gap,
                },
            )
        else:
            raise ConfigError(
                f"--source must be 'synthetic' or 'file', got {source!r}."
            )
        written = serve(
            spec, feed, online, symbol=chosen, once=once, max_bars=bars, on_write=report
        )
    except PerpmlError as exc:
        fail(exc)
        return
    except KeyboardInterrupt:  # pragma: no cover - interactive stop
        err_console.print("stopped")
        raise typer.Exit(code=130) from None
    console.print(
        f"Wrote {written} vector(s) of feature set {spec.feature_set_id} for "
        f"{escape(chosen)} {spec.interval} to {escape(online.url)}."
    )


@app.command()
def signal(
    run: RunOpt,
    symbol: StoreSymbolOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object (for machines).")
    ] = False,
    redis_url: RedisUrlOpt = None,
) -> None:
    """Print the run's trading decision for the newest feature vector in Redis.

    Refuses (exit status 2) when Redis holds another feature set than the model
    reads, or when the newest vector is older than one bar.
    """
    from perpml.store.signal import SIGNAL_NAMES, SignalService

    try:
        chosen = check_symbol(symbol) if symbol else None
        service = SignalService(run, redis_url=redis_url)
        chosen = chosen or service.run.symbol
        decision = service.decide(chosen)
    except PerpmlError as exc:
        fail(exc)
        return
    code = int(decision["signal"][0])
    payload = {
        "symbol": chosen,
        "interval": service.run.interval,
        "timestamp": decision["timestamp"].isoformat(),
        "signal": code,
        "signal_name": SIGNAL_NAMES[code],
        "confidence": float(decision["confidence"][0]),
        "target": float(decision["target"][0]),
        "feature_set_id": decision["feature_set_id"],
    }
    if as_json:
        typer.echo(json.dumps(payload))
        return
    console.print(
        f"{escape(chosen)} {payload['interval']} bar {payload['timestamp']}: "
        f"[bold]{payload['signal_name']}[/] (signal {code}), confidence "
        f"{payload['confidence']:.1%}, target {payload['target']:+.5f} (forward log "
        f"return), feature set {payload['feature_set_id']}"
    )
