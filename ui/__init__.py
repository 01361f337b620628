"""Web pages served by the API app: the citizen chat, the staff console and the dashboard.

Plain HTML, CSS and JavaScript with no build step and no CDN (the machines
serving it may have no internet); the pages talk to ``/api/v1``.
"""

from pathlib import Path

UI_DIR = Path(__file__).resolve().parent
