"""One inspection (一次查验): decisions, matching, terminal tasks, appointments, results."""
