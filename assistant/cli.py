"""The ``xiaoshen`` command line.

Groups are defined by the package that owns them (``kb`` in knowledge_base,
``eval`` in eval, ``intents`` in intents) and registered here; every command
builds Settings once and reports XiaoShenError as a one-line message with
exit code 2, never a traceback.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Optional

import typer

from assistant.cli_options import ConfigOption, settings_from
from assistant.core.errors import XiaoShenError

app = typer.Typer(
    name="xiaoshen",
    help="Xiao Shen (小申): grounded answers about Shanghai government services.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks: retrieval and generation against baselines in one run; the load test.", no_args_is_help=True)


@app.command()
def serve(
    config: ConfigOption = None,
    host: Annotated[Optional[str], typer.Option(help="bind address (default from settings)")] = None,
    port: Annotated[Optional[int], typer.Option(help="port (default from settings)")] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="worker processes (more than 1 needs PostgreSQL or SQLite, and Redis)")
    ] = 1,
) -> None:
    """Serve the API, the citizen web chat and the staff console.

    With ``--workers N`` uvicorn runs N processes on one port; each builds its own
    services from the same settings (environment and ``--config``) and the current
    index artefact, and they share the database, live updates and rate limits.
    """
    import os

    import uvicorn

    from assistant.api.app import create_app
    from assistant.wiring import check_shared_backends

    settings = settings_from(config)
    check_shared_backends(settings, workers)
    # chat event streams stay open for minutes; do not let them hold up Ctrl+C
    options = dict(
        host=host or settings.server.host,
        port=port or settings.server.port,
        log_level="info",
        timeout_graceful_shutdown=3,
        timeout_keep_alive=settings.server.keep_alive_s,
    )
    if workers == 1:
        uvicorn.run(create_app(settings), **options)  # type: ignore[arg-type]
        return
    if config is not None:
        os.environ["XS_CONFIG"] = str(config.resolve())  # each worker reads the same settings
    uvicorn.run("assistant.api.app:app_from_environment", factory=True, workers=workers, **options)  # type: ignore[arg-type]


@app.command()
def ask(
    question: Annotated[str, typer.Argument(help="the question, e.g. 居住证怎么办理")],
    config: ConfigOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the whole result as JSON")] = False,
) -> None:
    """Ask one question and print the answer, citations, intent, action and timings."""
    from assistant.core.text import detect_lang
    from assistant.wiring import build_assistant

    settings = settings_from(config)
    assistant = build_assistant(settings, progress=True)
    exchange = assistant.ask(question, lang=detect_lang(question))
    result = exchange.result
    if as_json:
        from assistant.api.schemas import TurnOut

        typer.echo(json.dumps(TurnOut.from_exchange(exchange).model_dump(mode="json"), ensure_ascii=False, indent=2))
        return
    typer.echo(result.answer.text)
    typer.echo("")
    for c in result.answer.citations:
        typer.echo(f"[来源] {c.item_name} ({c.item_id}) · {c.field} · 更新于 {c.updated.isoformat()}")
    typer.echo(
        f"intent={result.intent.label} ({result.intent.confidence:.2f})  action={result.answer.action.value}"
        f"  top={', '.join(h.item_id for h in result.hits[:3]) or '-'}"
    )
    typer.echo("timings: " + "  ".join(f"{k}={v:.1f}ms" for k, v in result.timings_ms.items()))


def _register_groups() -> None:
    # Each package owns its own command group; importing them is cheap because
    # their heavy imports happen inside the commands.
    from eval.cli import app as eval_app
    from eval.cli import bench_load
    from intents.cli import app as intents_app
    from knowledge_base.cli import app as kb_app
    from retrieval.cli import bench_retrieval
    from assistant.generators.cli import bench_generation
    from assistant.api.cli import app as accounts_app
    from assistant.api.cli import security_app

    app.add_typer(kb_app, name="kb")
    app.add_typer(accounts_app, name="accounts")
    app.add_typer(security_app, name="security")
    app.add_typer(eval_app, name="eval")
    app.add_typer(intents_app, name="intents")
    bench_app.command("retrieval")(bench_retrieval)
    bench_app.command("generation")(bench_generation)
    bench_app.command("load")(bench_load)
    app.add_typer(bench_app, name="bench")


def main() -> None:
    """Console-script entry point: XiaoShenError becomes one clear line, exit 2."""
    _register_groups()
    try:
        app(standalone_mode=False)
    except XiaoShenError as e:
        typer.echo(f"error: {e}", err=True)
        sys.exit(2)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as e:  # click usage errors and the like
        import click

        if isinstance(e, click.exceptions.ClickException):
            e.show()
            sys.exit(e.exit_code)
        if isinstance(e, click.exceptions.Exit):
            sys.exit(e.exit_code)
        raise
