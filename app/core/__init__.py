"""What every domain may use, knowing nothing of HTTP or of any domain: the database, the clock,
events, mail, the scheduler's lease, the fiscal calendar (年度, 上期/下期) and business days."""
