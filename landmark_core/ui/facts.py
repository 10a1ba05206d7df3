"""The "Model facts" accordions: what a model's card says that a visitor should know before trusting an answer,
its open-set figures included. A card written before a figure existed simply lacks that line.
"""

from __future__ import annotations

import math

from landmark_core.places import display_name, load_places
from landmark_core.ui.lens import ModelSlot


def _number(value: object) -> float | None:
    """A finite number from a card, else None: a card may lack a figure, or hold NaN where none could be measured."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def _row(group: str, photos: object, auroc: object, rejected: object) -> str:
    photos, auroc, rejected = _number(photos), _number(auroc), _number(rejected)
    return (
        f"| {group} | {'?' if photos is None else f'{photos:.0f}'} | {'—' if auroc is None else f'{auroc:.3f}'} "
        f"| {'—' if rejected is None else f'{rejected:.1%}'} |"
    )


def _dict(value: object) -> dict:
    return value if isinstance(value, dict) else {}


def open_set_markdown(open_set: object, threshold: float, cross_validation: dict) -> str:
    """The "not one of my landmarks" rule and how it fared: on known test photos, and per group of unknown photos,
    the card's and, where the model trained on every photo of a kind, its recipe's cross-validated ones."""
    point = open_set.get("operating_point") if isinstance(open_set, dict) else None
    lines = [
        f"**Not one of my landmarks:** below a known score (how much a photo looks like any of them) of {threshold:.0%}"
        + (f", set to {point}." if isinstance(point, str) else ".")
    ]
    if not isinstance(open_set, dict):
        return "\n\n".join(lines)
    accepted, accuracy = _number(open_set.get("known_accepted")), _number(open_set.get("accuracy_among_accepted"))
    if accepted is not None:
        right = f", {accuracy:.1%} of those correctly" if accuracy is not None else ""
        lines.append(f"**Known test photos:** it answers {accepted:.1%} of them with a landmark{right}.")
    card_groups, pooled = _dict(open_set.get("unknown")), _dict(cross_validation.get("pooled"))
    rows = [_row(group, *(_dict(figures).get(key) for key in ("photos", "auroc", "rejected"))) for group, figures in card_groups.items()]
    rows += [
        _row(f"{group}, cross-validated", *(_dict(figures).get(key) for key in ("photos", "auroc_mean", "rejected")))
        for group, figures in pooled.items()
    ]
    folds = len(cross_validation.get("folds") or [])
    if rows:
        cross_validated = (
            f" Cross-validated rows: photos of a kind this model trains on all of, each tested by one of {folds} models "
            "trained the same way without it (AUROC: their mean)." if folds else ""
        )
        lines.append(
            "\n".join(["| Photos of what it does not know | Photos | AUROC | Said \"not one of mine\" |", "|---|---:|---:|---:|", *rows])
            + "\n\nAUROC: the chance that a known landmark's photo scores above an unknown one (1 is perfect, 0.5 is chance)."
            + cross_validated
        )
    split = open_set.get("landmark_split")
    held_out = split.get("test") if isinstance(split, dict) else None
    if isinstance(held_out, list) and held_out:
        lines.append(f"**Held-out landmarks** (never seen in training): {', '.join(display_name(str(name)) for name in held_out)}.")
    return "\n\n".join(lines)


def facts_markdown(slot: ModelSlot) -> str:
    """Everything the card says that a user should know before trusting an answer."""
    if slot.model is None:
        return f"**Not available.** {slot.error}"
    card, classes = slot.model.card, slot.model.class_names
    lines = [f"**Knows {len(classes)} landmarks:** {', '.join(classes)}."]
    if isinstance(card.get("test_accuracy"), (int, float)):
        top3 = f", {card['top3_accuracy']:.1%} top-3" if isinstance(card.get("top3_accuracy"), (int, float)) else ""
        lines.append(f"**Test accuracy:** {card['test_accuracy']:.1%} top-1{top3} on {card.get('n_test', '?')} test photos.")
    per_class = card.get("per_class_accuracy") or {}
    if per_class:
        table = ["| Landmark | Test accuracy |", "|---|---:|"] + [f"| {name} | {value:.1%} |" for name, value in per_class.items()]
        lines.append("\n".join(table))
    lines.append(open_set_markdown(card.get("open_set"), slot.model.unknown_threshold, slot.model.cross_validation))
    if card.get("trained_on"):
        lines.append(f"**Trained on:** {card['trained_on']}")
    training = [f"{card['epochs']} epochs" if "epochs" in card else "", f"seed {card['seed']}" if "seed" in card else ""]
    if card.get("train_seconds") is not None:
        training.append(f"{card['train_seconds'] / 60:.1f} min")
    if card.get("params"):
        training.append(f"{card['params'] / 1e6:.1f} M parameters")
    if card.get("file_bytes"):
        training.append(f"{card['file_bytes'] / 2**20:.1f} MB file")
    details = ", ".join(fact for fact in training if fact)
    lines.append(f"**Model:** {card.get('architecture', slot.model.title)}" + (f"; {details}." if details else "."))
    if card.get("latency_ms_p50") is not None:
        lines.append(
            f"**Latency:** {card['latency_ms_p50']:.0f} ms median, {card.get('latency_ms_p95', 0):.0f} ms p95 "
            f"({card.get('latency_measured_as', 'one photo')})."
        )
    lines.append(f"**Rebuild it:** `{slot.model.command}`")
    places = load_places()
    if len(classes) < len(places):
        missing = sorted(set(places) - set(classes))
        lines.append(
            f"> ⚠️ This model knows only {len(classes)} of the {len(places)} landmarks. "
            f"It cannot recognise: {', '.join(missing)}.\n>\n"
            f"> To train it on the full set (downloads the {len(places)}-class Udacity dataset): `python train_{slot.name}.py --download`"
        )
    return "\n\n".join(lines)
