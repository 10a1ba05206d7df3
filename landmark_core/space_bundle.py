"""The Hugging Face Space bundle: one folder that runs as a Space runs it (`python app.py` from the folder, in an
environment made from its own requirements.txt). landmark_core/space_hub.py publishes it.

The folder holds app.py and the modules of landmark_core that loading it imports, found by reading their imports
(so training code never ships); both models with their cards and plots; a few sample photos per landmark, resized;
and the files a Space reads: README.md (front matter), requirements.txt (only the packages those modules import,
pinned as in the repository's requirements.txt) and .gitattributes (large files through LFS). The photos come from
the user's data folder at build time, never from the repository.

An import inside a function is not followed: that is how runtime code reaches for what serving never needs (data.py
imports tqdm only to decode a training set).
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import gradio
import yaml

from landmark_core import images
from landmark_core.model_files import MODEL_NAMES, rebuild_command
from landmark_core.samples import SAMPLES_DIR, UDACITY_SAMPLES_TEST, Sample, list_samples
from landmark_core.space_hub import SPACE_SDK

REPO = Path(__file__).resolve().parents[1]
APP_FILE = "app.py"
PACKAGE = "landmark_core"
MODEL_DIR = Path("assets") / "models"
BUNDLE_SAMPLES_DIR = SAMPLES_DIR.relative_to(REPO)  # where the bundle's app.py looks by default
# The card and the plots the page shows beside each model, and the training features teaching retrains on
# (transfer only); the .pt and the card are required.
MODEL_FILE_SUFFIXES = (".pt", ".json", "_curves.png", "_confusion.png", "_features.pt", "_crossvalidation.json")
SAMPLE_MAX_SIDE = 640  # plenty for a gallery tile and for the model (which crops 224 after resizing to 256)
SAMPLE_JPEG_QUALITY = 85
# The Hub refuses a plain git file over 10 MB; decimal bytes, the stricter reading.
LFS_MIN_BYTES = 10_000_000
MAX_BUNDLE_BYTES = 60_000_000  # both models ~27 MB, the features teaching needs ~18 MB; the rest must stay small
SHORT_DESCRIPTION = "Which famous landmark is in your photo?"  # the Hub allows 60 characters


class BundleError(RuntimeError):
    """The bundle can't be built; the message says why and what to do."""


@dataclass(frozen=True)
class Bundle:
    folder: Path
    files: tuple[str, ...]  # relative POSIX paths, sorted

    def size(self, file: str) -> int:
        return (self.folder / file).stat().st_size

    @property
    def total_bytes(self) -> int:
        return sum(self.size(file) for file in self.files)

    def needs_lfs(self, file: str) -> bool:
        return file.endswith(".pt") or self.size(file) >= LFS_MIN_BYTES


# --- the code: app.py and what loading it imports -------------------------------------------------------------


def load_time_imports(path: Path) -> set[str]:
    """The modules a Python file imports when it is loaded (not inside functions), as absolute dotted names;
    `from package import name` yields both `package` and `package.name` (name may be a submodule)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(), filename=str(path)))
    return found


def module_file(name: str, root: Path = REPO) -> Path | None:
    """The repository file of a dotted module name (a module or a package's __init__), if it is one."""
    base = root.joinpath(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def runtime_modules(root: Path = REPO) -> list[Path]:
    """app.py and every module of landmark_core it loads, directly or through another, with their packages."""
    pending, seen = [root / APP_FILE], set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in load_time_imports(path):
            parts = name.split(".")
            if parts[0] != PACKAGE:
                continue
            # Importing a.b.c runs a/__init__.py and a/b/__init__.py first.
            for depth in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:depth]), root)
                if found is not None:
                    pending.append(found)
    return sorted(seen)


def package_data(modules: list[Path]) -> list[Path]:
    """The data files beside the shipped modules (places.csv): everything in their folders but Python files."""
    folders = {path.parent for path in modules if path.name != APP_FILE}
    return sorted(
        path for folder in folders for path in folder.iterdir()
        if path.is_file() and path.suffix not in (".py", ".pyc") and not path.name.startswith(".")
    )


def pinned_versions(requirements: Path) -> dict[str, str]:
    """`name==version` lines of a requirements file, by normalized name."""
    pins = {}
    for line in requirements.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)", line)
        if match:
            pins[normalized(match.group(1))] = match.group(2)
    return pins


def normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def serving_requirements(modules: list[Path], requirements: Path) -> list[str]:
    """The distributions the shipped modules import, pinned as `requirements` pins them."""
    imported = {name.split(".")[0] for path in modules for name in load_time_imports(path)}
    third_party = sorted(imported - set(sys.stdlib_module_names) - {PACKAGE, "__future__"})
    providers = importlib.metadata.packages_distributions()
    pins = pinned_versions(requirements)
    lines = set()
    for module in third_party:
        pinned = [normalized(name) for name in providers.get(module, []) if normalized(name) in pins]
        if len(pinned) != 1:
            raise BundleError(f"The app imports {module!r}, which {requirements} does not pin exactly once ({pinned or 'not at all'}).")
        lines.add(f"{pinned[0]}=={pins[pinned[0]]}")
    return sorted(lines)


# --- the models and the photos --------------------------------------------------------------------------------


def model_files(root: Path = REPO) -> list[Path]:
    """Both models' files; a missing model or card stops the build with the command that rebuilds it."""
    files = []
    for name in MODEL_NAMES:
        for suffix in MODEL_FILE_SUFFIXES:
            path = root / MODEL_DIR / f"{name}{suffix}"
            if path.is_file():
                files.append(path)
            elif suffix in (".pt", ".json"):
                raise BundleError(f"{path} is missing, and a Space ships both models. Rebuild it with: {rebuild_command(root / MODEL_DIR, name)}")
    return files


def known_landmarks(root: Path = REPO) -> set[str]:
    """Every landmark some model's card lists (display names)."""
    return {label for name in MODEL_NAMES for label in json.loads((root / MODEL_DIR / f"{name}.json").read_text())["classes"]}


def choose_samples(samples_from: Path, known: set[str], per_class: int) -> list[Sample]:
    """`per_class` photos of each known landmark from `samples_from`, plus the official photos of landmarks no model
    knows (the page's "Landmarks I don't know" gallery), when they are beside the repository."""
    if not samples_from.is_dir():
        raise BundleError(f"--samples-from {samples_from} is not a folder (expected <folder>/<NN.Class_Name>/*.jpg).")
    chosen = [sample for sample in list_samples(samples_from, per_class) if sample.landmark in known]
    if not chosen:
        raise BundleError(
            f"--samples-from {samples_from} has no photos of the landmarks the models know ({', '.join(sorted(known))}); "
            "point it at the test split the models were trained with, e.g. data/landmark_images/test."
        )
    unknown = [sample for sample in list_samples(UDACITY_SAMPLES_TEST, per_class) if sample.landmark is not None and sample.landmark not in known]
    return chosen + unknown


def write_sample(sample: Sample, destination: Path) -> None:
    """The photo upright, its long side at most SAMPLE_MAX_SIDE, as a JPEG without metadata."""
    try:
        photo = images.load_rgb(sample.path)
    except images.ImageError as error:
        raise BundleError(f"Sample photo {sample.path}: {error}") from None
    photo.thumbnail((SAMPLE_MAX_SIDE, SAMPLE_MAX_SIDE))
    destination.parent.mkdir(parents=True, exist_ok=True)
    photo.save(destination, "JPEG", quality=SAMPLE_JPEG_QUALITY)


# --- the files a Space reads ------------------------------------------------------------------------------------


def front_matter(root: Path = REPO) -> dict:
    """The repository README's Spaces front matter, with the versions this environment runs and a description."""
    text = (root / "README.md").read_text()
    match = re.match(r"^---\n(.*?)\n---\n", text, re.DOTALL)
    meta = yaml.safe_load(match.group(1)) if match else {}
    meta.update(
        sdk=SPACE_SDK,
        sdk_version=gradio.__version__,
        python_version=f"{sys.version_info.major}.{sys.version_info.minor}",
        app_file=APP_FILE,
    )
    meta.setdefault("title", "Landmark Lens")
    meta.setdefault("short_description", SHORT_DESCRIPTION)
    return meta


def readme(meta: dict, known: set[str], per_class: int, root: Path = REPO) -> str:
    cards = {name: json.loads((root / MODEL_DIR / f"{name}.json").read_text()) for name in MODEL_NAMES}
    rows = "\n".join(
        f"| {name} | {card.get('architecture', card.get('kind', ''))} | {card['test_accuracy']:.1%} |"
        for name, card in cards.items() if isinstance(card.get("test_accuracy"), (int, float))
    )
    header = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True)
    return (
        f"---\n{header}---\n\n# {meta['title']}\n\n"
        f"{SHORT_DESCRIPTION} Upload one, paste it, take it with the webcam, or click a sample. "
        f"It knows {len(known)} landmarks: {', '.join(sorted(known))}; a photo of any other place gets "
        "\"this doesn't look like any of the landmarks I know\".\n\n"
        f"| model | architecture | test accuracy |\n|---|---|---|\n{rows}\n\n"
        f"The models ship in `{MODEL_DIR.as_posix()}/` (TorchScript, with their cards and plots), so this card names no "
        f"Hub model or dataset. The gallery holds {per_class} test photos per landmark, and official photos of "
        f"landmarks the models do not know, resized to at most {SAMPLE_MAX_SIDE} px. "
        "Built and published by `python scripts/deploy_space.py` from the Landmark Lens repository.\n"
    )


def gitattributes(bundle: Bundle) -> str:
    """LFS for every .pt and every other file the Hub would refuse as plain git (over LFS_MIN_BYTES)."""
    large = [file for file in bundle.files if not file.endswith(".pt") and bundle.needs_lfs(file)]
    return "".join(f"{pattern} filter=lfs diff=lfs merge=lfs -text\n" for pattern in ["*.pt", *large])


# --- the bundle -------------------------------------------------------------------------------------------------


def build_bundle(folder: Path, samples_from: Path, per_class: int = 3, root: Path = REPO) -> Bundle:
    """Write the bundle into `folder` (new or empty) and return it; nothing is published."""
    if per_class < 1:
        raise BundleError("--per-class must be at least 1.")
    if folder.exists() and any(folder.iterdir()):
        raise BundleError(f"{folder} is not empty: the bundle must hold exactly what the Space gets. Choose a new folder.")
    models = model_files(root)
    known = known_landmarks(root)
    samples = choose_samples(samples_from, known, per_class)
    modules = runtime_modules(root)
    requirements = serving_requirements(modules, root / "requirements.txt")
    folder.mkdir(parents=True, exist_ok=True)
    for path in [*modules, *package_data(modules), *models]:
        target = folder / path.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, target)
    for sample in samples:
        write_sample(sample, folder / BUNDLE_SAMPLES_DIR / sample.path.parent.name / f"{sample.path.stem}.jpg")
    meta = front_matter(root)
    (folder / "README.md").write_text(readme(meta, known, per_class, root))
    (folder / "requirements.txt").write_text(
        "# What the app imports when it loads, pinned as in the repository (written by scripts/deploy_space.py).\n"
        + "".join(f"{line}\n" for line in requirements)
    )
    bundle = listed(folder)
    (folder / ".gitattributes").write_text(gitattributes(bundle))
    bundle = listed(folder)
    if bundle.total_bytes > MAX_BUNDLE_BYTES:
        raise BundleError(
            f"The bundle is {megabytes(bundle.total_bytes)}, over the {megabytes(MAX_BUNDLE_BYTES)} limit: "
            "use fewer sample photos (--per-class)."
        )
    return bundle


def listed(folder: Path) -> Bundle:
    files = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return Bundle(folder, tuple(files))


def megabytes(count: int) -> str:
    if count >= 100_000:
        return f"{count / 1_000_000:.1f} MB"
    return f"{count / 1000:.0f} kB" if count >= 1000 else f"{count} B"


def summary(bundle: Bundle) -> str:
    """The file list with sizes (LFS marked) and the total, for people."""
    lines = [f"{megabytes(bundle.size(file)):>9}  {'LFS' if bundle.needs_lfs(file) else '   '}  {file}" for file in bundle.files]
    lines.append(f"{len(bundle.files)} files, {megabytes(bundle.total_bytes)} (limit {megabytes(MAX_BUNDLE_BYTES)}) in {bundle.folder}")
    return "\n".join(lines)
