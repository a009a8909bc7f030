"""Pure scoring core: no database, queue, web framework or model imports.

Everything here takes its inputs (reference, embedder, calibration) as arguments, so the tests run
on real text with a deterministic or real embedder and no services.
"""
