"""Stage 2 of the pipeline: checking parsed policies (see ``checker.check``).

``policylang.check_source`` (parse + check of policy text in one call) lives in the loader,
which reads the packs a policy uses: the check stage itself reads nothing.
"""
