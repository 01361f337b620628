"""Web pages served by the API app: the citizen chat (``/``), the staff console
(``/console``), the dashboard (``/dashboard``), the knowledge operators'
workbench (``/workbench``) and the evaluators' page (``/evaluation``).

Plain HTML, CSS and JavaScript with no build step and no CDN (the machines
serving it may have no internet); the pages talk to ``/api/v1``.  A page of
our own rather than Gradio because the chat must show what Gradio's chatbot
does not do natively: agent replies pushed by the server (server-sent events)
while the bot is silent, the queue position, clarify option buttons,
per-answer thumbs, a 1–5 rating and an elder mode with large text; and it
keeps the browser test simple and stable.  The workbench is no Gradio app
either: mounted behind the app's Content-Security-Policy, Gradio 6.31 hit 10
CSP violations (inline scripts and styles, its base URI) and would need
``'unsafe-inline'`` (README "Workbench").  Every page writes text only, never
markup made from what citizens, staff or authors wrote.
"""

from pathlib import Path

UI_DIR = Path(__file__).resolve().parent
