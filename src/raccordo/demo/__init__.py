"""The demo organization (``raccordo demo``): content as data files (``data/*.json``), a pure planner
(``domain/``) and a writer that applies the plan through the capability services; ``seed.load_demo``
puts them together."""
