"""Reports: the manager's team page, HR dashboards, the half-year progress report, exports."""
