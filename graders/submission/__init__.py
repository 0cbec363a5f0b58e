"""Opening a submission: a clean copy of its topic modules, notebooks reduced to definitions, its manifest."""
