"""Background jobs: work too long for a web request (a 100,000-row staff import), queued as a row
and run by the scheduler process's job runner, with progress the web pages can show."""
