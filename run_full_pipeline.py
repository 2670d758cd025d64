#!/usr/bin/env python
"""The seed's end-to-end command, kept for compatibility.

    python run_full_pipeline.py --symbol BTCUSDT --days 60 --features 50 --mock

``--mock`` runs on the offline market simulator. Any ``perpml run`` option works too
(``--out``, ``--config``, ``--quiet``, ...); see ``perpml run --help``.
"""

from perpml.cli import seed_main

if __name__ == "__main__":
    seed_main()
