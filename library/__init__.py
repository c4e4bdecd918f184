"""The neural component library: one folder per component (``library/<kind>/<name>/``), the
loader that validates it (``loader``, ``checks``) and the plan of a sync (``sync``)."""
