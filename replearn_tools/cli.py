"""``replearn``: the project's one command, with a subcommand per tool.

    replearn train vae_20d                       # train a book model (torchrun for data parallelism)
    replearn compare --scale full --seeds 3      # every model on the same measurements
    replearn sweep sparse --seeds 5 --epochs 20  # the sparse autoencoder's hyper-parameter tables
    replearn sweep generalisation                # its penalties where the plain autoencoder overfits
    replearn bench --device cuda                 # training speed against pytorch/examples' loops
    replearn notebooks book/06_vae.ipynb         # re-execute chapters and store their outputs

``replearn <command> --help`` explains each one; ``python -m replearn_tools <command>`` is the same.
Each subcommand lives in its own module of :mod:`replearn_tools` and is imported only when run,
so that the tools' dependencies (torchvision for the benchmark, playwright for the browser
benchmark) are needed only by the tool that uses them.
"""
from __future__ import annotations

import importlib
import sys

#: subcommand -> (module of replearn_tools with a ``main(argv)``, one-line description)
COMMANDS = {
    "train": ("train", "train a book model, on one process or data-parallel under torchrun"),
    "compare": ("compare", "measure every book model the same way (book or full scale, several seeds)"),
    "sweep": ("sweep", "the sparse autoencoder's sweep and generalisation experiment (report 3.4-3.5)"),
    "dcgan-long": ("dcgan_long", "train the chapter's DCGAN longer and record its sample quality"),
    "aae-search": ("aae_search", "the search for AAE settings that match the prior (chapter 08)"),
    "bench": ("bench", "training speed: pytorch/examples' loops against fit, with the matrix-work floor"),
    "margins": ("margins", "run the chapters' checks over seeds, instruction sets and threads; measure margins"),
    "notebooks": ("notebooks", "re-execute chapters in place and store their outputs"),
    "student-notebooks": ("student_notebooks", "write the chapters without solutions, for students"),
    "exercises-index": ("exercise_index", "write book/exercises.md, the list of every chapter's exercises"),
    "book-assets": ("book_assets", "prepare the static book's offline assets (run by make book)"),
    "explorer-bench": ("explorer_bench", "time the latent explorers in headless Chromium"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: replearn <command> [options]   (replearn <command> --help for its options)", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"replearn: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(f"replearn_tools.{COMMANDS[name][0]}")
    return int(module.main(rest) or 0)


if __name__ == "__main__":
    sys.exit(main())
