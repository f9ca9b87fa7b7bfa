"""meshlab: a five-node SSH lab built from Linux namespaces (test equipment, never product code)."""
