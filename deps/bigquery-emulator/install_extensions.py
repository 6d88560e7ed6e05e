"""Installs the DuckDB extensions local-bigquery loads from their PyPI wheels into $HOME/.duckdb,
so DuckDB never tries to download them at run time (the machine may have no route to its CDN)."""
import importlib
import pathlib

import duckdb

con = duckdb.connect()
for name in ("ducklake", "icu", "spatial"):
    package = pathlib.Path(importlib.import_module(f"duckdb_extension_{name}").__file__).parent
    (extension,) = package.glob(f"extensions/*/{name}.duckdb_extension")
    con.execute(f"INSTALL '{extension}'")
    con.execute(f"LOAD {name}")
print("duckdb extensions installed")
