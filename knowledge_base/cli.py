"""``xiaoshen kb``: validate, build, stats, lifecycle, history, graph and FAQ import.

Every command reads the knowledge-base folder and catalog from the settings
(``XS_PATHS__KB_DIR``, ``XS_PATHS__CATALOG``) unless ``--kb-dir``/``--catalog``
are given.  User errors are raised as XiaoShenError subclasses, which
``xiaoshen`` prints as one line (exit 2); ``validate`` and ``import-faq`` exit 1
when they found problems.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated, Optional

import typer

from assistant.cli_options import ConfigOption

app = typer.Typer(
    help="Knowledge base: validate, build the index, stats, publish/retire, history, graph, FAQ import.",
    no_args_is_help=True,
)

KbDirOption = Annotated[Optional[Path], typer.Option("--kb-dir", help="item folder (default: settings paths.kb_dir)")]
CatalogOption = Annotated[
    Optional[Path], typer.Option("--catalog", help="service catalog TSV (default: settings paths.catalog)")
]
ItemArg = Annotated[str, typer.Argument(help="catalog id of the item, e.g. residence-permit-apply")]
ByOption = Annotated[Optional[str], typer.Option("--by", help="who makes the change (default: your user name)")]
BuildOption = Annotated[
    Optional[bool],
    typer.Option(
        "--build/--no-build",
        help="then build the index and publish a new artefact version, which every server switches to "
        "(default: when the item folder is the configured one, i.e. without --kb-dir)",
    ),
]


def _paths(config: Path | None, kb_dir: Path | None, catalog: Path | None) -> tuple[Path, Path]:
    """The item folder and catalog: the options when given, else the settings."""
    if kb_dir is not None and catalog is not None:
        return kb_dir, catalog
    from assistant.cli_options import settings_from

    settings = settings_from(config)
    return kb_dir or settings.paths.kb_dir, catalog or settings.paths.catalog


def _kb_dir(config: Path | None, kb_dir: Path | None) -> Path:
    """The item folder: ``--kb-dir`` when given, else the settings."""
    if kb_dir is not None:
        return kb_dir
    from assistant.cli_options import settings_from

    return settings_from(config).paths.kb_dir


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    from assistant.core.errors import InvalidInput

    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"{option} {value!r} is not a date; write it as YYYY-MM-DD") from None


@app.command()
def validate(
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
    catalog: CatalogOption = None,
    no_catalog: Annotated[bool, typer.Option("--no-catalog", help="skip catalog checks (coverage, names)")] = False,
    faq_dir: Annotated[
        Optional[Path], typer.Option("--faq-dir", help="FAQ collections to check (default: faq/ beside the item folder)")
    ] = None,
) -> None:
    """Check items (schema, catalog coverage, links, fields, dates, situations) and FAQ collections."""
    from knowledge_base.faq_import import check_collection
    from knowledge_base.loader import check, read_catalog

    kb, cat_path = _paths(config, kb_dir, catalog)
    entries = None if no_catalog else read_catalog(cat_path)
    report = check(kb, entries, require_all=entries is not None)
    collections_dir = faq_dir or kb.parent / "faq"
    collections = sorted(collections_dir.glob("*.jsonl")) if collections_dir.is_dir() else []
    problems = [*report.problems, *(p for c in collections for p in check_collection(c))]
    for p in problems:
        typer.echo(str(p))
    coverage = (
        f"{len(report.covered)}/{len(report.catalog_ids)} catalog ids covered"
        if entries is not None
        else "catalog not checked"
    )
    typer.echo(
        f"{len(report.item_ids)} items in {kb}; {coverage}; {len(collections)} FAQ collection(s); "
        f"{len(problems)} problem(s)"
    )
    if problems:
        raise typer.Exit(1)


@app.command()
def build(config: ConfigOption = None) -> None:
    """Build (or update) the retrieval index of the live items, with a progress bar."""
    import time

    from assistant.cli_options import settings_from
    from assistant.wiring import build_dialogue, build_stages
    from knowledge_base.loader import load_items

    settings = settings_from(config)
    t0 = time.perf_counter()
    total = len(load_items(settings.paths.kb_dir))
    stages = build_stages(settings, progress=True)
    # loading the dialogue embeds the answer units into the embedding cache too, so the
    # server's first start (and every later one) finds them there
    build_dialogue(settings, stages)
    seconds = time.perf_counter() - t0
    index_dir = settings.paths.index_dir / "kb"
    size = sum(p.stat().st_size for p in index_dir.rglob("*") if p.is_file()) if index_dir.is_dir() else 0
    embedder = stages.embedder.name if stages.embedder is not None else "-"
    typer.echo(
        f"indexed {len(stages.items)} live items of {total} "
        f"(retriever {type(stages.retriever).__name__}, embedder {embedder}) in {seconds:.1f} s; "
        f"index {index_dir} ({size / 1e6:.1f} MB)"
    )
    _write_artefact(settings, stages)


def _write_artefact(settings, stages) -> None:  # type: ignore[no-untyped-def]
    """Write the built index as a new artefact version (servers switch to it) and say which."""
    from assistant.wiring import write_artefact

    artefact, new = write_artefact(settings, stages)
    what = "published new artefact version" if new else "artefact unchanged, current version"
    typer.echo(f"{what} {artefact.version} (kb {artefact.kb_version[:12]}) in {artefact.path.parent}")


@app.command()
def versions(config: ConfigOption = None) -> None:
    """The artefact versions kept, the current one marked; roll back with ``kb use VERSION``."""
    from assistant.artefact import current_version, versions as all_versions
    from assistant.cli_options import settings_from

    root = settings_from(config).artefact_dir()
    current = current_version(root)
    found = all_versions(root)
    if not found:
        typer.echo(f"no artefact version in {root}; run 'xiaoshen kb build'")
        return
    for v in found:
        typer.echo(("* " if v == current else "  ") + v)


@app.command()
def use(
    version: Annotated[str, typer.Argument(help="a kept version (see 'xiaoshen kb versions')")],
    config: ConfigOption = None,
) -> None:
    """Make a kept artefact version current (a rollback): every server switches to it."""
    from assistant.artefact import open_artefact, publish
    from assistant.cli_options import settings_from

    root = settings_from(config).artefact_dir()
    artefact = open_artefact(root, version)  # hash-checked before any server sees it
    publish(root, version)
    typer.echo(f"current artefact version is now {artefact.version} (kb {artefact.kb_version[:12]})")


@app.command()
def stats(
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
    catalog: CatalogOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON instead of tables")] = False,
) -> None:
    """Coverage per field and per domain, items by status, counts of aliases, FAQs and English."""
    from knowledge_base.loader import load_items, read_catalog
    from knowledge_base.stats import compute, render

    kb, cat_path = _paths(config, kb_dir, catalog)
    entries = read_catalog(cat_path) if cat_path.is_file() else []
    if not entries:
        typer.echo(f"(catalog {cat_path} not found: coverage against the catalog is not shown)", err=True)
    figures = compute(load_items(kb, strict=False), entries)
    if as_json:
        typer.echo(json.dumps(figures.to_json(), ensure_ascii=False, indent=2))
    else:
        typer.echo(render(figures))


@app.command()
def publish(
    item: ItemArg,
    effective_from: Annotated[
        Optional[str], typer.Option("--effective-from", help="YYYY-MM-DD the item goes live (default: kept, else today)")
    ] = None,
    by: ByOption = None,
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
    catalog: CatalogOption = None,
    build_after: BuildOption = None,
) -> None:
    """Publish a draft (or re-publish a retired item); refused when it does not validate.

    Then (see ``--build``) the index is brought up to date (only the item's chunks are
    embedded) and published as a new artefact version: every running server answers
    from it within seconds."""
    from knowledge_base import lifecycle
    from knowledge_base.loader import read_catalog, service_today

    kb, cat_path = _paths(config, kb_dir, catalog)
    entries = read_catalog(cat_path)
    author = by or lifecycle.default_author()
    done = lifecycle.publish(kb, item, by=author, effective_from=_date(effective_from, "--effective-from"), catalog=entries)
    live = "live now" if done.is_live(service_today()) else f"live from {done.effective_from}"
    typer.echo(f"{item}: published by {author}, {live}")
    _build_after(config, kb_dir, build_after)


@app.command()
def retire(
    item: ItemArg,
    effective_to: Annotated[
        Optional[str], typer.Option("--effective-to", help="YYYY-MM-DD, last live day (default: today; future = scheduled)")
    ] = None,
    reason: Annotated[str, typer.Option("--reason", help="why, recorded in the history")] = "",
    by: ByOption = None,
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
    build_after: BuildOption = None,
) -> None:
    """Retire a published item now, or schedule its retirement with a future --effective-to.

    Then (see ``--build``) a new artefact version without the item is published."""
    from knowledge_base import lifecycle

    kb = _kb_dir(config, kb_dir)
    author = by or lifecycle.default_author()
    done = lifecycle.retire(kb, item, by=author, effective_to=_date(effective_to, "--effective-to"), reason=reason)
    if done.status == "retired":
        typer.echo(f"{item}: retired by {author} (effective to {done.effective_to})")
    else:
        typer.echo(f"{item}: retirement scheduled by {author}; live until {done.effective_to}")
    _build_after(config, kb_dir, build_after)


def _build_after(config: Path | None, kb_dir: Path | None, wanted: bool | None) -> None:
    """Rebuild and publish a new artefact version after a lifecycle change (see BuildOption)."""
    if not (wanted if wanted is not None else kb_dir is None):
        return
    from assistant.cli_options import settings_from
    from assistant.wiring import build_stages

    settings = settings_from(config)
    if kb_dir is not None and kb_dir.resolve() != settings.paths.kb_dir.resolve():
        from assistant.core.errors import InvalidInput

        raise InvalidInput(
            f"--build publishes the configured knowledge base ({settings.paths.kb_dir}), not {kb_dir}; "
            "set XS_PATHS__KB_DIR to build another"
        )
    _write_artefact(settings, build_stages(settings))


@app.command()
def history(
    item: ItemArg,
    no_git: Annotated[bool, typer.Option("--no-git", help="only the history recorded in the item file")] = False,
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
) -> None:
    """Who changed the item, when and what: its recorded history plus the git log of its file."""
    from knowledge_base import lifecycle
    from knowledge_base.stats import table

    kb = _kb_dir(config, kb_dir)
    current = lifecycle.load_one(kb, item)
    entries, note = lifecycle.history(kb, item, with_git=not no_git)
    span = f"{current.effective_from or '-'} .. {current.effective_to or '-'}"
    typer.echo(f"{item} ({current.name}): status {current.status}, effective {span}, updated {current.updated}")
    rows = [(e.at.isoformat(sep=" "), e.by, e.source + (f" {e.commit}" if e.commit else ""), e.change) for e in entries]
    typer.echo(table(("when", "who", "source", "what"), rows) if rows else "no history recorded")
    if note and not no_git:
        typer.echo(f"(git: {note})")


@app.command()
def graph(
    item: Annotated[Optional[str], typer.Argument(help="show the links of this item")] = None,
    department: Annotated[Optional[str], typer.Option("--department", help="list the items of a department")] = None,
    dot: Annotated[Optional[Path], typer.Option("--dot", help="write the whole graph as Graphviz DOT to this file")] = None,
    all_items: Annotated[bool, typer.Option("--all", help="include drafts and retired items")] = False,
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
) -> None:
    """Bundles, steps, prerequisites, related items and departments of the knowledge graph."""
    from assistant.core.errors import InvalidInput
    from knowledge_base.graph import KnowledgeBase

    if item is None and department is None and dot is None:
        raise InvalidInput("pass an ITEM, --department NAME or --dot FILE")
    kb = KnowledgeBase.load(_kb_dir(config, kb_dir))
    live_only = not all_items
    if dot is not None:
        text = kb.to_dot(live_only=live_only)
        dot.write_text(text, encoding="utf-8")
        typer.echo(f"wrote {text.count(' -> ')} edges to {dot}")
    if department is not None:
        for i in kb.items_of_department(department, live_only=live_only):
            typer.echo(f"{i.id}  {i.name}")
    if item is not None:
        it = kb.get(item)
        typer.echo(f"{it.id} ({it.name}), {it.kind}, {it.department}, {it.status}")
        if it.kind == "bundle":
            typer.echo("steps:")
            for s in kb.bundle_steps(item, live_only=live_only):
                if s.item is not None:
                    target = f"{s.item.id} ({s.item.name})"
                elif s.step.item:
                    target = f"{s.step.item} (not live)"
                else:
                    target = "-"
                needs = f"; needs: {s.step.needs}" if s.step.needs else ""
                typer.echo(f"  {s.position}. {s.step.title}: {target}{needs}")
        for label, found in (
            ("in bundles", kb.bundles_of(item, live_only=live_only)),
            ("prerequisite chain", kb.prerequisite_chain(item, live_only=live_only)),
            ("needed by", kb.dependents(item, live_only=live_only)),
            ("related", kb.related(item, live_only=live_only)),
        ):
            typer.echo(f"{label}: " + (", ".join(f"{i.id} ({i.name})" for i in found) or "-"))


@app.command("import-faq")
def import_faq(
    file: Annotated[Path, typer.Argument(help="JSONL, CSV or XLSX with question/answer columns")],
    fmt: Annotated[Optional[str], typer.Option("--format", help="jsonl|csv|xlsx (default: from the suffix)")] = None,
    mapping: Annotated[
        Optional[str],
        typer.Option("--map", help="columns: question=Q,answer=A,id=…,title=…,department=…"),
    ] = None,
    attach_to: Annotated[Optional[str], typer.Option("--attach-to", help="append the FAQs to this item")] = None,
    collection: Annotated[
        Optional[str], typer.Option("--collection", help="write a corpus-format collection knowledge_base/faq/NAME.jsonl")
    ] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="collection file to write instead of knowledge_base/faq/NAME.jsonl")] = None,
    encoding: Annotated[str, typer.Option("--encoding", help="text encoding of JSONL/CSV (e.g. gbk)")] = "utf-8-sig",
    sheet: Annotated[Optional[str], typer.Option("--sheet", help="XLSX sheet (default: the first)")] = None,
    by: ByOption = None,
    config: ConfigOption = None,
    kb_dir: KbDirOption = None,
) -> None:
    """Import a question-answer collection as item FAQs or as a separate corpus collection."""
    from assistant.core.errors import InvalidInput
    from knowledge_base import faq_import, lifecycle

    if attach_to and (collection or out):
        raise InvalidInput("pass either --attach-to ITEM or --collection NAME/--out PATH, not both")
    if not attach_to and not collection and out is None:
        raise InvalidInput("pass --attach-to ITEM (item FAQs) or --collection NAME (a separate corpus collection)")
    result = faq_import.read_rows(file, fmt=fmt, mapping=faq_import.parse_mapping(mapping), encoding=encoding, sheet=sheet)
    if attach_to:
        kb = _kb_dir(config, kb_dir)
        done = faq_import.attach_to_item(
            kb, attach_to, result.rows, by=by or lifecycle.default_author(), source=file.name
        )
    else:
        name = faq_import.check_collection_name(collection or (out.stem if out else ""))
        target = out or Path(__file__).resolve().parent / "faq" / f"{name}.jsonl"
        done = faq_import.write_collection(target, name, result.rows)
    bad = [*result.bad, *done.skipped]
    for b in sorted(bad, key=lambda b: b.line):
        typer.echo(f"{file.name}: {b}", err=True)
    typer.echo(
        f"{done.destination}: {done.added} added, {done.replaced} replaced; "
        f"{len(result.rows) + len(result.bad)} rows read, {len(bad)} not imported"
    )
    if bad:
        raise typer.Exit(1)
