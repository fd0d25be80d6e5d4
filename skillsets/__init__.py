"""Model catalog, skillset generator and the shared runtime that generated skillsets import."""
