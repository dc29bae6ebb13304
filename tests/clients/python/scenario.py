"""What both Python client scripts share: their arguments, the scenario's sizes, a bounded
phase that turns an exception into a one-line FAIL, and the check of what was read back."""

import sys
import time
import traceback
from collections import Counter, defaultdict
from contextlib import contextmanager

MESSAGES = 5000
PARTITIONS = 3
# Each phase (create, produce, consume) is bounded by this many seconds; the Rust test
# kills the whole script a little later.
PHASE_SECONDS = 60


def args():
    """(idempotent: bool, bootstrap, topic) from `idempotent|plain BOOTSTRAP TOPIC`."""
    if len(sys.argv) != 4 or sys.argv[1] not in ("idempotent", "plain"):
        sys.exit(f"usage: {sys.argv[0]} idempotent|plain BOOTSTRAP TOPIC")
    return sys.argv[1] == "idempotent", sys.argv[2], sys.argv[3]


@contextmanager
def phase(name):
    """Prints how long `name` took; an exception in it prints FAIL with the client's error and
    exits 1 (the traceback goes to stderr)."""
    start = time.monotonic()
    try:
        yield
    except Exception as e:  # the client's own error is the report
        traceback.print_exc()
        print(f"FAIL while {name}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
    print(f"{name}: {time.monotonic() - start:.1f}s", flush=True)


def check(records):
    """`records`: (partition, offset, value bytes) as read. Prints a report and exits: 0 when every
    id 0..MESSAGES-1 was read exactly once and each partition holds offsets 0..n-1 once each."""
    problems = []
    offsets = defaultdict(list)
    for partition, offset, _ in records:
        offsets[partition].append(offset)
    for partition in range(PARTITIONS):
        seen = sorted(offsets.pop(partition, []))
        n = len(seen)
        dups = sorted(o for o, c in Counter(seen).items() if c > 1)
        gaps = sorted(set(range(max(seen, default=-1) + 1)) - set(seen))
        print(f"partition {partition}: {n} records, offsets {seen[0] if seen else '-'}..{seen[-1] if seen else '-'}, "
              f"{len(gaps)} gaps, {len(dups)} duplicate offsets", flush=True)
        if n == 0:
            problems.append(f"partition {partition} is empty")
        if gaps:
            problems.append(f"partition {partition} misses offsets {gaps[:10]}")
        if dups:
            problems.append(f"partition {partition} repeats offsets {dups[:10]}")
    if offsets:
        problems.append(f"records from unexpected partitions {sorted(offsets)}")
    ids = Counter(value.decode(errors="replace") for _, _, value in records)
    expected = {str(i) for i in range(MESSAGES)}
    missing = sorted(expected - ids.keys(), key=int)
    repeated = sorted(i for i, c in ids.items() if c > 1)
    unknown = sorted(ids.keys() - expected)
    print(f"ids: {len(records)} records, {len(ids)} distinct, {len(missing)} missing, "
          f"{len(repeated)} repeated, {len(unknown)} unexpected", flush=True)
    if missing:
        problems.append(f"{len(missing)} ids never read, first {missing[:10]}")
    if repeated:
        problems.append(f"{len(repeated)} ids read more than once, first {repeated[:10]}")
    if unknown:
        problems.append(f"unexpected values {unknown[:10]}")
    for problem in problems:
        print(f"FAIL: {problem}", flush=True)
    if not problems:
        print(f"PASS: {MESSAGES} ids once each, offsets contiguous in {PARTITIONS} partitions",
              flush=True)
    sys.exit(1 if problems else 0)
