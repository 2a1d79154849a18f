"""The README's set-up installs exactly what the locks say, whatever pip and the index are.

Issue #9: pip 23.2 (the pip bundled with Python 3.11.7 and 3.12.1) read ``pytest-cov``'s
``coverage[toml]`` dependency as a second, unpinned requirement and took the newest
coverage on the index, which ``--require-hashes`` refused: the quick start broke by itself
the day coverage 7.18.0 was released. These tests rebuild that situation offline: wheels
made here (``gamma`` needs ``alpha[fast]``, as pytest-cov needs ``coverage[toml]``), a local
index that also serves a newer ``alpha`` than the lock pins, and a throwaway venv with the
interpreter's own bundled pip, the oldest pip the README promises to work with.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
import subprocess
import sys
import textwrap
import venv
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_dev() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaski_dev", ROOT / "scripts" / "devtool.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


dev = _load_dev()

#: A PEP 517 backend in the project folder itself, so the editable install needs no
#: setuptools from the network (the real project gets it from requirements-build.lock).
_BACKEND = '''
"""Build backend of the test project: an editable wheel holding one .pth file."""
import base64, hashlib, pathlib, zipfile

def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"

def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    root = pathlib.Path(__file__).resolve().parent
    info = "tinyproj-0.1.dist-info"
    files = {
        "tinyproj.pth": (str(root) + "\\n").encode(),
        f"{info}/METADATA": b"Metadata-Version: 2.1\\nName: tinyproj\\nVersion: 0.1\\n",
        f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\n"
        b"Tag: py3-none-any\\n",
    }
    name = "tinyproj-0.1-py3-none-any.whl"
    lines = [_record_line(path, data) for path, data in files.items()]
    lines.append(f"{info}/RECORD,,")
    with zipfile.ZipFile(pathlib.Path(wheel_directory) / name, "w") as wheel:
        for path, data in files.items():
            wheel.writestr(path, data)
        wheel.writestr(f"{info}/RECORD", "\\n".join(lines) + "\\n")
    return name

build_wheel = build_editable

def build_sdist(sdist_directory, config_settings=None):
    raise NotImplementedError
'''


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _wheel(
    folder: Path, name: str, version: str, *, requires: tuple[str, ...] = (), extra: str = ""
) -> Path:
    """Write a minimal pure-Python wheel ``name-version`` and return its path."""
    info = f"{name}-{version}.dist-info"
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if extra:
        metadata.append(f"Provides-Extra: {extra}")
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    files = {
        f"{name}/__init__.py": f"VERSION = {version!r}\n".encode(),
        f"{info}/METADATA": ("\n".join(metadata) + "\n").encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    lines = [_record_line(path, data) for path, data in files.items()]
    lines.append(f"{info}/RECORD,,")
    path = folder / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as wheel:
        for member, data in files.items():
            wheel.writestr(member, data)
        wheel.writestr(f"{info}/RECORD", "\n".join(lines) + "\n")
    return path


def _pin(wheel: Path, requirement: str) -> str:
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    return f"{requirement} \\\n    --hash=sha256:{digest}\n"


class Setup:
    """A local index, a project folder with its locks, and a venv with the bundled pip."""

    def __init__(self, base: Path) -> None:
        self.index = base / "index"
        self.project = base / "project"
        self.venv = base / "venv"
        self.index.mkdir()
        self.project.mkdir()
        self.wheels = {
            "alpha": _wheel(
                self.index, "alpha", "1.0", extra="fast", requires=('beta; extra == "fast"',)
            ),
            "beta": _wheel(self.index, "beta", "1.0"),
            "gamma": _wheel(self.index, "gamma", "1.0", requires=("alpha[fast]>=1.0",)),
        }
        # Released after the lock was written, as coverage 7.18.0 was.
        _wheel(self.index, "alpha", "1.1", extra="fast", requires=('beta; extra == "fast"',))
        (self.project / "tinybackend.py").write_text(_BACKEND, encoding="utf-8")
        (self.project / "pyproject.toml").write_text(
            textwrap.dedent("""
                [build-system]
                requires = []
                build-backend = "tinybackend"
                backend-path = ["."]
            """),
            encoding="utf-8",
        )
        (self.project / dev.BUILD_LOCK).write_text("# nothing to build with\n", encoding="utf-8")
        venv.EnvBuilder(with_pip=True).create(self.venv)
        bin_dir = self.venv / ("Scripts" if os.name == "nt" else "bin")
        self.python = bin_dir / ("python.exe" if os.name == "nt" else "python")

    def lock(self, *names: str) -> str:
        """Write a lock pinning `names` to their 1.0 wheels; return its file name."""
        text = "".join(_pin(self.wheels[name], f"{name}==1.0") for name in names)
        (self.project / "test.lock").write_text(text, encoding="utf-8")
        return "test.lock"

    def version_of(self, name: str) -> str:
        code = f"import importlib.metadata as m; print(m.version({name!r}))"
        result = subprocess.run(  # noqa: S603 - our own venv's interpreter
            [self.python, "-c", code], capture_output=True, text=True, check=True
        )
        return result.stdout.strip()

    def pip_version(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.version_of("pip").split(".")[:2])


@pytest.fixture
def setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Setup:
    """Pip sees only the local index: no configuration files, no other index."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "index"))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    return Setup(tmp_path)


def test_bundled_pip_installs_the_locked_version_while_the_index_serves_a_newer_one(
    setup: Setup,
) -> None:
    lock = setup.lock("alpha", "beta", "gamma")

    dev.install_lock(setup.python, setup.project, lock)

    assert setup.version_of("alpha") == "1.0"
    assert setup.version_of("gamma") == "1.0"
    assert setup.version_of("tinyproj") == "0.1"


def test_the_fixture_reproduces_the_failure_of_resolving_installs_on_old_pip(
    setup: Setup,
) -> None:
    """Without --no-deps the same lock fails on pip < 23.3, so the test above can fail."""
    lock = setup.lock("alpha", "beta", "gamma")
    command = [str(setup.python), "-m", "pip", "install", "--require-hashes", "-r", lock]
    result = subprocess.run(  # noqa: S603 - our own venv's pip
        command, cwd=setup.project, capture_output=True, text=True, check=False
    )
    if setup.pip_version() >= (23, 3):
        # Newer pips honour the pin of an extra's base; what matters is the locked version.
        assert result.returncode == 0, result.stderr
        assert setup.version_of("alpha") == "1.0"
    else:
        assert result.returncode != 0
        assert "alpha[fast]" in result.stderr


def test_an_incomplete_lock_fails_with_one_readable_reason(setup: Setup) -> None:
    lock = setup.lock("beta", "gamma")  # alpha, which gamma needs, is missing

    with pytest.raises(dev.SetupError) as raised:
        dev.install_lock(setup.python, setup.project, lock)

    message = str(raised.value)
    assert "pip check" in message
    assert len(message.splitlines()) == 2


def test_a_pin_the_index_cannot_serve_names_the_failed_step(setup: Setup) -> None:
    (setup.project / "test.lock").write_text(
        "alpha==2.0 \\\n    --hash=sha256:" + "0" * 64 + "\n", encoding="utf-8"
    )

    with pytest.raises(dev.SetupError, match=r"locked dependencies from test\.lock"):
        dev.install_lock(setup.python, setup.project, "test.lock")


def test_an_old_python_is_refused_in_one_line_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = r"needs Python 3\.11 or newer; this is Python 3\.10\.4"
    with pytest.raises(dev.SetupError, match=expected):
        dev.check_python((3, 10, 4, "final", 0))
    dev.check_python((3, 11, 0, "final", 0))

    original = dev.check_python
    monkeypatch.setattr(dev, "check_python", lambda: original((3, 9, 1)))
    assert dev.main(["test"]) == 1
    error = capsys.readouterr().err
    assert error.startswith("dev.py: Chaski needs Python 3.11 or newer")
    assert "Traceback" not in error
    assert len(error.splitlines()) == 2


def test_every_lock_is_installed_without_resolution_and_checked() -> None:
    commands = dev.pip_install_commands(Path(sys.executable), ROOT, "requirements-dev.lock")
    installs = [command for command in commands if "install" in command]
    assert installs
    assert all("--no-deps" in command for command in installs)
    assert all("--require-hashes" in command for command in installs if "-r" in command)
    assert "--no-build-isolation" in installs[-1]
    assert commands[-1][-1] == "check"
    lock_text = (ROOT / dev.BUILD_LOCK).read_text(encoding="utf-8")
    assert "setuptools==" in lock_text
    assert "--hash=sha256:" in lock_text


def _report(module: str, **extra: object) -> dict[str, object]:
    """A coverage JSON report where every gated module is whole, then ``module`` gets ``extra``."""
    whole = {"num_branches": 4, "covered_branches": 4, "num_statements": 9, "covered_lines": 9}
    files: dict[str, dict[str, object]] = {
        name: {"summary": dict(whole), "missing_lines": [], "missing_branches": []}
        for name in dev.FULL_BRANCH_MODULES
    }
    files[module].update(extra)
    return {"totals": {"covered_lines": 99, "num_statements": 100}, "files": files}


def test_the_coverage_gate_names_the_lines_and_arcs_a_gated_module_missed() -> None:
    """A cut CI log must still say which arc was missed, not only that one was (stop 20)."""
    module = dev.FULL_BRANCH_MODULES[0]
    summary = {"num_branches": 4, "covered_branches": 3, "num_statements": 9, "covered_lines": 8}
    report = _report(module, summary=summary, missing_lines=[17], missing_branches=[[21, 23]])

    problems = dev.coverage_gate(report)

    assert len(problems) == 1
    assert problems[0].startswith(f"{module}: ")
    assert "missed 17, 21->23" in problems[0]
    assert dev.coverage_gate(_report(module)) == []
