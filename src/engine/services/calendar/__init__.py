"""The calendar: events, recurrence on the wall clock, the scheduler that fires them."""
