"""``perpml run --signal-strength``: bad values are clear errors, not tracebacks."""

from __future__ import annotations

from typer.testing import CliRunner

from perpml.cli import app

runner = CliRunner()


def test_negative_signal_strength_is_refused(tmp_path):
    result = runner.invoke(
        app, ["run", "--mock", "--signal-strength", "-1", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "signal_strength" in result.output and ">= 0" in result.output
    assert "Traceback" not in result.output


def test_signal_strength_only_on_the_simulator(tmp_path):
    kline = tmp_path / "BTCUSDT-5m-2024-01-01.csv"
    kline.write_text("open_time,open,high,low,close,volume\n", encoding="utf-8")
    result = runner.invoke(
        app,
        ["run", "--path", str(kline), "--signal-strength", "0",
         "--out", str(tmp_path / "r")],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "simulator only" in " ".join(result.output.split())
