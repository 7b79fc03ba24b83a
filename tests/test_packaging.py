"""The pip (pyproject.toml) and conda (environment.yml) environments name the same dependencies."""
import re
from pathlib import Path
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


def test_license_is_an_spdx_expression_and_the_console_script_is_declared():
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["scripts"]["replearn"] == "replearn_tools.cli:main"


def test_wheel_installs_and_trains_outside_the_checkout(tmp_path):
    """Build the wheel, install it (no dependencies: those of this test environment are reused)
    into a fresh venv outside the checkout, and use it from another folder: MNIST is found through
    $REPLEARN_DATA (with a clear error without it), checkpoints go to the user cache, and one
    training step and the console script run."""
    import os
    import subprocess
    import sys
    import sysconfig

    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "-w", str(wheels), str(REPO_ROOT)], check=True, capture_output=True, text=True)
    (wheel,) = wheels.glob("replearn-*.whl")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps",
                    str(wheel)], check=True, capture_output=True, text=True)
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (Path(site) / "_test_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("REPLEARN_") and k != "PYTHONPATH"}
    env["XDG_CACHE_HOME"] = str(tmp_path / "user-cache")
    script = (
        "import replearn_core as rl, pathlib\n"
        f"assert pathlib.Path(rl.__file__).is_relative_to({str(venv)!r}), rl.__file__\n"
        "assert rl.paths.checkout_root() is None\n"
        "try:\n    rl.load_mnist('test')\nexcept FileNotFoundError as e:\n    assert 'REPLEARN_DATA' in str(e), e\n"
        "else:\n    raise SystemExit('expected an error naming REPLEARN_DATA')\n"
        f"import os; os.environ['REPLEARN_DATA'] = {str(REPO_ROOT / 'data')!r}\n"
        "x, y = rl.mnist_tensors('train', subset=64)\n"
        "cfg = rl.models.AutoencoderConfig(hidden=(16,), latent_dim=2)\n"
        "t = rl.train_or_load(cfg, rl.TrainConfig(epochs=1, batch_size=64, train_subset=64), progress=False)\n"
        f"assert t.path.is_relative_to({str(tmp_path / 'user-cache' / 'replearn')!r}), t.path\n"
        "print('ok', len(t.history.steps['reconstruction']))\n")
    out = subprocess.run([str(python), "-c", script], cwd=work, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok 1", out.stdout + out.stderr
    cli = subprocess.run([str(venv / "bin" / "replearn"), "--help"], cwd=work, env=env, capture_output=True, text=True)
    assert cli.returncode == 0 and "compare" in cli.stdout, cli.stderr
