"""Decontamination at scale: 200,000 training rows against 10,000 evaluation items (issue 25's goal: <= 60 s
and <= 2 GB of extra memory on 2 cores).

    python benchmarks/decontamination.py [--rows 200000 --items 10000 --repeats 1]

Data, made here, seeded: training rows of 60-140 words and test items of 25-60 words, drawn from a
30,000-word vocabulary with Zipf frequencies (natural text's shape: common words recur everywhere, so
n-grams made only of them do too), each row opening with one of 20 prompt templates; 100 items are planted in
the training rows (50 verbatim, 50 inside a longer row). Cases, each in a fresh process:
- `index`: the n-gram index and the two passes of `contaminating_rows` over the row texts, in memory;
- `command`: `harness contamination` on a recipe of one jsonl source and one `file` suite: reading,
  checking every row (`check_source`), the clusters and the decontamination, as `harness run` does it.
Extra memory is the peak RSS minus the RSS after the data is in memory (`index`), or the peak RSS minus a
bare `harness --help` process (`command`). Both cases check that exactly the planted items are found.
"""

from __future__ import annotations

import itertools
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import case_parser, emit, run_case, save, table

PLANTED = 100


def make_data(rows: int, items: int, seed: int = 0) -> tuple[list[str], list[tuple[str, str]], set[str]]:
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(30_000)]
    cumulative = list(itertools.accumulate(1 / (rank + 1) for rank in range(len(vocabulary))))

    def text(low: int, high: int) -> str:
        return " ".join(rng.choices(vocabulary, cum_weights=cumulative, k=rng.randint(low, high)))

    templates = [text(6, 12) for _ in range(20)]
    tests = [(f"item-{i}", f"{rng.choice(templates)}. {text(25, 60)}") for i in range(items)]
    training = [f"{rng.choice(templates)}. {text(60, 140)}" for _ in range(rows)]
    planted = rng.sample(range(items), PLANTED)
    for number, (item, row) in enumerate(zip(planted, rng.sample(range(rows), PLANTED), strict=True)):
        body = tests[item][1]
        training[row] = body if number % 2 else f"{text(20, 40)} {body} {text(20, 40)}"
    return training, tests, {tests[i][0] for i in planted}


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def case_index(rows: int, items: int) -> dict:
    from harness.generalization.contamination import NgramIndex, contaminating_rows

    training, tests, planted = make_data(rows, items)
    before = rss_mib()
    started = time.perf_counter()
    index = NgramIndex(8, 0.5)
    for item_id, text in tests:
        index.add("suite", item_id, text)
    found = contaminating_rows(index, training, boilerplate_rows=10)
    seconds = time.perf_counter() - started
    hits = {index.items[number][1] for items_found in found.values() for number in items_found}
    return {"seconds": round(seconds, 2), "extra_mib": round(rss_mib() - before, 1), "exact": hits == planted}


def case_command(rows: int, items: int) -> dict:
    training, tests, planted = make_data(rows, items)
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        with (root / "train.jsonl").open("w") as handle:
            for number, text in enumerate(training):
                handle.write(json.dumps({"prompt": text, "completion": f"answer {number}"}) + "\n")
        with (root / "test.jsonl").open("w") as handle:
            for item_id, text in tests:
                handle.write(json.dumps({"id": item_id, "prompt": text, "reference": "x"}) + "\n")
        recipe = {
            "name": "decontamination-bench",
            "mode": "instruct",
            "data": {"sources": [{"path": "train.jsonl", "cluster": "misc"}]},
            "eval": {"suites": [{"suite": "file", "path": "test.jsonl", "options": {"scorer": "exact"}}]},
        }
        (root / "recipe.yaml").write_text(json.dumps(recipe))
        bare = _peak_mib([sys.executable, "-m", "harness.cli", "--help"], root)
        started = time.perf_counter()
        command = [sys.executable, "-m", "harness.cli", "contamination", "recipe.yaml", "-o", "out.json"]
        peak = _peak_mib(command, root)
        seconds = time.perf_counter() - started
        found = set(json.loads((root / "out.json").read_text())["suites"]["file"]["contaminated"])
    return {"seconds": round(seconds, 2), "extra_mib": round(peak - bare, 1), "exact": found == planted}


def _peak_mib(command: list[str], folder: Path) -> float:
    """Peak RSS of a child process (GNU time's %M), in MiB."""
    result = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command], cwd=folder, capture_output=True, text=True, check=True
    )
    return int(result.stderr.strip().splitlines()[-1]) / 1024


def main() -> None:
    parser = case_parser(__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    cases = {"index": case_index, "command": case_command}
    if args.case:
        emit(cases[args.case](args.rows, args.items))
        return
    results = {}
    for name in cases:
        runs = [
            run_case(__file__, name, "--rows", str(args.rows), "--items", str(args.items)) for _ in range(args.repeats)
        ]
        results[name] = {"runs": runs, "median_s": sorted(r["seconds"] for r in runs)[len(runs) // 2]}
    rows = [
        [name, f"{r['median_s']:.1f} s", f"{max(run['extra_mib'] for run in r['runs']):.0f} MiB", r["runs"][0]["exact"]]
        for name, r in results.items()
    ]
    print(table(["case", "time (median)", "extra memory (max)", "exactly the planted items"], rows))
    print(f"\nwritten: {save('decontamination', {'rows': args.rows, 'items': args.items, 'cases': results})}")


if __name__ == "__main__":
    main()
