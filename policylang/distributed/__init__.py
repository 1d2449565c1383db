"""Scans past one process: Ray Data (``pip install 'policylang[ray]'``), and a Spark recipe in docs/scale.md.

``scan_dataset(ds, ["pii", "secrets"], text_column="text")`` checks a ``ray.data.Dataset``
with a pool of actors, each rebuilding the guard once from a :class:`PolicyBundle` (the
policy sources, word lists and the compiled Hyperscan database, shipped from the driver).
``policylang scan --engine ray`` runs the same actors over a JSONL or Parquet file. Ray is
imported only inside the functions that need it: this package imports without it.
"""

from policylang.distributed.bundle import BundleError, PolicyBundle
from policylang.distributed.ray_data import RayNotInstalled, require_ray, scan_dataset

__all__ = ["scan_dataset", "PolicyBundle", "BundleError", "RayNotInstalled", "require_ray"]
