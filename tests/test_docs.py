"""Every code block in README.md and docs/*.md runs, as a reader would paste it.

Python blocks of one page run in order in one namespace (a page is one session),
in a fresh folder. Shell blocks: each ``neuralab …`` line runs through the CLI in
that folder, with files a reader would have (``my.npz``, ``iris.csv``, a
``photos/`` folder of class sub-folders, ``content.jpg``/``style.jpg``) generated
first, and made short: ``train`` for one epoch, ``style`` for one step at 64 px.
``neuralab demo CHAPTER`` lines are checked to name a chapter (each chapter's
demo runs in its own test folder); ``make``, ``pip`` and ``torchrun`` lines are
what CI and the install run, and tests/training/test_torchrun.py runs torchrun.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)
NOT_RUN_HERE = ("make ", "pip ", "torchrun ")
SHORT = {"train": ["--epochs", "1", "--no-progress"], "style": ["--steps", "1", "--size", "64"]}


def blocks(page: Path, language: str) -> list[str]:
    return [code for lang, code in BLOCK.findall(page.read_text()) if lang == language]


def page_id(page: Path) -> str:
    return str(page.relative_to(ROOT))


def test_every_page_is_linked_from_the_readme():
    readme = (ROOT / "README.md").read_text()
    missing = [p.name for p in PAGES[1:] if f"docs/{p.name}" not in readme]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_every_block_has_a_language():
    for page in PAGES:
        for lang, code in BLOCK.findall(page.read_text()):
            assert lang in ("python", "sh", "text"), f"{page_id(page)}: a block tagged {lang!r}:\n{code}"


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=page_id)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(blocks(page, "python")):
        try:
            exec(compile(code, f"{page_id(page)} python block {i + 1}", "exec"), namespace)
        except Exception as exc:  # name the block, keep the traceback
            raise AssertionError(f"{page_id(page)}: python block {i + 1} failed: "
                                 f"{type(exc).__name__}: {exc}\n{code}") from exc


def _reader_files(folder: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    from neuralab.datasets import load_digits

    split = load_digits()
    x = np.concatenate([split.x_train, split.x_test])[:, 0]
    y = np.concatenate([split.y_train, split.y_test])
    np.savez(folder / "my.npz", x=x[:300], y=y[:300])
    from sklearn.datasets import load_iris

    iris = load_iris()
    rows = ["sepal_length,sepal_width,petal_length,petal_width,species"]
    rows += [",".join(f"{v:.1f}" for v in features) + f",{iris.target_names[t]}"
             for features, t in zip(iris.data, iris.target)]
    (folder / "iris.csv").write_text("\n".join(rows) + "\n")
    for label in ("cat", "dog"):
        (folder / "photos" / label).mkdir(parents=True)
        for k in range(6):
            pixels = rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)
            pixels[..., 0 if label == "cat" else 2] = 255
            Image.fromarray(pixels).save(folder / "photos" / label / f"{k}.jpg")
    for name in ("content.jpg", "style.jpg"):
        Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / name)


def _commands(page: Path):
    for code in blocks(page, "sh"):
        for line in code.splitlines():
            line = line.split(" #")[0].strip()
            if line and not line.startswith("#"):
                yield line


@pytest.mark.slow
@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "sh")], ids=page_id)
def test_shell_blocks_run(page, tmp_path, monkeypatch, capsys):
    from neuralab.cli import DEMOS, main

    monkeypatch.chdir(tmp_path)
    _reader_files(tmp_path)
    for line in _commands(page):
        if line.startswith(NOT_RUN_HERE):
            continue
        argv = shlex.split(line)
        assert argv[0] == "neuralab", f"{page_id(page)}: a shell line this test cannot run: {line!r}"
        argv = argv[1:]
        if argv[0] == "demo" and argv[1] != "--list":
            assert argv[1] in DEMOS, f"{page_id(page)}: {line!r} names no chapter"
            continue
        argv += SHORT.get(argv[0], [])
        try:
            code = main(argv)
        except SystemExit as exc:              # argparse's --version and --help exit
            code = exc.code
        captured = capsys.readouterr()
        assert code == 0, f"{page_id(page)}: {line!r} exited {code}:\n{captured.err}"
