"""Catalog cross-reference: SIMBAD, NED, VizieR (astroquery, blocking, run in an executor)
and the offline OpenNGC catalog. Heavy imports (astroquery, astropy) happen on first use."""
