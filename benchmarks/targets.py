"""The product's targets checked against a run's results: PASS, FAIL, or SKIP when a figure was not measured.
Limits are what the product promises; they are never adjusted to a run."""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.modes import Mode
from benchmarks.open_set import EVERYDAY, HELD_OUT, OFFICIAL


@dataclass(frozen=True)
class Check:
    target: str
    value: float | None
    limit: float | None
    unit: str  # "ms", "s", "acc" (a share), "auroc", "x" (a ratio)
    at_least: bool  # True: the value must reach the limit; False: stay under it
    note: str = ""


def dig(tree: dict, *keys: str):
    for key in keys:
        if not isinstance(tree, dict) or key not in tree:
            return None
        tree = tree[key]
    return tree


def speed_and_training_checks(results: dict, indicative: str) -> list[Check]:
    scratch_base = dig(results, "training", "scratch", "baselines", "course_recipe", "test_accuracy")
    return [
        Check("transfer p50 per photo <= 30 ms", dig(results, "speed", "transfer", "threads_default", "latency_ms", "p50"), 30, "ms", False),
        Check("scratch p50 per photo <= 10 ms", dig(results, "speed", "scratch", "threads_default", "latency_ms", "p50"), 10, "ms", False),
        Check(
            "scratch test accuracy >= course recipe CNN + 15 points",
            dig(results, "training", "scratch", "ours", "test_accuracy"),
            None if scratch_base is None else round(scratch_base + 0.15, 4),
            "acc", True, indicative,
        ),
        # Issue 11 gave the transfer script 5 minutes (issue 3's 3 minutes predate the tuned convolution and Lite1).
        Check("transfer training (script wall time) <= 300 s", dig(results, "training", "transfer", "ours", "wall_seconds"), 300, "s", False, indicative),
        Check("scratch training (script wall time) <= 1800 s", dig(results, "training", "scratch", "ours", "wall_seconds"), 1800, "s", False, indicative),
        Check(
            "transfer test accuracy >= frozen-linear baseline",
            dig(results, "training", "transfer", "ours", "test_accuracy"),
            dig(results, "training", "transfer", "baselines", "frozen_linear", "test_accuracy"),
            "acc", True, indicative,
        ),
    ]


# tag_photos.py: the local engine keeps up with the predictor alone (decoding included), and memory stays flat.
TAGGING_SHARE_OF_PREDICTOR = 0.8
TAGGING_MEMORY_GROWTH = 1.2


def tagging_checks(results: dict, mode: Mode, indicative: str) -> list[Check]:
    short, long = mode.tagging_rss_files
    return [
        Check(
            f"tagging (local engine) >= {TAGGING_SHARE_OF_PREDICTOR:.0%} of the predictor's batched throughput",
            dig(results, "tagging", "local", "ratio_to_predictor"), TAGGING_SHARE_OF_PREDICTOR, "x", True, indicative,
        ),
        Check(
            f"tagging peak RSS, {long} files / {short} files <= {TAGGING_MEMORY_GROWTH}",
            dig(results, "tagging", "memory", "ratio_long_to_short"), TAGGING_MEMORY_GROWTH, "x", False, indicative,
        ),
    ]


# Per model: held-out AUROC, held-out landmark photos rejected, known test photos accepted, accuracy among them.
OPEN_SET_LIMITS = {"transfer": (0.97, 0.90, 0.95, 0.995), "scratch": (0.93, 0.75, 0.90, 0.97)}
EVERYDAY_REJECTED = 0.95


def open_set_checks(results: dict, indicative: str) -> list[Check]:
    """The shipped rule (outlier exposure x familiarity) of each model: transfer as the mean over its folds."""
    checks = []
    for name, (auroc, rejected, accepted, accuracy) in OPEN_SET_LIMITS.items():
        shipped = dig(results, "open_set", name, "approaches", "shipped") or {}
        note = indicative if name == "transfer" else ""  # quick and smoke modes train the transfer heads on fewer views

        def share(target: str, limit: float, *keys: str) -> Check:
            return Check(f"{name} open set: {target}", dig(shipped, *keys), limit, "acc", True, note)

        checks += [
            Check(f"{name} open set: held-out landmarks AUROC >= {auroc}", dig(shipped, "unknown", HELD_OUT, "auroc"), auroc, "auroc", True, note),
            share(f"held-out landmark photos rejected >= {rejected:.0%}", rejected, "unknown", HELD_OUT, "rejected"),
            share(f"known test photos accepted >= {accepted:.0%}", accepted, "known_accepted"),
            share(f"accuracy among accepted >= {accuracy:.1%}", accuracy, "accuracy_among_accepted"),
            share(f"everyday photos rejected >= {EVERYDAY_REJECTED:.0%}", EVERYDAY_REJECTED, "unknown", EVERYDAY, "rejected"),
            share("every official unknown sample rejected", 1.0, "unknown", OFFICIAL, "rejected"),
        ]
    return checks


# Teaching a landmark: seconds for 10 and 50 photos; at 10 photos, the taught landmark's test photos answered right,
# and what the other landmarks' accuracy and the unknown landmarks' rejection may lose.
TEACH_SECONDS = {10: 15, 50: 30}
TEACH_PHOTOS, TEACH_ACCURACY, TEACH_OTHERS_DROP, TEACH_REJECTION_DROP = 10, 0.90, 0.01, 0.03


def teaching_checks(results: dict, indicative: str) -> list[Check]:
    timed = {row["photos"]: row["seconds"] for row in dig(results, "teaching", "time") or []}
    point = next((row for row in dig(results, "teaching", "known", "curve") or [] if row["photos"] == TEACH_PHOTOS), {})
    return [
        *(Check(f"teaching from {count} photos <= {limit} s", timed.get(count), limit, "s", False, indicative) for count, limit in TEACH_SECONDS.items()),
        Check(f"taught landmark top-1 from {TEACH_PHOTOS} photos >= {TEACH_ACCURACY:.0%}", point.get("taught_accuracy"), TEACH_ACCURACY, "acc", True),
        Check(f"other landmarks' accuracy drop <= {TEACH_OTHERS_DROP:.0%}", point.get("others_accuracy_drop"), TEACH_OTHERS_DROP, "acc", False),
        Check(f"unknown-landmark rejection drop <= {TEACH_REJECTION_DROP:.0%}", point.get("unknown_rejected_drop"), TEACH_REJECTION_DROP, "acc", False),
    ]


def targets(results: dict, mode: Mode) -> list[dict]:
    indicative = "" if mode.name == "full" else f"{mode.name} mode: indicative only"
    rows = []
    checks = speed_and_training_checks(results, indicative) + tagging_checks(results, mode, indicative) + open_set_checks(results, indicative)
    for check in checks + teaching_checks(results, indicative):
        if check.value is None or check.limit is None:
            status = "SKIP"
        else:
            status = "PASS" if (check.value >= check.limit if check.at_least else check.value <= check.limit) else "FAIL"
        rows.append(
            {"target": check.target, "value": check.value, "limit": check.limit, "unit": check.unit, "status": status, "note": check.note or None}
        )
    return rows
