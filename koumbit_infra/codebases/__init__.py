"""Where the sites' code comes from: the WordPress source and its production mirror."""
