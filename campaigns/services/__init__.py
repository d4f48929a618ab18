"""Writers of the campaigns app, one module per concept."""
