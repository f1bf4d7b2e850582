"""A fresh clone installs with the machine's stock interpreter and pip, exactly as `make` does.

Once, the lock installed with a current pip but not with the stock pip 23.2.1, after the index
began serving a newer httpx: pip 23 resolved litellm's `httpx[http2]` extra to it, and
--require-hashes refused. This test clones the committed repository, puts a newer release of that
same transitive dependency on the index (a local find-links directory), and runs `make install`
with the stock `python3.11`. It reuses the pip cache, so it costs minutes only where CI already
compiled llama-cpp-python once. It tests what is committed (a clone of HEAD).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def stock_python() -> str:
    """The machine's python3.11, never this test run's virtual environment."""
    venv_bin = str(Path(sys.prefix) / "bin")
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p != venv_bin)
    found = shutil.which("python3.11", path=path)
    assert found, "python3.11 is not on PATH"
    prefix = subprocess.run(
        [found, "-c", "import sys; print(sys.prefix == sys.base_prefix)"], capture_output=True, text=True
    )
    assert prefix.stdout.strip() == "True", f"{found} is inside a virtual environment"
    return found


def fake_wheel(directory: Path, name: str, version: str) -> Path:
    """A minimal valid wheel: a release the lock does not pin, newer than the pinned one."""
    dist = f"{name}-{version}.dist-info"
    path = directory / f"{name}-{version}-py3-none-any.whl"
    files = {
        f"{name}/__init__.py": "raise ImportError('the newer, unpinned release was installed')\n",
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    with zipfile.ZipFile(path, "w") as whl:
        for arcname, text in files.items():
            whl.writestr(arcname, text)
        whl.writestr(f"{dist}/RECORD", "".join(f"{a},,\n" for a in files) + f"{dist}/RECORD,,\n")
    return path


def locked_version(name: str) -> str:
    match = re.search(rf"^{re.escape(name)}==(\S+) ", (REPO / "requirements.lock").read_text(), re.M)
    assert match, f"{name} is not in requirements.lock"
    return match.group(1)


def test_a_fresh_clone_installs_with_the_stock_interpreter_despite_a_newer_transitive_release(
    tmp_path: Path,
) -> None:
    python = stock_python()
    stock_pip = subprocess.run([python, "-m", "pip", "--version"], capture_output=True, text=True).stdout
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    index = tmp_path / "newer-releases"
    index.mkdir()
    fake_wheel(index, "httpx", "99.0.0")  # what broke the install once
    fake_wheel(index, "h2", "99.0.0")
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join(
        p for p in env["PATH"].split(os.pathsep) if p != str(Path(sys.prefix) / "bin")
    )
    env["PIP_FIND_LINKS"] = " ".join(filter(None, [os.environ.get("PIP_FIND_LINKS"), str(index)]))

    done = subprocess.run(
        ["make", "install", f"PYTHON={python}"],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    tail = "\n".join(done.stdout.splitlines()[-15:] + done.stderr.splitlines()[-15:])
    assert done.returncode == 0, f"make install failed with {stock_pip.strip()}:\n{tail}"

    venv = clone / ".venv" / "bin"
    check = subprocess.run(
        [
            str(venv / "python"),
            "-c",
            "import httpx, h2, llama_cpp, litellm, chainlit, langgraph; print(httpx.__version__)",
        ],
        capture_output=True,
        text=True,
        env=env,
    )
    assert check.returncode == 0, check.stderr
    assert check.stdout.strip() == locked_version("httpx"), "the locked httpx, not the newer release"
    answer = subprocess.run(
        [str(venv / "radassist"), "classify", "fleischner", "--text", "6 mm solid nodule, smoker", "--json"],
        capture_output=True,
        text=True,
        env={**env, "RADASSIST_HOME": str(tmp_path / "home")},
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    assert "6-8 mm" in answer.stdout
