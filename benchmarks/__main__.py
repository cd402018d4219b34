"""Run every benchmark and print one table: ``python -m benchmarks [--quick] [--store sqlite]``."""

from __future__ import annotations

import argparse

from benchmarks import bench_ingest, bench_render, bench_segments
from benchmarks.harness import Result, print_table, save


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--store",
        action="append",
        choices=["sqlite", "postgresql"],
        help="run on this store only (repeatable); default both",
    )
    parser.add_argument("--quick", action="store_true", help="smaller workloads, for a smoke run")
    args = parser.parse_args()
    stores = tuple(args.store or ("sqlite", "postgresql"))
    results: list[Result] = []
    results += bench_ingest.run(stores, shoppers=300 if args.quick else 3000)
    results += bench_render.results()
    results += bench_segments.results(args.quick, stores)
    print_table(results)
    print(f"saved to {save(results)}")


if __name__ == "__main__":
    main()
