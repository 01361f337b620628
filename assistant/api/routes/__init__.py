"""One router per area: chat (citizens), helpdesk (staff), metrics, pages."""
