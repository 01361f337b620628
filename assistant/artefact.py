"""The versioned index artefact: what every server answers from, written once, read-only.

``xiaoshen kb build`` (and a publish) writes a new *version*: one folder holding

    items/           the live items' YAML files (the knowledge base the index was built from)
    index/           the retrieval index (BM25, chunk vectors and FAISS, analyzer dictionary)
    intents/         the intent model and its manifest (``xiaoshen intents train``)
    policy.json      the fitted action-policy thresholds
    manifest.json    version, knowledge-base version, embedder, and the sha256 of every file above

and then points ``CURRENT`` (a one-line file, replaced atomically) at it.  A server
opens the version ``CURRENT`` names, checks every hash before it uses a byte of it
(:func:`open_artefact`), and watches ``CURRENT`` to switch to the next version while it
serves (``assistant.api.artefact_watch``).  A version folder is never changed after
``CURRENT`` pointed at it, so several processes, or machines sharing the folder, read it
without locks; old versions are pruned only when they are neither current nor among the
``artefact.keep`` newest.

The *knowledge-base version* (``kb_version``) is the hash of the live items' files:
equal items give the same ``kb_version`` whatever the build, and an unchanged build
publishes no new version.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from assistant.core.errors import XiaoShenError

#: layout version of an artefact folder (bumped when the layout changes).
FORMAT = 1
MANIFEST = "manifest.json"
CURRENT = "CURRENT"


class ArtefactError(XiaoShenError):
    """An artefact is missing, incomplete or altered; a server refuses to load it."""

    code = "artefact_invalid"
    http_status = 503


@dataclass(frozen=True)
class Artefact:
    """One verified version (paths inside its folder and its manifest)."""

    path: Path
    manifest: Mapping[str, object]

    @property
    def version(self) -> str:
        """The version id (the folder name): ``<UTC time>-<first 8 of kb_version>``."""
        return str(self.manifest["version"])

    @property
    def kb_version(self) -> str:
        """Hash of the live items' files the version was built from."""
        return str(self.manifest["kb_version"])

    @property
    def embedder(self) -> str:
        """Name of the embedder the dense vectors were made with."""
        return str(self.manifest.get("embedder", ""))

    @property
    def items_dir(self) -> Path:
        return self.path / "items"

    @property
    def index_dir(self) -> Path:
        return self.path / "index"

    @property
    def intent_model(self) -> Path | None:
        """The intent model file, or None when the version carries none (rules classifier)."""
        name = self.manifest.get("intent_model")
        return self.path / "intents" / str(name) if name else None

    @property
    def policy(self) -> Path:
        return self.path / "policy.json"


def sha256_of(path: Path) -> str:
    """The sha256 of a file's bytes, hex."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def kb_version_of(item_hashes: Mapping[str, str]) -> str:
    """The knowledge-base version of items with these hashes (item id -> hash; order-free)."""
    text = "\n".join(f"{k}={v}" for k, v in sorted(item_hashes.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def current_version(root: Path) -> str | None:
    """The version ``CURRENT`` names, or None before the first build."""
    try:
        text = (Path(root) / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def _files(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` but the manifest: relative path -> sha256."""
    return {
        p.relative_to(folder).as_posix(): sha256_of(p)
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p != folder / MANIFEST
    }


def open_artefact(root: Path, version: str | None = None) -> Artefact:
    """The verified version ``version`` (default: the current one) under ``root``.

    Every file of the manifest must be there with its sha256, and no other file may
    be: anything else is ArtefactError naming the file and the fix.
    """
    root = Path(root)
    version = version or current_version(root)
    if version is None:
        raise ArtefactError(
            f"no index artefact in {root} (no {CURRENT} file); build one with 'xiaoshen kb build' "
            "or point XS_ARTEFACT__DIR at the published artefacts"
        )
    folder = root / version
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ArtefactError(f"artefact version {version} in {root} has no readable manifest ({e}); rebuild with 'xiaoshen kb build'") from e
    if manifest.get("format") != FORMAT or manifest.get("version") != version:
        raise ArtefactError(
            f"artefact {folder} has format {manifest.get('format')!r} and version {manifest.get('version')!r}; "
            f"this code reads format {FORMAT}; rebuild with 'xiaoshen kb build'"
        )
    expected: dict[str, str] = dict(manifest.get("files", {}))
    found = _files(folder)
    for name, digest in sorted(expected.items()):
        if name not in found:
            raise ArtefactError(f"artefact {folder} lacks {name}; copy the whole version folder again or rebuild")
        if found[name] != digest:
            raise ArtefactError(
                f"artefact {folder}: {name} has sha256 {found[name][:12]}…, the manifest says {digest[:12]}…; "
                "the file was altered or cut short: copy the version again or rebuild"
            )
    extra = sorted(set(found) - set(expected))
    if extra:
        raise ArtefactError(f"artefact {folder} holds files its manifest does not list ({', '.join(extra[:5])}); rebuild")
    return Artefact(folder, manifest)


def write_version(
    root: Path,
    *,
    item_files: Sequence[Path],
    index_dir: Path,
    intent_model: Sequence[Path],
    policy: Path,
    kb_version: str,
    embedder: str,
    keep: int = 5,
    now: datetime | None = None,
) -> tuple[Artefact, bool]:
    """Write a new version from these files and make it current; (artefact, whether new).

    ``intent_model`` is the model file then its companions (manifest…), empty for none.
    When the current version holds exactly these bytes nothing is written and the
    current one is returned (``False``).  The version is assembled in a hidden folder,
    verified, renamed into place, and only then does ``CURRENT`` move (an atomic
    rename), so no reader ever sees half a version.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    tmp = root / f".tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        (tmp / "items").mkdir()
        for path in item_files:
            shutil.copy2(path, tmp / "items" / Path(path).name)
        shutil.copytree(index_dir, tmp / "index")
        if intent_model:
            (tmp / "intents").mkdir()
            for path in intent_model:
                shutil.copy2(path, tmp / "intents" / Path(path).name)
        shutil.copy2(policy, tmp / "policy.json")
        files = _files(tmp)
        previous = current_version(root)
        if previous is not None:
            try:
                current = open_artefact(root, previous)
            except ArtefactError:
                current = None  # a broken current version is replaced, not reused
            if current is not None and dict(current.manifest.get("files", {})) == files:
                shutil.rmtree(tmp)
                return current, False
        stamp = (now or datetime.now(timezone.utc)).strftime("%Y%m%dT%H%M%S%fZ")
        version = f"{stamp}-{kb_version[:8]}"
        manifest = {
            "format": FORMAT,
            "version": version,
            "kb_version": kb_version,
            "previous": previous,
            "created_at": (now or datetime.now(timezone.utc)).isoformat(),
            "embedder": embedder,
            "items": len(item_files),
            "intent_model": Path(intent_model[0]).name if intent_model else None,
            "files": files,
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.rename(root / version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    artefact = open_artefact(root, version)  # what servers will check, checked once here
    publish(root, version)
    prune(root, keep=keep)
    return artefact, True


def publish(root: Path, version: str) -> None:
    """Make ``version`` the current one (an atomic replace of ``CURRENT``); rollback is
    publishing an older kept version."""
    root = Path(root)
    if not (root / version / MANIFEST).is_file():
        raise ArtefactError(f"no artefact version {version!r} in {root}; list the versions with 'xiaoshen kb versions'")
    tmp = root / f".{CURRENT}.{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.write_text(version + "\n", encoding="utf-8")
    os.replace(tmp, root / CURRENT)


def versions(root: Path) -> list[str]:
    """Every version folder under ``root``, oldest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".") and (p / MANIFEST).is_file())


def prune(root: Path, *, keep: int) -> list[str]:
    """Delete versions older than the ``keep`` newest, never the current one; the deleted ones.

    A server still loading a pruned version fails its hash check and keeps the version
    it has, so pruning never breaks a running server.
    """
    current = current_version(root)
    all_versions = versions(root)
    doomed = [v for v in all_versions[: max(0, len(all_versions) - keep)] if v != current]
    for v in doomed:
        shutil.rmtree(Path(root) / v, ignore_errors=True)
    return doomed
