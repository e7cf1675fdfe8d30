"""nbgrader configuration: the repository root is the course directory.

`solutions/` is nbgrader's source folder and `assignments/` its release folder;
`submitted/`, `autograded/`, `feedback/` and the gradebook are instructors'
working files and stay out of git.
"""

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor
from nbgrader.preprocessors import (
    AssignLatePenalties,
    CheckCellMetadata,
    GetGrades,
    IgnorePattern,
    LimitOutput,
    SaveAutoGrades,
)

from course_lib.feedback import ClearHiddenTestsFromFeedback
from course_lib.grading_execute import ResilientExecute

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
# nbgrader's own list, with an Execute that restarts a kernel the submission killed instead
# of dropping the whole notebook's grade.
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
