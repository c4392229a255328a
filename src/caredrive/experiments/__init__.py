"""The essay's experiments as commands: `caredrive experiment NAME` (issue 12).

A study (`spec.Study`) is a grid of `caredrive train` settings x seeds at a budget; `studies.STUDIES` is
the registry; `runner.run_study` trains, evaluates and measures each setting (in-process or as Ray tasks)
and `results` turns the result folder into results.json, a plot and a RESULTS.md section.
"""

from caredrive.experiments.spec import Budget, Comparison, Plan, Setting, Study
from caredrive.experiments.studies import STUDIES, get_study

__all__ = ["STUDIES", "Budget", "Comparison", "Plan", "Setting", "Study", "get_study"]
