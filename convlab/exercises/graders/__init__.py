"""One grader per exercise: the cases to run and what a wrong answer means (see ``convlab.exercises.case``)."""
