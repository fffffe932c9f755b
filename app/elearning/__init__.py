"""Self-paced e-learning: modules of Markdown pages written in course files, progress per person
(resume where one left off), a closing quiz, and the completion it leads to."""
