"""One declaration (一次申报): the one-time entry, its split into agency declarations,
staging, filing, receipts and amendments."""
