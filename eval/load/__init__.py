"""The load test: throw-away servers (``servers``), locust users (``locustfile``), the
``xiaoshen bench load`` run and its figures (``bench``), and the live-update bus measurement
(``notify_latency``)."""
