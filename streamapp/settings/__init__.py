"""The roles' settings sections, which :mod:`streamapp.config` composes into ``Settings``.

They live apart from the role packages (scoring, monitoring, retrain), which
import :mod:`streamapp.config`: configuration depends on no role, so loading it
never imports a role and the packages form no cycle.
"""
