"""nbgrader configuration: the repository root is the course directory.

`solutions/` is nbgrader's source folder and `assignments/` its release folder;
`submitted/`, `autograded/`, `feedback/` and the gradebook are instructors'
working files and stay out of git.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    ClearOutput,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    OverwriteCells,
    OverwriteKernelspec,
    SaveAutoGrades,
)

from course_lib.feedback import ClearHiddenTestsFromFeedback
from course_lib.robust_autograde import DropDuplicateIds, ResilientExecute

c = get_config()  # noqa: F821 (provided by nbgrader when it loads this file)

c.CourseDirectory.course_id = "deep-probabilistic-models"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "assignments"
# SQLite by default; several graders at once: a PostgreSQL URL instead.
c.CourseDirectory.db_url = "sqlite:///gradebook.db"

# Released notebooks say exactly what a stub must do: fail loudly.
c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# A cell that runs longer than this is interrupted and scores zero; the notebook goes on.
c.Execute.timeout = 60
c.Execute.interrupt_on_timeout = True
c.Execute.allow_errors = True
c.Execute.raise_on_iopub_timeout = False
# nbgrader's own lists, with course_lib.robust_autograde's replacements: a copied graded cell
# becomes an ordinary cell, and a kernel the submission killed is restarted; in nbgrader both
# drop the whole notebook's grade.
c.Autograde.sanitize_preprocessors = [
    ClearOutput,
    DropDuplicateIds,
    OverwriteKernelspec,
    OverwriteCells,
    CheckCellMetadata,
]
c.Autograde.autograde_preprocessors = [
    ResilientExecute,
    IgnorePattern,
    ClearMetadataPreprocessor,
    LimitOutput,
    SaveAutoGrades,
    AssignLatePenalties,
    CheckCellMetadata,
]

# Autograding never fails on an unknown student: it registers them.
c.Autograde.create_student = True

# Feedback shows what failed and why, never the hidden tests' code.
c.GenerateFeedback.preprocessors = [
    GetGrades,
    ClearHiddenTestsFromFeedback,
    CSSHTMLHeaderPreprocessor,
]
