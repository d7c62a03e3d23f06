"""Summarise py-spy raw (collapsed) stacks: share of samples per thread, per function
(inclusive, AstroLens and its main libraries) and self time.

    python benchmarks/profiles/summarise_pyspy.py scan.collapsed[.gz]
"""

from __future__ import annotations

import collections
import gzip
import re
import sys

LIBS = ("astrolens", "onnx", "PIL", "sqlite", "peewee", "numpy", "imagehash", "hashlib")


def main(path: str) -> None:
    total = 0
    by_thread: collections.Counter[str] = collections.Counter()
    self_fn: collections.Counter[str] = collections.Counter()
    incl: collections.Counter[str] = collections.Counter()
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt") as handle:
        for raw in handle:
            line = raw.rstrip("\n")
            if not line:
                continue
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            frames = stack.split(";")
            by_thread[frames[0]] += n
            self_fn[frames[-1]] += n
            # Inclusive time counts a function once per stack (recursion), any line.
            for name in {re.sub(r":\d+\)$", ")", f) for f in frames[1:]}:
                incl[name] += n
    print("total samples", total)
    for thread, n in by_thread.most_common(8):
        print(f"{n / total:6.1%} thread {thread}")
    print("--- inclusive (top)")
    for name, n in incl.most_common(60):
        if any(k in name for k in LIBS):
            print(f"{n / total:6.1%} {name}")
    print("--- self")
    for name, n in self_fn.most_common(25):
        print(f"{n / total:6.1%} {name}")


if __name__ == "__main__":
    main(sys.argv[1])
