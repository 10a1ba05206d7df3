"""The printed report: one table per measurement, then the targets. Reads only the results dict, so a
results.json can be printed again."""

from __future__ import annotations

import math
from typing import Callable, Sequence

from benchmarks.open_set import EVERYDAY, HELD_OUT, OFFICIAL
from benchmarks.shipped import MODELS
from benchmarks.speed import BATCH


def fmt(value, unit: str = "") -> str:
    if value is None:
        return "-"
    if unit == "acc":
        return f"{value:.1%}"
    if unit == "auroc":
        return f"{value:.3f}"
    if unit == "x":
        return f"{value:.2f}x"
    return f"{value:g}{unit}" if isinstance(value, (int, float)) else str(value)


def points(share: float) -> str:
    """A change of a share in percentage points; "-" when there was nothing to measure (NaN: no such photos)."""
    return "-" if math.isnan(share) else f"{share * 100:+.2f} pt"


def table(title: str, headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Aligned columns; a short row (a name and an error) runs on past the columns instead of widening them."""
    cells = [list(map(str, headers))] + [[str(cell) for cell in row] for row in rows]
    widths = [max(len(row[i]) for row in cells if len(row) == len(headers) or i == 0) for i in range(len(headers))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return f"\n## {title}\n" + "\n".join(lines)


def not_measured(title: str, result: dict) -> str | None:
    """The section's heading and why it has no figures (skipped, or the error that stopped it); None if it has."""
    if result.get("skipped"):
        return f"\n## {title}\nskipped ({result['skipped']})"
    if "error" in result:
        return f"\n## {title}\nERROR: {result['error']}"
    return None


def accuracy_section(shipped: dict) -> str:
    title = "Accuracy of the shipped predictors (photos of classes a model does not know are skipped)"
    if (note := not_measured(title, shipped)) is not None:
        return note
    rows = []
    for name, section in shipped.items():
        if "error" in section:
            rows.append([name, "", f"ERROR: {section['error']}"])
            continue
        for folder, result in section.items():
            if "error" in result:
                rows.append([name, folder, f"ERROR: {result['error']}"])
                continue
            skipped = ", ".join(f"{label} {count}" for label, count in result["skipped_classes"].items())
            rows.append([name, folder, result["n"], result["n_skipped"], fmt(result["accuracy"], "acc"), fmt(result["top3_accuracy"], "acc"), skipped])
    return table(title, ["model", "photos", "n", "skipped", "top-1", "top-3", "skipped classes"], rows) + per_class_table(shipped)


def per_class_table(shipped: dict) -> str:
    """Classes down, (model, photos) across: top-1 of each class the photos hold."""
    columns = {
        f"{name} {folder}": result["per_class_accuracy"]
        for name, section in shipped.items() if "error" not in section
        for folder, result in section.items() if "error" not in result
    }
    classes = list(dict.fromkeys(label for per_class in columns.values() for label in per_class))
    rows = [[label, *(fmt(per_class.get(label), "acc") for per_class in columns.values())] for label in classes]
    return table("Per-class top-1 of the shipped predictors", ["class", *columns], rows)


def training_section(training: dict) -> str:
    title = "Our recipes vs the course's (trained in this run on the same data, epochs budget and image size)"
    if (note := not_measured(title, training)) is not None:
        return note
    rows = []
    for name, section in training.items():
        baselines = section["baselines"]
        runs = {"ours": section["ours"]} | ({"baselines": baselines} if "error" in baselines else baselines)
        for label, result in runs.items():
            if "error" in result:
                rows.append([f"{name} {label}", f"ERROR: {result['error']}"])
                continue
            rows.append([
                f"{name} {label}", f"{result['epochs_run']}/{result['epochs_budget']}", result["image_size"],
                fmt(result["train_seconds"], " s"), fmt(result.get("wall_seconds"), " s"), fmt(result["seconds_per_epoch"], " s"),
                fmt(result["test_accuracy"], "acc"), fmt(result["top3_accuracy"], "acc"),
            ])
        for baseline, ratios in section.get("ratios", {}).items():
            rows.append([f"{name} ours/{baseline}", "", "", fmt(ratios["train_seconds"], "x"), "", "", fmt(ratios["test_accuracy"], "x"), ""])
    return table(title, ["recipe", "epochs", "size", "train s", "script wall", "s/epoch", "test top-1", "top-3"], rows)


def speed_section(speeds: dict) -> str:
    title = f"Speed of the shipped predictors (one JPEG: decode + preprocess + forward; batches of {BATCH} uint8 tensors)"
    if (note := not_measured(title, speeds)) is not None:
        return note
    rows = []
    for name, section in speeds.items():
        if "error" in section:
            rows.append([name, f"ERROR: {section['error']}"])
            continue
        for setting, result in (("this process", section["threads_default"]), ("forced to 1", section["threads_1"])):
            latency = result["latency_ms"]
            rows.append([name, f"{result['torch_threads']} ({setting})", fmt(latency["p50"], " ms"), fmt(latency["p95"], " ms"), fmt(result["images_per_second"])])
    return table(title, ["model", "threads", "p50", "p95", f"img/s batch {BATCH}"], rows)


def tagging_section(tagging: dict) -> str:
    title = "Tagging a photo library (tag_photos.py engines vs the predictor alone, same run)"
    if (note := not_measured(title, tagging)) is not None:
        return note
    predictor, local, ray = tagging["predictor"], tagging["local"], tagging["ray"]
    rows = [
        [f"predictor alone, {predictor['input']}", "", fmt(predictor["images_per_second"]), "1.00x"],
        ["local engine (decode included)", local["workers"], fmt(local["photos_per_second"]), fmt(local["ratio_to_predictor"], "x")],
    ]
    if "photos_per_second" in ray:
        rows.append([f"ray engine, local instance (started in {ray['ray_start_seconds']} s)", ray["workers"], fmt(ray["photos_per_second"]),
                     fmt(round(ray["photos_per_second"] / predictor["images_per_second"], 3), "x")])
    else:
        rows.append(["ray engine", f"{'ERROR: ' + ray['error'] if 'error' in ray else 'skipped: ' + ray['skipped']}"])
    text = table(title, ["", "workers", "photos/s", "of predictor"], rows) + f"\n{tagging['photos']}, batches of {tagging['batch_size']}, model {tagging['model']}"
    memory = tagging["memory"]
    if "error" in memory:
        return text + f"\npeak memory: ERROR: {memory['error']}"
    runs = "; ".join(f"{files} files {run['peak_rss_mb']} MB ({run['seconds']} s)" for files, run in memory["runs"].items())
    return text + f"\npeak RSS of tag_photos.py: {runs}; ratio {fmt(memory['ratio_long_to_short'], 'x')}"


def teaching_section(teaching: dict) -> str:
    title = "Teaching a landmark (transfer model; leave-landmark-out: each landmark taught back into a head without it)"
    if (note := not_measured(title, teaching)) is not None:
        return note
    timed = "; ".join(f"{row['photos']} photos {row['seconds']} s" for row in teaching["time"])
    rows = [
        [point["photos"], point["landmarks"], fmt(point["taught_accuracy"], "acc"), fmt(point["taught_right_and_accepted"], "acc"),
         points(point["others_accuracy_drop"]), points(point["unknown_rejected_drop"])]
        for point in teaching["known"]["curve"]
    ]
    text = table(title, ["photos", "landmarks", "top-1", "right+accepted", "others' acc drop", "rejection drop"], rows)
    others = [
        [row["landmark"], row["photos"], row["test_photos"], fmt(row["after"]["taught_accuracy"], "acc"), fmt(row["after"]["taught_right_and_accepted"], "acc"),
         points(row["before"]["others_accuracy"] - row["after"]["others_accuracy"]),
         points(row["before"]["unknown_rejected"] - row["after"]["unknown_rejected"])]
        for row in teaching["other"]
    ]
    sweep = teaching["cap_sweep_on_validation"]
    if isinstance(sweep, list):
        text += "\n" + table(
            f"How the new landmark's loss weight cap was chosen (validation photos only; shipped: {teaching['weight_cap']})",
            ["weight cap", "photos", "top-1", "right+accepted", "others' acc drop", "rejection drop"],
            [[row["weight_cap"], row["photos"], fmt(row["taught_accuracy"], "acc"), fmt(row["taught_right_and_accepted"], "acc"),
              points(row["others_accuracy_drop"]), points(row["unknown_rejected_drop"])] for row in sweep],
        )
    if others:
        text += "\n" + table("Teaching other landmarks (held-out ones; taught from some photos, tested on the rest)",
                             ["landmark", "photos", "test", "top-1", "right+accepted", "others' acc drop", "rejection drop"], others)
    return text + f"\nteaching time at {teaching['time'][0]['torch_threads']} torch thread (the app's): {timed}"


def app_section(app: dict) -> str:
    if (note := not_measured("App end to end via gradio_client /predict", app)) is not None:
        return note
    rows = [
        [name, f"ERROR: {app[name]['error']}"] if "error" in app[name] else
        [name, fmt(app[name]["round_trip_ms"]["p50"], " ms"), fmt(app[name]["round_trip_ms"]["p95"], " ms"), fmt(app[name]["server_predict_ms"]["p50"], " ms")]
        for name in MODELS
    ]
    return (
        table(f"App end to end via gradio_client /predict ({app['calls_per_model']} sequential calls per model after warm-up)",
              ["model", "p50", "p95", "server-side p50"], rows)
        + f"\napp start {app['start_seconds']} s; peak RSS (VmHWM) with both models loaded {app['peak_rss_mb']} MB"
    )


def open_set_table(title: str, section: dict, setting: Callable[[dict], str]) -> str:
    """One row per approach: how it separates and rejects unknown photos at the operating point."""
    if (note := not_measured(title, section)) is not None:
        return note
    rows = []
    for name, report in section["approaches"].items():
        unknown = report["unknown"]
        rows.append([
            name, fmt(unknown[HELD_OUT]["auroc"], "auroc"), fmt(unknown[HELD_OUT]["rejected"], "acc"), fmt(report["known_accepted"], "acc"),
            fmt(report["accuracy_among_accepted"], "acc"),
            *(fmt(unknown[group]["rejected"], "acc") if group in unknown else "-" for group in (OFFICIAL, EVERYDAY)),
        ])
    photos = ", ".join(f"{group} {count}" for group, count in section["photos"].items())
    legend = "\n".join(f"  {name}: {section['scorers'][name]}" for name in section["approaches"])
    return (
        table(title, ["approach", "held-out AUROC", "held-out rejected", "known accepted", "accuracy among accepted",
                      "official unknown rejected", "everyday rejected"], rows)
        + f"\n{section['operating_point']}; {setting(section)}"
        + f"\nbest at the operating point: {section['best']['held_out_rejected']}; best held-out AUROC: {section['best']['held_out_auroc']}"
        + f"\nphotos: {photos}\n{legend}"
    )


def open_set_section(open_set: dict) -> str:
    title = "Open set: rejecting photos of landmarks a model never saw"
    if (note := not_measured(title, open_set)) is not None:
        return note

    def transfer_setting(section: dict) -> str:
        folds = "; ".join(", ".join(fold["test_landmarks"]) for fold in section["folds"])
        return (
            f"{section['backbone']} features at {section['image_size']} px, augmented views per training photo: "
            f"{section['augmented_views']}; held out by fold: {folds}\n{section['heads']}"
        )

    def scratch_setting(section: dict) -> str:
        return (
            f"{section['model']}, {section['outputs']} outputs; held out in training: {', '.join(section['held_out_landmarks'])}\n"
            f"not compared: {section['not_compared']}"
        )

    transfer_title = f"{title}, transfer (linear heads on frozen features, mean over leave-landmarks-out folds)"
    return "\n".join([
        open_set_table(transfer_title, open_set["transfer"], transfer_setting),
        open_set_table(f"{title}, scratch (the shipped model)", open_set["scratch"], scratch_setting),
    ])


def target_section(checks: list[dict]) -> str:
    rows = []
    for check in checks:
        unit = check["unit"] if check["unit"] in ("acc", "auroc", "x") else f" {check['unit']}"
        rows.append([check["status"], check["target"], fmt(check["value"], unit), fmt(check["limit"], unit), check["note"] or ""])
    return table("Targets", ["status", "target", "measured", "limit", "note"], rows)


def report(results: dict) -> str:
    machine = results["machine"]
    return "\n".join([
        f"# Landmark Lens benchmark ({results['mode']})",
        results["mode_note"],
        f"{machine['cpu_model']}, {machine['cpus_allowed']}/{machine['cpu_count']} CPUs, torch {machine['torch_version']} "
        f"with {machine['torch_threads']} threads, load average {machine['load_average_at_start']}, {machine['date']}",
        f"command: {machine['command']}",
        accuracy_section(results["shipped_accuracy"]),
        training_section(results["training"]),
        speed_section(results["speed"]),
        app_section(results["app"]),
        open_set_section(results["open_set"]),
        tagging_section(results["tagging"]),
        teaching_section(results["teaching"]),
        target_section(results["targets"]),
        f"\nbenchmark took {results['seconds']:.0f} s; results in {results['out']}",
    ])
