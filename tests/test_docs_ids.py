"""Every requirement id and every document the repository cites can be looked up in it.

Code, tests, scripts, benchmarks and docs cite the threat model's ids (adversaries ``A<n>``,
mitigations ``M-<nn>``, reliability requirements ``R-<nn>``), the bad-input cases ``T-<nn>``
and other documents by file name and section. A citation that leads nowhere (an id nobody
defined, a manual that is not in the repository, a section renumbered away) tells the reader
that a rule exists without saying what it is, so it fails here, with every offending file
and line at once.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THREAT_MODEL = ROOT / "docs" / "threat-model.md"
CATALOGUE = ROOT / "docs" / "security-tests.md"
THIS_FILE = Path(__file__).resolve()

#: What is scanned: everything the project wrote (not .venv/, data/, keys/ or caches).
SCANNED = (
    "README.md",
    "pyproject.toml",
    "babel.cfg",
    ".ci",
    "bench",
    "bot",
    "docs",
    "handlers",
    "locales",
    "scripts",
    "storage",
    "tests",
)
TEXT_SUFFIXES = {".py", ".md", ".sql", ".toml", ".cfg", ".csv", ".po", ".pot", ".txt", ".sh", ""}
SKIPPED_DIRS = {"__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".hypothesis"}

#: A cited id: ``M-05``, ``M-13b``, ``R-09``, ``T-44``, ``A7``.
CITED_ID = re.compile(r"\b(?:[MRT]-\d{2}[a-d]?|A\d{1,2})\b")
#: A definition: the first cell of a table row in docs/threat-model.md.
DEFINED_ID = re.compile(r"^\|\s*((?:[MR]-\d{2}[a-d]?|A\d{1,2}))\s*\|", re.MULTILINE)
#: A bad-input case: the first cell of a table row in docs/security-tests.md.
DEFINED_CASE = re.compile(r"^\|\s*(T-\d{2})\s*\|", re.MULTILINE)
#: A cited document: ``docs/performance.md``, ``../bench/README.md``, ``quechua.md``.
CITED_DOC = re.compile(r"(?<![\w/.-])((?:\.{1,2}/)*(?:[\w-]+/)*[\w.-]*[\w-]\.md)\b")
#: A cited section of a document: ``threat-model.md §4``, ``security-tests.md`` §4.1.
CITED_SECTION = re.compile(
    r"(?<![\w/.-])((?:[\w-]+/)*[\w.-]*[\w-]\.md)`?\)?,? ?§ ?(\d+(?:\.\d+)*)"
)
#: The external style manual, cited by name without a file suffix.
CITED_MANUAL = re.compile(r"\bhouse[- ]style\b", re.IGNORECASE)

#: Files that branch ``qu`` (issue #17) moves off the external Quechua manual onto
#: docs/translating.md; until it is merged they may still name that manual, and only that one.
AWAITING_QU = {
    "bot/i18n.py",
    "bot/i18n_check.py",
    "docs/translating.md",
    "locales/glossary.csv",
}
QU_MANUAL = "quechua.md"

#: Design documents whose "where it is enforced" cells name files of the repository.
DESIGN_DOCS = ("threat-model.md", "architecture.md", "telegram-limits.md")
#: A repository path in backticks: ``handlers/send.py``, ``bot/services/{claims,pin}.py``.
NAMED_PATH = re.compile(
    r"`((?:bot|handlers|storage|tests|scripts|bench|docs|locales)/[\w./{},<>-]*)`"
)

WHERE_TO_DEFINE = (
    "define A<n>, M-<nn> and R-<nn> ids as a table row '| <id> | ... |' in docs/threat-model.md "
    "(statement and where it is enforced), T-ids in docs/security-tests.md with their test"
)


def _files() -> Iterator[Path]:
    for name in SCANNED:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for found in sorted(path.rglob("*")):
                if (
                    found.is_file()
                    and found.suffix in TEXT_SUFFIXES
                    and not SKIPPED_DIRS.intersection(found.relative_to(ROOT).parts)
                    and found.resolve() != THIS_FILE
                ):
                    yield found


def _lines() -> Iterator[tuple[str, int, str]]:
    """(relative path, line number, line) of every scanned text file."""
    for path in _files():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        relative = path.relative_to(ROOT).as_posix()
        for number, line in enumerate(text.splitlines(), start=1):
            yield relative, number, line


def _defined_ids() -> list[str]:
    return DEFINED_ID.findall(THREAT_MODEL.read_text(encoding="utf-8"))


def _defined_cases() -> list[str]:
    return DEFINED_CASE.findall(CATALOGUE.read_text(encoding="utf-8"))


def _markdown_files() -> set[Path]:
    return {path.resolve() for path in _files() if path.suffix == ".md"}


def _resolves(citing: str, cited: str, documents: set[Path]) -> bool:
    """Whether ``cited`` names a document of the repository, seen from file ``citing``."""
    candidates = [(ROOT / citing).parent / cited, ROOT / cited, ROOT / "docs" / cited]
    if any(candidate.resolve() in documents for candidate in candidates):
        return True
    if "/" not in cited:  # a bare name: any document of that name
        return any(document.name == cited for document in documents)
    return False


def _undefined_ids() -> list[str]:
    known = set(_defined_ids()) | set(_defined_cases())
    return [
        f"{path}:{number}: {found} is not defined"
        for path, number, line in _lines()
        for found in CITED_ID.findall(line)
        if found not in known
    ]


def _dangling_documents() -> list[str]:
    documents = _markdown_files()
    problems = []
    for path, number, line in _lines():
        for cited in CITED_DOC.findall(line):
            if _resolves(path, cited, documents):
                continue
            if path in AWAITING_QU and cited == QU_MANUAL:
                continue
            problems.append(f"{path}:{number}: cites {cited}, which is not in the repository")
        problems += [
            f"{path}:{number}: cites the house-style manual; cite docs/architecture.md"
            for _ in CITED_MANUAL.findall(line)
        ]
    return problems


def _headings(document: Path) -> set[str]:
    """Section numbers of ``document``'s headings: ``## 4. Data`` and ``## 4.1 Identity``."""
    text = document.read_text(encoding="utf-8")
    return set(re.findall(r"^#{1,6} (\d+(?:\.\d+)*)\.? ", text, re.MULTILINE))


def _missing_sections() -> list[str]:
    documents = _markdown_files()
    problems = []
    for path, number, line in _lines():
        for cited, section in CITED_SECTION.findall(line):
            matches = [
                document
                for document in documents
                if document.name == Path(cited).name and _resolves(path, cited, {document})
            ]
            if matches and not any(section in _headings(document) for document in matches):
                problems.append(f"{path}:{number}: {cited} has no section {section}")
    return problems


def test_every_cited_id_is_defined() -> None:
    problems = _undefined_ids()
    assert not problems, f"{len(problems)} undefined id(s); {WHERE_TO_DEFINE}:\n" + "\n".join(
        problems
    )


def test_every_cited_document_is_in_the_repository() -> None:
    problems = _dangling_documents()
    assert not problems, (
        f"{len(problems)} citation(s) of documents that are not in the repository; cite "
        "docs/threat-model.md, docs/architecture.md, docs/telegram-limits.md, "
        "docs/translating.md or docs/performance.md instead:\n" + "\n".join(problems)
    )


def test_every_cited_section_exists() -> None:
    problems = _missing_sections()
    assert not problems, "sections renumbered or never written:\n" + "\n".join(problems)


def _expand(path: str) -> list[str]:
    """``a/{b,c}.py`` -> ``a/b.py``, ``a/c.py``; placeholders such as ``<feature>`` are skipped."""
    if "<" in path:
        return []
    braces = re.search(r"\{([^}]*)\}", path)
    if braces is None:
        return [path]
    return [path.replace(braces[0], part) for part in braces[1].split(",")]


def test_files_named_in_the_design_docs_exist() -> None:
    """Code moves; the threat model's "enforced in" column must move with it."""
    named = [
        (name, path)
        for name in DESIGN_DOCS
        for found in NAMED_PATH.findall((ROOT / "docs" / name).read_text(encoding="utf-8"))
        for path in _expand(found)
    ]
    assert len(named) > 50
    assert [f"docs/{name}: {path}" for name, path in named if not (ROOT / path).exists()] == []


def test_files_awaiting_the_quechua_branch_still_need_their_exemption() -> None:
    """Once branch ``qu`` has moved a file off the external manual, drop it from the set."""
    citing = {path for path, _, line in _lines() if QU_MANUAL in line}
    stale = sorted(AWAITING_QU - citing)
    assert not stale, f"no longer cite {QU_MANUAL}: remove from AWAITING_QU in {__name__}: {stale}"


def test_each_id_is_defined_once_and_every_series_is_complete() -> None:
    defined = _defined_ids()
    assert [name for name, count in Counter(defined).items() if count > 1] == []
    expected = (
        {f"A{n}" for n in range(1, 11)}
        | {f"M-{n:02d}" for n in range(1, 21)}
        | {f"M-13{part}" for part in "abcd"}
        | {f"R-{n:02d}" for n in range(1, 15)}
    )
    assert expected - set(defined) == set()
    assert {f"T-{n:02d}" for n in range(1, 50)} - set(_defined_cases()) == set()


def test_every_mitigation_and_requirement_says_where_it_is_enforced() -> None:
    rows = [
        line
        for line in THREAT_MODEL.read_text(encoding="utf-8").splitlines()
        if re.match(r"^\|\s*[MR]-\d{2}[a-d]?\s*\|", line)
    ]
    missing = [row.split("|")[1].strip() for row in rows if not row.split("|")[-2].strip()]
    assert rows
    assert missing == []


def test_the_checks_catch_what_they_are_for() -> None:
    """The patterns find an undefined id and a missing document (else it could pass vacuously)."""
    assert CITED_ID.findall("see M-99, R-07 and A7; not R-2016-0007") == ["M-99", "R-07", "A7"]
    assert "M-99" not in _defined_ids()
    assert CITED_DOC.findall("(see `security.md` §5, ../bench/README.md)") == [
        "security.md",
        "../bench/README.md",
    ]
    documents = _markdown_files()
    assert _resolves("docs/performance.md", "../bench/README.md", documents)
    assert not _resolves("bot/root/app.py", "security.md", documents)
    assert CITED_MANUAL.search("(House style §7)")
    assert CITED_SECTION.findall("(`security-tests.md` §4.1, threat-model.md §9)") == [
        ("security-tests.md", "4.1"),
        ("threat-model.md", "9"),
    ]
    assert "9" in _headings(THREAT_MODEL)
    assert "4.1" in _headings(CATALOGUE)
    assert _expand("bot/services/{claims,pin}.py") == [
        "bot/services/claims.py",
        "bot/services/pin.py",
    ]
    assert _expand("handlers/<feature>.py") == []
