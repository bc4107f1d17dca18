"""Diagnostic: how much of the MLPerf Server error is where the submitter stopped?

    python benchmarks/accuracy/server_margin.py

`infersim validate` predicts an MLPerf Server row at the highest rate whose p99 TTFT and TPOT meet
the benchmark's limits (2 s, 200 ms). Submitters stop short of those limits: the p99 TPOT their
run measured (in each row's notes) is 61-99 % of 200 ms. This script puts each deployment at the
rate where the model's p99 TPOT equals the *measured* p99 instead, and prints the error of the mean
TPOT, mean TTFT and throughput there. It reads a measured value (the p99), so it is a diagnostic of
the serving model's shape, not a prediction, and nothing here feeds the calibration.
"""

from __future__ import annotations

import re
from pathlib import Path

from infersim.specs.library import Library
from infersim.accuracy.predict import Skip, _serving_model, plan_row, read_rows

DATA = Path(__file__).resolve().parent / "calibration.csv"
P99 = re.compile(r"p99 ([0-9.]+) ms")


def main() -> None:
    lib = Library()
    df = read_rows(DATA).table
    print(f"{'id':8s} {'hardware':16s} {'chips':>5s} {'model':12s} {'p99 TPOT ms':>11s} "
          f"{'TPOT error':>10s} {'TTFT error':>10s} {'tok/s error':>11s}")
    for row in df[(df["mode"] == "server") & (df["metric"] == "tpot_ms")].to_dict("records"):
        p99 = P99.search(str(row["notes"]))
        same_run = df[df["source"] == row["source"]].set_index("metric")["value"]
        if p99 is None or "ttft_ms" not in same_run or "system_output_tokens_per_s" not in same_run:
            print(f"{row['id']:8s} skipped: no measured p99 TPOT, TTFT or throughput for this run")
            continue
        try:
            plan = plan_row(lib, row)
            model = _serving_model(plan, plan.chip)
            rate = model.goodput_per_s(plan.ttft_limit_s, float(p99.group(1)) / 1e3)
        except Skip as exc:
            print(f"{row['id']:8s} skipped: {exc}")
            continue
        if rate <= 0:
            print(f"{row['id']:8s} skipped: no rate meets the measured p99 TPOT on {plan.mapping.label}")
            continue
        at = model.at_rate(rate)

        def err(predicted: float, measured: float) -> str:
            return f"{100 * (predicted / measured - 1):+.1f}%"

        print(f"{row['id']:8s} {row['hardware']:16s} {row['num_chips']:>5.0f} {row['model'][:12]:12s} "
              f"{float(p99.group(1)):>11.0f} {err(at.tpot_mean_s * 1e3, row['value']):>10s} "
              f"{err(at.ttft_mean_s * 1e3, same_run['ttft_ms']):>10s} "
              f"{err(at.output_tokens_per_s, same_run['system_output_tokens_per_s']):>11s}")


if __name__ == "__main__":
    main()
