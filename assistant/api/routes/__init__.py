"""One router per area: chat (citizens), helpdesk (staff), service levels (staff), observability, pages."""
