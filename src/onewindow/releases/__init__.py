"""One release (一次放行): agency releases, the combined release per container, gate-out."""
