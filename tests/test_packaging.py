"""The pip (pyproject.toml) and conda (environment.yml) environments name the same dependencies."""
import re
import tomllib

import yaml

from replearn_core.paths import checkout_root

REPO_ROOT = checkout_root()


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    pip_reqs = project["dependencies"] + project["optional-dependencies"]["dev"]
    env = yaml.safe_load((REPO_ROOT / "environment.yml").read_text())
    assert "python=3.11" in env["dependencies"]
    conda_pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_reqs = [r for r in conda_pip if not r.startswith("-e")]
    assert sorted(conda_reqs) == sorted(pip_reqs), "environment.yml and pyproject.toml disagree"
    assert "-e ." in conda_pip
    assert {_name(r) for r in pip_reqs} >= {"torch", "torchvision", "jupyterlab", "jupyter-book", "ipywidgets",
                                             "matplotlib", "nbval", "tqdm"}


def test_jupyter_book_is_pinned_below_2_and_torch_capped():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    deps = {_name(r): r for r in project["dependencies"]}
    assert "<2" in deps["jupyter-book"]
    assert "<=2.14.1" in deps["torch"]
