"""The web console (SPEC 11): NiceGUI pages for analysts, mounted at `/` by `dat serve`.

Imported only by `dat serve` (NiceGUI and its assets load there, not in the CLI or the API tests).
"""
