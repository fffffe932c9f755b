"""Sessions (研修日程) of a course and their meetings (回): when, where, how many seats."""
