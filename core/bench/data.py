"""How fast a dataset loads, converts and checks (python -m core bench data)."""
from __future__ import annotations

import argparse
import time

from .common import dataset_source, emit


def bench_data(args: argparse.Namespace) -> None:
    from core.data import check_dataset, load_rows

    name, dataset_dir = dataset_source(args)
    start = time.perf_counter()
    rows = load_rows(name, dataset_dir, "dpo")
    loaded = time.perf_counter() - start
    start = time.perf_counter()
    report = check_dataset(name, dataset_dir, "dpo")
    checked = time.perf_counter() - start
    emit("data", dataset=name, records=rows.total, load_s=round(loaded, 4),
         check_s=round(checked, 4), records_per_s=round(rows.total / max(loaded, 1e-9)),
         ok=report.ok)
