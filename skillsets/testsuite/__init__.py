"""Static analysis of pytest/unittest suites: inventory, duplicate clusters, smells and a plan.

Every module here reads test files with `ast` only: nothing analysed is imported or run.
"""
